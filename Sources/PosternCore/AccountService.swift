import Foundation

/// Settings for account operations.
public struct AccountPolicy: Sendable {
    public var signupOpen = true
    public var appPasswordLimit = 100
    public var sessionLifetime: TimeInterval = 12 * 3600
    public var totpIssuer = "Postern"

    public init(signupOpen: Bool = true, appPasswordLimit: Int = 100, sessionLifetime: TimeInterval = 12 * 3600, totpIssuer: String = "Postern") {
        self.signupOpen = signupOpen
        self.appPasswordLimit = appPasswordLimit
        self.sessionLifetime = sessionLifetime
        self.totpIssuer = totpIssuer
    }
}

/// A new app password, as returned once to its owner.
public struct IssuedAppPassword: Sendable {
    public var record: AppPasswordRecord
    /// The password itself: shown once, never stored.
    public var password: String
}

/// A TOTP enrolment waiting for its first code.
public struct TOTPEnrolment: Sendable {
    public var secretBase32: String
    public var otpauthURI: String
}

/// Everything a person (through the portal or the API) or an administrator
/// (through the CLI) can do to an account. The rules live here; callers only
/// translate requests and answers.
public struct AccountService: Sendable {
    let store: any PosternStore
    let hasher: any PasswordHasher
    let keys: KeyRing
    let passwordPolicy: PasswordPolicy
    public let policy: AccountPolicy
    let clock: Clock
    let totp = TOTPVerifier()

    public init(store: any PosternStore, hasher: any PasswordHasher, keys: KeyRing, passwordPolicy: PasswordPolicy,
                policy: AccountPolicy, clock: Clock = .system) {
        self.store = store
        self.hasher = hasher
        self.keys = keys
        self.passwordPolicy = passwordPolicy
        self.policy = policy
        self.clock = clock
    }

    // MARK: - Accounts

    /// Creates an account. `byAdministrator` bypasses a closed sign-up.
    public func createAccount(username rawUsername: String, password: String, byAdministrator: Bool = false) async throws -> Account {
        guard byAdministrator || policy.signupOpen else { throw PosternError.signupClosed }
        let username = try Username(rawUsername)
        try passwordPolicy.check(password, username: username.value)
        let now = clock.now
        let account = Account(id: Secrets.newIdentifier(), username: username.value,
                              passwordHash: try await hasher.hash(password), createdAt: now)
        do {
            try await store.createAccount(account, audit: AuditEvent(accountID: account.id, kind: .accountCreated, result: "ok",
                                                                      reason: byAdministrator ? "admin" : "signup", at: now))
        } catch StoreError.conflict {
            throw PosternError.usernameTaken
        }
        return account
    }

    public func account(username rawUsername: String) async throws -> Account {
        guard let canonical = Username.canonical(rawUsername), let account = try await store.account(username: canonical) else {
            throw PosternError.notFound
        }
        return account
    }

    public func listAccounts() async throws -> [Account] {
        try await store.listAccounts()
    }

    public func setDisabled(username: String, _ disabled: Bool) async throws {
        let account = try await account(username: username)
        let event = AuditEvent(accountID: account.id, kind: disabled ? .accountDisabled : .accountEnabled, result: "ok", reason: "admin", at: clock.now)
        guard try await store.setDisabled(accountID: account.id, disabled, audit: event) else { throw PosternError.notFound }
        if disabled { _ = try await store.deleteSessions(accountID: account.id, keeping: nil) }
    }

    /// Removes every second factor, for a user who lost theirs. Administrators only.
    public func resetMFA(username: String) async throws {
        let account = try await account(username: username)
        _ = try await store.deleteTOTP(accountID: account.id, audit: AuditEvent(accountID: account.id, kind: .mfaReset, result: "ok",
                                                                                 reason: "admin", at: clock.now))
    }

    public func changePassword(account: Account, current: String, new: String, keepingSession: Data?) async throws {
        guard try await hasher.verify(current, against: account.passwordHash) else { throw PosternError.invalidCredentials }
        try passwordPolicy.check(new, username: account.username)
        let hash = try await hasher.hash(new)
        let event = AuditEvent(accountID: account.id, kind: .passwordChanged, result: "ok", at: clock.now)
        guard try await store.replacePasswordHash(accountID: account.id, expected: account.passwordHash, new: hash, audit: event) else {
            // Changed concurrently: make the caller start again with fresh state.
            throw PosternError.invalidCredentials
        }
        _ = try await store.deleteSessions(accountID: account.id, keeping: keepingSession)
    }

