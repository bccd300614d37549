import Foundation

extension AccountService {
    // MARK: - Device-setup links

    /// How many links an account may have waiting at once. Each is cheap,
    /// but each is a live way to mint a password; a handful covers a person
    /// setting up a few devices in one sitting.
    public static let deviceSetupLiveLimit = 5
    /// How long a link works: long enough to pick up the phone and open it.
    public static let deviceSetupLifetime: TimeInterval = 10 * 60
    /// How many links the list shows.
    public static let deviceSetupListLimit = 50

    /// Makes a one-time link that, when opened, creates an app password
    /// named `name` with `protocols` (nil or empty: the kind's defaults) and
    /// delivers it in an Apple configuration profile. The token goes into the
    /// URL and is returned only here; the store keeps its keyed digest.
    ///
    /// Needs what creating an app password needs: `session` proved its user
    /// within the re-authentication window (`reauthenticationRequired`
    /// otherwise). Only `apple` gets a link (`invalidRequest` for the
    /// others, whose clients take an app password typed in), and its scope
    /// must hold imap and smtp (`invalidProtocols`). Past
    /// `deviceSetupLiveLimit` waiting links it throws `deviceSetupLimit`.
    /// The requester's address (`RequestOrigin`) is kept and shown in the
    /// notice when the link is used.
    public func createDeviceSetup(account: Account, session: Session, kind: DeviceSetup.Kind, name rawName: String,
                                  protocols: [String]?) async throws -> IssuedDeviceSetup {
        guard session.accountID == account.id, !needsReauthentication(session) else { throw PosternError.reauthenticationRequired }
        guard kind == .apple else {
            throw PosternError.invalidRequest(
                "Setup links deliver an Apple configuration profile. For Thunderbird, Outlook and other clients, create an app password instead.")
        }
        let name = try AppPasswordFormat.validName(rawName)
        let scope = protocols?.isEmpty == false ? try AppPasswordFormat.scope(protocols) : kind.defaultProtocols
        // The profile sets up one mail account: without both it cannot work.
        guard scope.isSuperset(of: [.imap, .smtp]) else {
            throw PosternError.invalidProtocols("A setup link sets up Mail, which needs imap and smtp; add others if you like.")
        }
        let now = clock.now
        for _ in 0..<3 {
            let token = DeviceSetupToken.generate()
            let setup = DeviceSetup(id: Secrets.newIdentifier(), accountID: account.id, kind: kind, name: name, protocols: scope,
                                    tokenDigest: DeviceSetupToken.digest(token, keys: keys), createdAt: now,
                                    expiresAt: now.addingTimeInterval(Self.deviceSetupLifetime), createdFrom: RequestOrigin.clientIP)
            do {
                try await store.createDeviceSetup(setup, liveLimit: Self.deviceSetupLiveLimit, now: now)
                return IssuedDeviceSetup(setup: setup, token: token)
            } catch StoreError.conflict(let what) where what == "token_digest" {
                continue  // 2⁻²⁵⁶; drawn again rather than failed
            }
        }
        throw StoreError.unavailable("could not draw a unique setup token")
    }

    /// Opens a link: in one store transaction, marks it used and creates its
    /// app password with the "new app password" notice, which names both the
    /// address that opened the link (`clientIP`) and the one that asked for
    /// it. The password is made now, never before, and returned only here.
    ///
    /// Throws `invalidRequest` for a token of the wrong shape (before any
    /// lookup), `deviceSetupGone` for an unknown, used, cancelled or expired
    /// link or a disabled account, and `appPasswordLimit` when the account
    /// has no room (the link stays unused). Of two concurrent opens exactly
    /// one gets the password; the other gets `deviceSetupGone`.
    public func redeemDeviceSetup(token: String, clientIP: String?) async throws -> RedeemedDeviceSetup {
        guard DeviceSetupToken.isWellFormed(token) else { throw PosternError.invalidRequest("That is not a setup link.") }
        let digest = DeviceSetupToken.digest(token, keys: keys)
        guard let setup = try await store.deviceSetup(tokenDigest: digest), setup.state(at: clock.now) == .pending,
              let account = try await store.account(id: setup.accountID), !account.disabled
        else { throw PosternError.deviceSetupGone }
        // A name taken between the read and the write (or a digest collision)
        // rolls the whole transaction back, link included: choose again.
        for _ in 0..<4 {
            let now = clock.now
            let taken = Set(try await store.listAppPasswords(accountID: account.id).map(\.name))
            let name = Self.freeName(setup.name, taken: taken)
            let password = AppPasswordFormat.generate()
            let record = AppPasswordRecord(id: Secrets.newIdentifier(), accountID: account.id, name: name,
                                           digest: AppPasswordFormat.digest(normalised: password, accountID: account.id, keys: keys),
                                           protocols: setup.protocols, createdAt: now, expiresAt: nil)
            var event = AuditEvent(accountID: account.id, kind: .appPasswordCreated, result: .ok, reason: name, appPasswordID: record.id,
                                   clientIP: clientIP, at: now)
            if let notice = notices?.change(.appPasswordCreatedByLink(name: name, askedFrom: setup.createdFrom), recipient: account.username,
                                            clientIP: clientIP, at: now) {
                event.notices = [notice]
            }
            do {
                guard let used = try await store.redeemDeviceSetup(tokenDigest: digest, now: now, clientIP: clientIP, appPassword: record,
                                                                   limit: policy.appPasswordLimit, audit: event)
                else { throw PosternError.deviceSetupGone }
                return RedeemedDeviceSetup(appPassword: IssuedAppPassword(record: record, password: password), setup: used, account: account)
            } catch StoreError.conflict {
                continue
            }
        }
        throw StoreError.unavailable("could not choose a free app-password name")
    }

    /// The account's links that are waiting or were used, newest first, each
    /// with its state now (a cancelled or expired link that made nothing is
    /// left out).
    public func listDeviceSetups(account: Account) async throws -> [ListedDeviceSetup] {
        let now = clock.now
        return try await store.deviceSetups(accountID: account.id, limit: Self.deviceSetupListLimit)
            .map { ListedDeviceSetup(setup: $0, state: $0.state(at: now)) }
            .filter { [.pending, .used].contains($0.state) }
    }

    /// Cancels a waiting link. Throws `notFound` when it is not the
    /// account's, or is already used or cancelled.
    public func cancelDeviceSetup(account: Account, id: String) async throws {
        guard id.utf8.count <= 64, try await store.cancelDeviceSetup(accountID: account.id, id: id, at: clock.now) else {
            throw PosternError.notFound
        }
    }

    /// `name`, or the first of `name (2)`, `name (3)`… that no active app
    /// password has, cut so it stays within the name limit.
    static func freeName(_ name: String, taken: Set<String>) -> String {
        if !taken.contains(name) { return name }
        for number in 2... {
            let suffix = " (\(number))"
            let candidate = String(name.prefix(AppPasswordFormat.maximumNameLength - suffix.count)) + suffix
            if !taken.contains(candidate) { return candidate }
        }
        return name
    }
}
