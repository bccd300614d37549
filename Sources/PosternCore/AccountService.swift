import Foundation

/// Settings for account operations.
public struct AccountPolicy: Sendable {
    public var signupOpen = true
    public var appPasswordLimit = 100
    /// Absolute lifetime of API tokens and portal sessions.
    public var sessionLifetime: TimeInterval = 12 * 3600
    public var totpIssuer = "Postern"
    /// A portal session ends after this long without a request.
    public var portalIdleTimeout: TimeInterval = 30 * 60
    /// Sensitive changes need a password (and code) entered this recently.
    public var reauthenticationWindow: TimeInterval = 10 * 60
    /// How long a sign-in waits for its second factor, and how many wrong codes it takes.
    public var secondFactorWindow: TimeInterval = 5 * 60
    public var secondFactorAttempts = 5
    /// How long a password-reset link works.
    public var resetTokenLifetime: TimeInterval = 30 * 60
    /// Whether a password reset revokes every app password.
    public var revokeAppPasswordsOnReset = true
    /// Whether "also revoke all app passwords" starts ticked on a password change.
    public var passwordChangeRevokesByDefault = false

    public init(signupOpen: Bool = true, appPasswordLimit: Int = 100, sessionLifetime: TimeInterval = 12 * 3600, totpIssuer: String = "Postern",
                portalIdleTimeout: TimeInterval = 30 * 60, reauthenticationWindow: TimeInterval = 10 * 60) {
        self.signupOpen = signupOpen
        self.appPasswordLimit = appPasswordLimit
        self.sessionLifetime = sessionLifetime
        self.totpIssuer = totpIssuer
        self.portalIdleTimeout = portalIdleTimeout
        self.reauthenticationWindow = reauthenticationWindow
    }
}

/// The API's answer to a sign-in.
public enum APISignIn: Sendable {
    case signedIn(token: String, session: Session)
    case secondFactorRequired(methods: [SecondFactorMethod], mfaToken: String, webauthn: WebAuthnOptions?)
}

/// Where a sign-in stands after the password was checked.
public enum SignInStep: Sendable {
    case signedIn(token: String, session: Session)
    /// MFA is on: this short-lived token only lets the holder enter a code.
    case secondFactorRequired(token: String, session: Session)
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

/// The stores `AccountService` uses: all but the outbox, which only the
/// delivery service reads (notices reach it through audit events).
public typealias AccountServiceStore = AccountStore & TOTPStore & AppPasswordStore & SessionStore & RevealStore & SecurityKeyStore
    & RecoveryCodeStore & AuditStore & PasswordResetStore & ThrottleStore & DeviceSetupStore

/// Everything a person (through the portal or the API) or an administrator
/// (through the CLI) can do to an account. The rules live here; callers only
/// translate requests and answers.
public struct AccountService: Sendable {
    let store: any AccountServiceStore
    let hasher: any PasswordHasher
    let keys: KeyRing
    let passwordPolicy: PasswordPolicy
    public let policy: AccountPolicy
    let clock: Clock
    /// The service's own time, for pages that say how long ago something was
    /// in the same clock the records were written with.
    public var now: Date { clock.now }
    let totp = TOTPVerifier()
    let webAuthn: WebAuthnSettings
    /// Asked before every account-password and second-factor check.
    public let credentialGuard: CredentialGuard
    /// Composes the owner's notifications; nil sends none.
    let notices: NoticeComposer?
    /// The servers told to end open sessions after a revocation; none by default.
    public let terminationTargets: [TerminationTarget]

    public init(store: any AccountServiceStore, hasher: any PasswordHasher, keys: KeyRing, passwordPolicy: PasswordPolicy,
                policy: AccountPolicy, clock: Clock = .system, webAuthn: WebAuthnSettings = WebAuthnSettings(publicURL: "http://localhost:8080"),
                credentialGuard: CredentialGuard? = nil, notices: NoticeComposer? = nil, terminationTargets: [TerminationTarget] = []) {
        self.credentialGuard = credentialGuard ?? CredentialGuard(store: store, keys: keys)
        self.terminationTargets = terminationTargets
        self.notices = notices
        self.store = store
        self.hasher = hasher
        self.keys = keys
        self.passwordPolicy = passwordPolicy
        self.policy = policy
        self.clock = clock
        self.webAuthn = webAuthn
    }

    // MARK: - Accounts

    /// Creates an account. `byAdministrator` bypasses a closed sign-up.
    public func createAccount(username rawUsername: String, password: String, byAdministrator: Bool = false) async throws -> Account {
        guard byAdministrator || policy.signupOpen else { throw PosternError.signupClosed }
        let username = try Username(rawUsername)
        try passwordPolicy.check(password, username: username.value)
        let now = clock.now
        // "That name is taken" tells whether an account exists, so a source
        // that keeps hearing it is paced like one that keeps guessing.
        if !byAdministrator, let wait = credentialGuard.admitSource(clientIP: RequestOrigin.clientIP, now: now) {
            throw PosternError.throttled(seconds: wait)
        }
        let account = Account(id: Secrets.newIdentifier(), username: username.value,
                              passwordHash: try await hasher.hash(password), createdAt: now)
        do {
            try await store.createAccount(account, audit: AuditEvent(accountID: account.id, kind: .accountCreated, result: .ok,
                                                                      reason: byAdministrator ? "admin" : "signup", at: now))
        } catch StoreError.conflict {
            if !byAdministrator { credentialGuard.sourceFailed(clientIP: RequestOrigin.clientIP, now: now) }
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

    /// Changes the password; ends every other session, and with
    /// `revokeAppPasswords` also revokes every app password.
    public func changePassword(account: Account, current: String, new: String, keepingSession: Data?,
                               revokeAppPasswords: Bool = false) async throws {
        guard try await verifyAccountPassword(current, account: account, door: .passwordChange) else { throw PosternError.invalidCredentials }
        try passwordPolicy.check(new, username: account.username)
        let hash = try await hasher.hash(new)
        var event = changeEvent(.passwordChanged, account, .passwordChanged)
        // Links asked for under the old password die with it, in its transaction.
        event.cancelsDeviceSetups = true
        guard try await store.replacePasswordHash(accountID: account.id, expected: account.passwordHash, new: hash, audit: event) else {
            // Changed concurrently: make the caller start again with fresh state.
            throw PosternError.invalidCredentials
        }
        _ = try await store.deleteSessions(accountID: account.id, keeping: keepingSession)
        if revokeAppPasswords { try await revokeAllAppPasswords(account: account) }
    }

    /// An audit event for a change the owner made, carrying its notification
    /// and the address the request came from (`RequestOrigin`).
    func changeEvent(_ kind: AuditEvent.Kind, _ account: Account, _ change: NoticeComposer.Change, reason: String? = nil,
                     appPasswordID: String? = nil) -> AuditEvent {
        let now = clock.now
        var event = AuditEvent(accountID: account.id, kind: kind, result: .ok, reason: reason, appPasswordID: appPasswordID,
                               clientIP: RequestOrigin.clientIP, at: now)
        if let notice = notices?.change(change, recipient: account.username, clientIP: RequestOrigin.clientIP, at: now) {
            event.notices = [notice]
        }
        return event
    }
}