    // MARK: - Sessions

    /// Signs in with the account password, plus a TOTP code when MFA is on.
    /// Unknown user, wrong password and disabled account all throw
    /// `invalidCredentials` after the same amount of work. App passwords never
    /// sign in here: only the account password is checked.
    public func signIn(username rawUsername: String, password: String, otp: String?, clientIP: String?) async throws -> (token: String, session: Session) {
        let now = clock.now
        let account = try await Username.canonical(rawUsername).asyncMap { try await store.account(username: $0) } ?? nil
        let matched: Bool
        if let account, password.utf8.count <= ProtocolAuthenticator.maximumPasswordBytes {
            matched = try await hasher.verify(password, against: account.passwordHash)
        } else {
            _ = try await hasher.verify(String(password.prefix(ProtocolAuthenticator.maximumPasswordBytes)), against: hasher.dummyHash)
            matched = false
        }
        guard let account, matched, !account.disabled else {
            if let account {
                try? await store.recordLogins(lastUses: [], events: [AuditEvent(accountID: account.id, kind: .signIn, result: "deny",
                                                                              reason: "invalid_credentials", clientIP: clientIP, at: now)])
            }
            throw PosternError.invalidCredentials
        }
        if account.mfaEnabled {
            guard let otp, !otp.isEmpty, try await consumeTOTP(account: account, code: otp) else {
                try? await store.recordLogins(lastUses: [], events: [AuditEvent(accountID: account.id, kind: .signIn, result: "deny",
                                                                              reason: otp == nil ? "otp_required" : "invalid_otp", clientIP: clientIP, at: now)])
                throw PosternError.otpRequired
            }
        }
        if hasher.needsRehash(account.passwordHash) {
            let upgraded = try await hasher.hash(password)
            _ = try await store.replacePasswordHash(accountID: account.id, expected: account.passwordHash, new: upgraded, audit: nil)
        }
        let token = Secrets.newToken()
        let session = Session(tokenDigest: Secrets.tokenDigest(token), accountID: account.id, createdAt: now,
                              expiresAt: now.addingTimeInterval(policy.sessionLifetime), authenticatedAt: now)
        try await store.createSession(session, audit: AuditEvent(accountID: account.id, kind: .signIn, result: "allow",
                                                                 reason: account.mfaEnabled ? "password+totp" : "password", clientIP: clientIP, at: now))
        return (token, session)
    }

    /// The session and its account for a bearer token, or nil when the token is
    /// unknown, expired, or its account is disabled.
    public func resolveSession(token: String) async throws -> (Session, Account)? {
        guard token.utf8.count <= 128 else { return nil }
        guard let session = try await store.session(tokenDigest: Secrets.tokenDigest(token), now: clock.now),
              let account = try await store.account(id: session.accountID), !account.disabled
        else { return nil }
        return (session, account)
    }

    public func signOut(session: Session) async throws {
        try await store.deleteSession(tokenDigest: session.tokenDigest,
                                      audit: AuditEvent(accountID: session.accountID, kind: .signOut, result: "ok", at: clock.now))
    }

    // MARK: - Authenticator app (TOTP)

    /// Starts an enrolment: a new 160-bit secret that becomes active only once
    /// `confirmTOTP` sees a code from it.
    public func beginTOTP(account: Account) async throws -> TOTPEnrolment {
        let secret = Secrets.randomBytes(20)
        let factor = TOTPFactor(accountID: account.id, sealedSecret: try keys.seal(secret, accountID: account.id), createdAt: clock.now)
        guard try await store.savePendingTOTP(factor) else { throw PosternError.totpAlreadyEnabled }
        return TOTPEnrolment(secretBase32: Base32.encode(secret),
                             otpauthURI: OTPAuthURI.make(secret: secret, account: account.username, issuer: policy.totpIssuer))
    }

