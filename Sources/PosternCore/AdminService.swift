import Foundation

/// Who makes an administrator's change: an administrator's account (the
/// console or the admin API) or the command line on the server.
public struct AdminActor: Sendable, Equatable {
    public var adminID: String?
    public var username: String
    public var clientIP: String?

    public init(adminID: String?, username: String, clientIP: String?) {
        self.adminID = adminID
        self.username = username
        self.clientIP = clientIP
    }

    public init(_ admin: Account, clientIP: String?) {
        self.init(adminID: admin.id, username: admin.username, clientIP: clientIP)
    }

    public static let commandLine = AdminActor(adminID: nil, username: AdminLogEntry.commandLine, clientIP: nil)
}

extension AccountService {
    /// The audit event of a change an administrator made to `account`: shown
    /// to the owner as "by an administrator", mailed to the owner, and
    /// written with its admin-log line in the change's transaction.
    func adminEvent(_ kind: AuditEvent.Kind, _ action: AdminAction, _ account: Account, by actor: AdminActor, detail: String? = nil,
                    reason: String? = nil, appPasswordID: String? = nil, notify: Bool = true) -> AuditEvent {
        let now = clock.now
        var event = AuditEvent(accountID: account.id, kind: kind, result: .ok, reason: reason, appPasswordID: appPasswordID, at: now)
        event.byAdministrator = true
        event.adminLog = AdminLogEntry(at: now, adminID: actor.adminID, adminUsername: actor.username, action: action, targetID: account.id,
                                       targetUsername: account.username, detail: detail, clientIP: actor.clientIP)
        if notify, let notice = notices?.administrator(action, detail: detail, recipient: account.username, at: now) {
            event.notices = [notice]
        }
        return event
    }

    /// Disables or enables an account. Disabling ends its sessions, here and
    /// on the mail and chat servers.
    func setDisabled(username: String, _ disabled: Bool, by actor: AdminActor) async throws {
        let account = try await account(username: username)
        var event = adminEvent(disabled ? .accountDisabled : .accountEnabled, disabled ? .disable : .enable, account, by: actor)
        if disabled {
            event.terminations = endSessions(.accountDisabled, account, key: event.id)
            // A disabled account's waiting links die in the same transaction.
            event.cancelsDeviceSetups = true
        }
        guard try await store.setDisabled(accountID: account.id, disabled, audit: event) else { throw PosternError.notFound }
        if disabled { _ = try await store.deleteSessions(accountID: account.id, keeping: nil) }
    }

    /// Removes every second factor (authenticator app, security keys) and the
    /// recovery codes, for a user who lost them.
    func resetMFA(username: String, by actor: AdminActor) async throws {
        let account = try await account(username: username)
        func step(_ what: String) -> AuditEvent {
            var event = AuditEvent(accountID: account.id, kind: .mfaReset, result: .ok, reason: "admin: \(what)", at: clock.now)
            event.byAdministrator = true
            return event
        }
        _ = try await store.deleteTOTP(accountID: account.id, audit: step("authenticator app"))
        for key in try await store.securityKeys(accountID: account.id) {
            _ = try await store.removeSecurityKey(credentialID: key.credentialID, accountID: account.id, audit: step("security key \(key.name)"))
        }
        // One notice and one admin-log line for the whole reset, with the last step.
        var last = adminEvent(.mfaReset, .resetMFA, account, by: actor, reason: "admin: recovery codes")
        last.terminations = endSessions(.mfaReset, account, key: last.id)
        // The reset's last step cancels waiting setup links in its transaction.
        last.cancelsDeviceSetups = true
        try await store.replaceRecoveryCodes(accountID: account.id, codes: [], audit: last)
    }
}

/// The operator's console: every rule about who may see and change what.
/// An administrator must have a second factor to see anything, and must have
/// proved it recently (the re-authentication window) for every change.
/// Nothing here returns a secret.
public struct AdminService: Sendable {
    public let accounts: AccountService
    let store: any AdminStore

    public init(accounts: AccountService, store: any AdminStore) {
        self.accounts = accounts
        self.store = store
    }

    var clock: Clock { accounts.clock }

    // MARK: - Who may

    /// Throws `forbidden` for anyone but an administrator, and
    /// `mfaSetupRequired` for an administrator without a second factor.
    public func authorize(_ viewer: Account) throws {
        guard viewer.isAdmin, !viewer.disabled else { throw PosternError.forbidden }
        guard viewer.mfaEnabled else { throw PosternError.mfaSetupRequired }
    }

    /// `authorize`, and a sign-in (or re-authentication) within the window.
    public func authorizeChange(_ viewer: Account, session: Session) throws {
        try authorize(viewer)
        guard !accounts.needsReauthentication(session) else { throw PosternError.reauthenticationRequired }
    }

    // MARK: - Reading

    /// The rollout overview; `days` is 7 or 30.
    public func overview(days: Int) async throws -> AdminOverview {
        guard days == 7 || days == 30 else { throw PosternError.invalidRequest("days must be 7 or 30.") }
        let now = clock.now
        var overview = try await store.adminOverview(now: now, days: days)
        overview.slowedSources = accounts.credentialGuard.throttle.slowedSources(now: now)
        return overview
    }

    public static let pageSize = 50