    public func confirmTOTP(account: Account, code: String) async throws {
        guard let factor = try await store.totpFactor(accountID: account.id) else { throw PosternError.totpNotPending }
        guard factor.confirmedAt == nil else { throw PosternError.totpAlreadyEnabled }
        let secret = try keys.open(factor.sealedSecret, accountID: account.id)
        let now = clock.now
        guard let step = totp.matchingStep(code: code, key: secret, at: now, after: nil) else { throw PosternError.invalidCode }
        guard try await store.confirmTOTP(accountID: account.id, step: step, at: now,
                                          audit: AuditEvent(accountID: account.id, kind: .totpEnabled, result: "ok", at: now))
        else { throw PosternError.totpNotPending }
    }

    /// Turns the authenticator app off. Needs the account password and a current code.
    public func disableTOTP(account: Account, password: String, code: String) async throws {
        guard try await hasher.verify(password, against: account.passwordHash) else { throw PosternError.invalidCredentials }
        guard let factor = try await store.totpFactor(accountID: account.id), factor.confirmedAt != nil else {
            throw PosternError.totpNotEnabled
        }
        guard try await consumeTOTP(account: account, code: code) else { throw PosternError.invalidCode }
        _ = try await store.deleteTOTP(accountID: account.id, audit: AuditEvent(accountID: account.id, kind: .totpDisabled, result: "ok", at: clock.now))
    }

    /// Checks a code against the confirmed factor and burns its time step in
    /// the store, so the same code never works twice.
    func consumeTOTP(account: Account, code: String) async throws -> Bool {
        guard let factor = try await store.totpFactor(accountID: account.id), factor.confirmedAt != nil else { return false }
        let secret = try keys.open(factor.sealedSecret, accountID: account.id)
        guard let step = totp.matchingStep(code: code, key: secret, at: clock.now, after: factor.lastStep) else { return false }
        return try await store.consumeTOTPStep(accountID: account.id, step: step)
    }

    // MARK: - App passwords

    public func createAppPassword(account: Account, name rawName: String, protocols: [String]?, expiresAt: Date?) async throws -> IssuedAppPassword {
        let name = try AppPasswordFormat.validName(rawName)
        let scope = try AppPasswordFormat.scope(protocols)
        let now = clock.now
        if let expiresAt, expiresAt <= now { throw PosternError.invalidExpiry }
        // A digest collision is astronomically unlikely, but the unique index
        // would catch it: draw again rather than fail.
        for _ in 0..<3 {
            let password = AppPasswordFormat.generate()
            let record = AppPasswordRecord(id: Secrets.newIdentifier(), accountID: account.id, name: name,
                                           digest: AppPasswordFormat.digest(normalised: password, accountID: account.id, keys: keys),
                                           protocols: scope, createdAt: now, expiresAt: expiresAt)
            do {
                try await store.createAppPassword(record, limit: policy.appPasswordLimit,
                                                  audit: AuditEvent(accountID: account.id, kind: .appPasswordCreated, result: "ok",
                                                                    reason: name, appPasswordID: record.id, at: now))
                return IssuedAppPassword(record: record, password: password)
            } catch StoreError.conflict(let what) where what == "digest" {
                continue
            } catch StoreError.conflict {
                throw PosternError.appPasswordNameTaken
            }
        }
        throw StoreError.unavailable("could not draw a unique app password")
    }

    public func listAppPasswords(account: Account) async throws -> [AppPasswordRecord] {
        try await store.listAppPasswords(accountID: account.id)
    }

    public func revokeAppPassword(account: Account, id: String) async throws {
        let now = clock.now
        guard try await store.revokeAppPassword(accountID: account.id, id: id, at: now,
                                                audit: AuditEvent(accountID: account.id, kind: .appPasswordRevoked, result: "ok",
                                                                  appPasswordID: id, at: now))
        else { throw PosternError.notFound }
    }

    @discardableResult
    public func revokeAllAppPasswords(account: Account) async throws -> Int {
        let now = clock.now
        return try await store.revokeAllAppPasswords(accountID: account.id, at: now,
                                                     audit: AuditEvent(accountID: account.id, kind: .appPasswordRevoked, result: "ok",
                                                                       reason: "all", at: now))
    }

    public func activity(account: Account, limit: Int = 100) async throws -> [AuditEvent] {
        try await store.auditEvents(accountID: account.id, limit: limit)
    }
}