    /// A page of users whose name contains `query`, and the cursor of the next page.
    public func users(query: String?, after: String?, limit: Int = pageSize) async throws -> (users: [AdminUserSummary], next: String?) {
        let query = query?.trimmingCharacters(in: .whitespaces)
        if let query, query.utf8.count > Username.maximumLength { throw PosternError.invalidRequest("query is longer than an address can be.") }
        for text in [query, after].compactMap({ $0 }) where text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw PosternError.invalidRequest("query and cursor cannot hold control characters.")
        }
        let page = max(1, min(limit, 200))
        let users = try await store.adminUsers(matching: query?.lowercased(), after: after, limit: page)
        return (users, users.count == page ? users.last?.username : nil)
    }

    /// One account: its factors by kind and name, app passwords, activity.
    public func user(username: String) async throws -> AdminUserDetail {
        let account = try await accounts.account(username: username)
        guard let summary = try await store.adminUser(id: account.id) else { throw PosternError.notFound }
        let keys = try await accounts.store.securityKeys(accountID: account.id)
        let totp = try await accounts.store.totpFactor(accountID: account.id)
        let codes = try await accounts.store.unusedRecoveryCodes(accountID: account.id)
        let apps = try await accounts.store.listAppPasswords(accountID: account.id)
        let activity = try await accounts.activity(account: account, before: nil, categories: nil, limit: 50).entries
        return AdminUserDetail(summary: summary, hasTOTP: totp?.confirmedAt != nil, securityKeys: keys.map(\.name),
                               unusedRecoveryCodes: codes.count, appPasswords: apps, activity: activity)
    }

    /// A page of the admin log, newest first, and the cursor of the next page.
    public func log(before: AuditCursor?, limit: Int = 100) async throws -> (entries: [AdminLogEntry], next: AuditCursor?) {
        let page = max(1, min(limit, 1000))
        let entries = try await store.adminLog(before: before, limit: page)
        return (entries, entries.count == page ? entries.last.map { AuditCursor(at: $0.at, id: $0.id) } : nil)
    }

    // MARK: - Changing

    /// Does `action` to `username`'s account. `appPasswordID` names the app
    /// password for `revokeAppPassword`. An administrator cannot disable,
    /// reset the factors of, demote or sign out their own account here (the
    /// console is for other accounts; the owner's pages do these).
    public func perform(_ action: AdminAction, on username: String, appPasswordID: String? = nil, by actor: AdminActor) async throws {
        let account = try await accounts.account(username: username)
        if account.id == actor.adminID, [.disable, .resetMFA, .revokeAdmin, .endSessions].contains(action) {
            throw PosternError.invalidRequest("You cannot \(action.phrase) of your own account here; ask another administrator.")
        }
        switch action {
        case .disable, .enable: try await accounts.setDisabled(username: username, action == .disable, by: actor)
        case .resetMFA:
            try await accounts.resetMFA(username: username, by: actor)
            // An administrator without a factor could be claimed by whoever
            // sets one up first: the role goes with the factors.
            if account.isAdmin { try await setAdmin(account, false, by: actor) }
        case .revokeAppPassword: try await revokeAppPassword(account, id: appPasswordID, by: actor)
        case .revokeAppPasswords:
            var event = accounts.adminEvent(.appPasswordRevoked, .revokeAppPasswords, account, by: actor, reason: "all")
            event.terminations = accounts.endSessions(.allAppPasswordsRevoked, account, key: event.id)
            event.cancelsDeviceSetups = true
            _ = try await accounts.store.revokeAllAppPasswords(accountID: account.id, at: clock.now, audit: event)
        case .endSessions:
            // Signing out everywhere also cancels waiting setup links, in the same transaction.
            var event = accounts.adminEvent(.sessionsRevoked, .endSessions, account, by: actor)
            event.cancelsDeviceSetups = true
            _ = try await store.endSessions(accountID: account.id, audit: event)
        case .sendReset: try await sendReset(account, by: actor)
        case .grantAdmin, .revokeAdmin: try await setAdmin(account, action == .grantAdmin, by: actor)
        }
    }

    private func revokeAppPassword(_ account: Account, id: String?, by actor: AdminActor) async throws {
        guard let id, let record = try await accounts.store.listAppPasswords(accountID: account.id).first(where: { $0.id == id }) else {
            throw PosternError.notFound
        }
        var event = accounts.adminEvent(.appPasswordRevoked, .revokeAppPassword, account, by: actor, detail: record.name,
                                        reason: record.name, appPasswordID: id)
        event.terminations = accounts.endSessions(.appPasswordRevoked, account, revoked: record, key: id)
        guard try await accounts.store.revokeAppPassword(accountID: account.id, id: id, at: clock.now, audit: event) else {
            throw PosternError.notFound
        }
    }

    /// Sends the owner a reset link, saying an administrator sent it (at most
    /// one live link; none while one sent in the last 10 minutes is open).
    /// The administrator never sees the link.
    private func sendReset(_ account: Account, by actor: AdminActor) async throws {
        guard !account.disabled else { throw PosternError.invalidRequest("The account is disabled; enable it before sending a reset.") }
        var event = accounts.adminEvent(.passwordResetRequested, .sendReset, account, by: actor, notify: false)
        let sent = try await accounts.savePasswordReset(account, event: &event)
        if !sent { throw PosternError.invalidRequest("A reset link was sent less than 10 minutes ago and is still open.") }
    }

    /// Grants or removes the role. Only an account with a second factor may
    /// become an administrator: whoever first sets up a factor on a
    /// factor-less administrator would own the console, so the role comes
    /// after the factor, never before it.
    private func setAdmin(_ account: Account, _ admin: Bool, by actor: AdminActor) async throws {
        if admin, !account.mfaEnabled {
            throw PosternError.invalidRequest("\(account.username) has no second factor. The console needs one: have them set up an authenticator app or a security key first, then grant the role.")
        }
        let event = accounts.adminEvent(admin ? .adminGranted : .adminRevoked, admin ? .grantAdmin : .revokeAdmin, account, by: actor)
        guard try await store.setAdmin(accountID: account.id, admin, audit: event) else { throw PosternError.notFound }
    }
}
