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
    case secondFactorRequired(methods: [String], mfaToken: String, webauthn: WebAuthnOptions?)
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
    & RecoveryCodeStore & AuditStore & PasswordResetStore & ThrottleStore

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
            try await store.createAccount(account, audit: AuditEvent(accountID: account.id, kind: .accountCreated, result: "ok",
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

    public func setDisabled(username: String, _ disabled: Bool) async throws {
        let account = try await account(username: username)
        var event = AuditEvent(accountID: account.id, kind: disabled ? .accountDisabled : .accountEnabled, result: "ok", reason: "admin", at: clock.now)
        if disabled { event.terminations = endSessions(.accountDisabled, account, key: event.id) }
        guard try await store.setDisabled(accountID: account.id, disabled, audit: event) else { throw PosternError.notFound }
        if disabled { _ = try await store.deleteSessions(accountID: account.id, keeping: nil) }
    }

    /// Removes every second factor (authenticator app, security keys) and the
    /// recovery codes, for a user who lost them. Administrators only.
    public func resetMFA(username: String) async throws {
        let account = try await account(username: username)
        let now = clock.now
        func event(_ reason: String) -> AuditEvent { AuditEvent(accountID: account.id, kind: .mfaReset, result: "ok", reason: reason, at: now) }
        _ = try await store.deleteTOTP(accountID: account.id, audit: event("admin: authenticator app"))
        for key in try await store.securityKeys(accountID: account.id) {
            _ = try await store.removeSecurityKey(credentialID: key.credentialID, accountID: account.id, audit: event("admin: security key \(key.name)"))
        }
        // One notice for the whole reset, with the last step.
        var last = event("admin: recovery codes")
        if let notice = notices?.change(.mfaResetByAdministrator, recipient: account.username, clientIP: nil, at: now) { last.notices = [notice] }
        last.terminations = endSessions(.mfaReset, account, key: last.id)
        try await store.replaceRecoveryCodes(accountID: account.id, codes: [], audit: last)
    }

    /// Changes the password; ends every other session, and with
    /// `revokeAppPasswords` also revokes every app password.
    public func changePassword(account: Account, current: String, new: String, keepingSession: Data?,
                               revokeAppPasswords: Bool = false) async throws {
        guard try await verifyAccountPassword(current, account: account, door: .passwordChange) else { throw PosternError.invalidCredentials }
        try passwordPolicy.check(new, username: account.username)
        let hash = try await hasher.hash(new)
        let event = changeEvent(.passwordChanged, account, .passwordChanged)
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
        var event = AuditEvent(accountID: account.id, kind: kind, result: "ok", reason: reason, appPasswordID: appPasswordID,
                               clientIP: RequestOrigin.clientIP, at: now)
        if let notice = notices?.change(change, recipient: account.username, clientIP: RequestOrigin.clientIP, at: now) {
            event.notices = [notice]
        }
        return event
    }

    // MARK: - Sessions

    /// Checks the account password for a sign-in. Unknown user, wrong
    /// password and disabled account all throw `invalidCredentials` after the
    /// same amount of work (or `throttled`, alike for all three). App
    /// passwords never sign in here: only the account password is checked.
    func checkPassword(username rawUsername: String, password: String, clientIP: String?) async throws -> Account {
        let account = try await Username.canonical(rawUsername).asyncMap { try await store.account(username: $0) } ?? nil
        guard try await verifyAccountPassword(password, username: rawUsername, account: account, door: .signIn, clientIP: clientIP),
              let account else { throw PosternError.invalidCredentials }
        if hasher.needsRehash(account.passwordHash) {
            let upgraded = try await hasher.hash(password)
            _ = try await store.replacePasswordHash(accountID: account.id, expected: account.passwordHash, new: upgraded, audit: nil)
        }
        return account
    }

    /// Checks an account password at a door other than a protocol login
    /// (sign-in, re-authentication, password change, turning the
    /// authenticator off). The guard is asked first: a paced source or a name
    /// over its cap is refused with `throttled` before the hash runs, for a
    /// name that exists or not alike. A failure is counted for the source and
    /// the name and recorded in the account's activity; past the source's
    /// free allowance it throws `throttled` with when to come back.
    func verifyAccountPassword(_ password: String, username: String? = nil, account: Account?, door: CredentialDoor,
                               clientIP: String? = RequestOrigin.clientIP) async throws -> Bool {
        let now = clock.now
        let name = credentialGuard.name(for: username ?? account?.username ?? "")
        let attempt: CredentialGuard.PasswordAttempt
        switch try await credentialGuard.admitAccountPassword(name: name, accountID: account?.id, clientIP: clientIP, now: now) {
        case .refused(let wait): throw PosternError.throttled(seconds: wait)
        case .admitted(let admitted): attempt = admitted
        }
        let limit = ProtocolAuthenticator.maximumPasswordBytes
        let matched: Bool
        do {
            if let account, password.utf8.count <= limit {
                matched = try await hasher.verify(password, against: account.passwordHash)
            } else {
                _ = try await hasher.verify(String(password.prefix(limit)), against: hasher.dummyHash)
                matched = false
            }
        } catch {
            await credentialGuard.accountPasswordSettled(attempt, now: now)
            throw error
        }
        // Known-good standing comes with a completed sign-in (`openSession`),
        // not with the password alone while a second factor is still owed.
        if matched, let account, !account.disabled {
            await credentialGuard.accountPasswordSettled(attempt, now: now)
            return true
        }
        let wait = credentialGuard.accountPasswordFailed(attempt, accountID: account?.id, clientIP: clientIP, now: now)
        // Recorded for a name with no account too (without an account), so
        // both cost the same write.
        await recordDenial(accountID: account?.id, reason: door == .signIn ? "invalid_credentials" : "invalid_password:\(door.rawValue)",
                           clientIP: clientIP)
        // Past the free allowance the answer says when to come back.
        if wait > 0 { throw PosternError.throttled(seconds: wait) }
        return false
    }

    func recordDenial(accountID: String?, reason: String, clientIP: String?, notices: [Notice] = []) async {
        var event = AuditEvent(accountID: accountID, kind: .signIn, result: "deny", reason: reason, clientIP: clientIP, at: clock.now)
        event.notices = notices
        try? await store.recordLogins(lastUses: [], events: [event])
    }

    /// Creates a session and returns its token (the store keeps only a digest).
    func openSession(account: Account, kind: Session.Kind, stage: Session.Stage, lifetime: TimeInterval, clientIP: String?,
                     reason: String) async throws -> (token: String, session: Session) {
        let now = clock.now
        let token = Secrets.newToken()
        let session = Session(tokenDigest: Secrets.tokenDigest(token), accountID: account.id, kind: kind, stage: stage, createdAt: now,
                              expiresAt: now.addingTimeInterval(lifetime), authenticatedAt: now)
        let event = AuditEvent(accountID: account.id, kind: .signIn, result: stage == .full ? "allow" : "second_factor_required",
                               reason: "\(kind.rawValue):\(reason)", clientIP: clientIP, at: now)
        try await store.createSession(session, audit: event)
        if stage == .full { credentialGuard.accountPasswordSucceeded(accountID: account.id, clientIP: clientIP, now: now) }
        return (token, session)
    }

    /// Signs in to the API: the account password, plus — when MFA is on — a
    /// TOTP code or a recovery code. Without a usable second factor the answer
    /// is a short-lived, single-use `mfa_token` to finish with a security key
    /// (or to retry), the methods the account has, and key request options.
    public func signInForAPI(username: String, password: String, otp: String?, recoveryCode: String?,
                             clientIP: String?) async throws -> APISignIn {
        let account = try await checkPassword(username: username, password: password, clientIP: clientIP)
        if account.mfaEnabled {
            var passed = false
            if let proof = SecondFactorProof(otp: otp, recoveryCode: recoveryCode) {
                passed = try await proveSecondFactor(proof, account: account, door: .signIn, clientIP: clientIP)
            }
            guard passed else {
                let (token, _) = try await openSession(account: account, kind: .api, stage: .secondFactor, lifetime: policy.secondFactorWindow,
                                                       clientIP: clientIP, reason: "password")
                return .secondFactorRequired(methods: try await secondFactorMethods(account: account), mfaToken: token,
                                             webauthn: try await beginKeyAssertion(account: account))
            }
        }
        let (token, session) = try await openSession(account: account, kind: .api, stage: .full, lifetime: policy.sessionLifetime,
                                                     clientIP: clientIP, reason: account.mfaEnabled ? "password+second_factor" : "password")
        return .signedIn(token: token, session: session)
    }

    /// `signInForAPI` for callers that only have a TOTP code: throws
    /// `otpRequired` when the second factor is missing or wrong.
    public func signIn(username: String, password: String, otp: String?, clientIP: String?) async throws -> (token: String, session: Session) {
        switch try await signInForAPI(username: username, password: password, otp: otp, recoveryCode: nil, clientIP: clientIP) {
        case .signedIn(let token, let session): return (token, session)
        case .secondFactorRequired: throw PosternError.otpRequired
        }
    }

    /// Finishes a sign-in with a security key: the pending sign-in behind
    /// `pendingToken` (an API `mfa_token` or the portal's pending cookie) and
    /// an assertion from one of the account's keys. The pending token is used
    /// once; the new session has the pending one's kind.
    public func completeSignInWithKey(pendingToken: String, assertion: KeyAssertion, clientIP: String?) async throws -> (token: String, session: Session) {
        let digest = Secrets.tokenDigest(pendingToken)
        guard let (pending, account) = try await pendingSession(token: pendingToken) else { throw PosternError.invalidCredentials }
        guard try await proveSecondFactor(.securityKey(assertion), account: account, door: .secondStep, clientIP: clientIP) else {
            throw PosternError.invalidCredentials
        }
        guard try await store.takeSession(tokenDigest: digest, now: clock.now) != nil else { throw PosternError.invalidCredentials }
        return try await openSession(account: account, kind: pending.kind, stage: .full, lifetime: policy.sessionLifetime, clientIP: clientIP,
                                     reason: "password+security_key")
    }

    /// The portal's first step: checks the password and either signs in, or,
    /// with MFA on, opens a short-lived session that can only take a code.
    public func beginSignIn(username: String, password: String, clientIP: String?) async throws -> SignInStep {
        let account = try await checkPassword(username: username, password: password, clientIP: clientIP)
        if account.mfaEnabled {
            let (token, session) = try await openSession(account: account, kind: .portal, stage: .secondFactor,
                                                         lifetime: policy.secondFactorWindow, clientIP: clientIP, reason: "password")
            return .secondFactorRequired(token: token, session: session)
        }
        let (token, session) = try await openSession(account: account, kind: .portal, stage: .full, lifetime: policy.sessionLifetime,
                                                     clientIP: clientIP, reason: "password")
        return .signedIn(token: token, session: session)
    }

    /// The account waiting for a second factor behind `token`, or nil.
    public func pendingSignIn(token: String) async throws -> Account? {
        try await pendingSession(token: token)?.1
    }

    func pendingSession(token: String) async throws -> (Session, Account)? {
        guard token.utf8.count <= 128,
              let session = try await store.session(tokenDigest: Secrets.tokenDigest(token), now: clock.now),
              session.stage == .secondFactor, let account = try await store.account(id: session.accountID), !account.disabled
        else { return nil }
        return (session, account)
    }

    /// The portal's second step. On a right code the pending session is
    /// consumed and a new one opened (a new id: the session is rotated). After
    /// `secondFactorAttempts` wrong codes the pending session is ended and the
    /// user must start again (`invalidCredentials`).
    public func completeSignIn(pendingToken: String, otp: String, recoveryCode: String? = nil, clientIP: String?) async throws -> (token: String, session: Session) {
        let digest = Secrets.tokenDigest(pendingToken)
        guard let account = try await pendingSignIn(token: pendingToken) else { throw PosternError.invalidCredentials }
        guard let proof = SecondFactorProof(otp: otp, recoveryCode: recoveryCode) else { throw PosternError.invalidCode }
        guard try await proveSecondFactor(proof, account: account, door: .secondStep, clientIP: clientIP) else {
            if try await store.addSessionFailure(tokenDigest: digest) >= policy.secondFactorAttempts {
                try await store.deleteSession(tokenDigest: digest, audit: nil)
                throw PosternError.invalidCredentials
            }
            throw PosternError.invalidCode
        }
        guard try await store.takeSession(tokenDigest: digest, now: clock.now) != nil else { throw PosternError.invalidCredentials }
        return try await openSession(account: account, kind: .portal, stage: .full, lifetime: policy.sessionLifetime, clientIP: clientIP,
                                     reason: "password+totp")
    }

    /// The session and its account for a token, or nil when the token is
    /// unknown, expired, idle too long (portal), of another kind, waiting for a
    /// second factor, or its account is disabled.
    public func resolveSession(token: String, kind: Session.Kind = .api) async throws -> (Session, Account)? {
        guard token.utf8.count <= 128 else { return nil }
        let now = clock.now
        guard var session = try await store.session(tokenDigest: Secrets.tokenDigest(token), now: now),
              session.kind == kind, session.stage == .full,
              let account = try await store.account(id: session.accountID), !account.disabled
        else { return nil }
        if kind == .portal {
            if now.timeIntervalSince(session.lastSeenAt) > policy.portalIdleTimeout {
                try await store.deleteSession(tokenDigest: session.tokenDigest, audit: nil)
                return nil
            }
            // Write at most once a minute per session.
            if now.timeIntervalSince(session.lastSeenAt) > 60 {
                try await store.touchSession(tokenDigest: session.tokenDigest, lastSeenAt: now, authenticatedAt: nil)
                session.lastSeenAt = now
            }
        }
        return (session, account)
    }

    public func signOut(session: Session) async throws {
        try await store.deleteSession(tokenDigest: session.tokenDigest,
                                      audit: AuditEvent(accountID: session.accountID, kind: .signOut, result: "ok", at: clock.now))
    }

    /// True when a sensitive change needs the password entered again.
    public func needsReauthentication(_ session: Session) -> Bool {
        clock.now.timeIntervalSince(session.authenticatedAt) > policy.reauthenticationWindow
    }

    /// Proves presence again: the password, and with MFA on a code (or a
    /// recovery code), both through the guard.
    public func reauthenticate(session: Session, account: Account, password: String, otp: String?, recoveryCode: String? = nil,
                               key: KeyAssertion? = nil) async throws {
        guard try await verifyAccountPassword(password, account: account, door: .reauthentication) else { throw PosternError.invalidCredentials }
        if account.mfaEnabled {
            guard let proof = SecondFactorProof(otp: otp, recoveryCode: recoveryCode, key: key),
                  try await proveSecondFactor(proof, account: account, door: .reauthentication, clientIP: RequestOrigin.clientIP)
            else { throw PosternError.invalidCode }
        }
        let now = clock.now
        try await store.touchSession(tokenDigest: session.tokenDigest, lastSeenAt: now, authenticatedAt: now)
    }

    // MARK: - Showing a secret once

    /// Keeps a new app password, sealed, until `takeReveal` shows it once.
    public func stashReveal(_ secret: String, session: Session) async throws -> String {
        let id = Secrets.newIdentifier()
        let sealed = try keys.seal(Array(secret.utf8), accountID: session.accountID)
        try await store.saveReveal(id: id, sessionDigest: session.tokenDigest, sealed: sealed, expiresAt: clock.now.addingTimeInterval(300))
        return id
    }

    /// The secret stashed under `id` for this session, once; nil afterwards.
    public func takeReveal(id: String, session: Session) async throws -> String? {
        guard id.utf8.count <= 64, let sealed = try await store.takeReveal(id: id, sessionDigest: session.tokenDigest, now: clock.now) else {
            return nil
        }
        return String(decoding: try keys.open(sealed, accountID: session.accountID), as: UTF8.self)
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

    /// The enrolment waiting for confirmation, to show its QR code again.
    public func pendingTOTP(account: Account) async throws -> TOTPEnrolment? {
        guard let factor = try await store.totpFactor(accountID: account.id), factor.confirmedAt == nil,
              clock.now.timeIntervalSince(factor.createdAt) <= policy.reauthenticationWindow else { return nil }
        let secret = try keys.open(factor.sealedSecret, accountID: account.id)
        return TOTPEnrolment(secretBase32: Base32.encode(secret),
                             otpauthURI: OTPAuthURI.make(secret: secret, account: account.username, issuer: policy.totpIssuer))
    }

    /// Confirms the pending enrolment with a code from it. A pending
    /// enrolment lasts as long as the re-authentication window that started
    /// it, and its codes count toward the account's second-factor limit, so
    /// a half-finished setup cannot be guessed into use.
    public func confirmTOTP(account: Account, code: String) async throws {
        guard let factor = try await store.totpFactor(accountID: account.id) else { throw PosternError.totpNotPending }
        guard factor.confirmedAt == nil else { throw PosternError.totpAlreadyEnabled }
        let now = clock.now
        guard now.timeIntervalSince(factor.createdAt) <= policy.reauthenticationWindow else { throw PosternError.totpNotPending }
        let secret = try keys.open(factor.sealedSecret, accountID: account.id)
        let attempts = try await credentialGuard.reserveSecondFactor(accountID: account.id, now: now)
        guard attempts <= credentialGuard.policy.secondFactorFailuresPerHour else { throw PosternError.secondFactorLocked }
        guard let step = totp.matchingStep(code: code, key: secret, at: now, after: nil) else { throw PosternError.invalidCode }
        await credentialGuard.secondFactorSucceeded(accountID: account.id, now: now)
        guard try await store.confirmTOTP(accountID: account.id, step: step, at: now,
                                          audit: changeEvent(.totpEnabled, account, .totpEnabled))
        else { throw PosternError.totpNotPending }
    }

    /// Turns the authenticator app off. Needs the account password and a current code.
    public func disableTOTP(account: Account, password: String, code: String) async throws {
        guard try await verifyAccountPassword(password, account: account, door: .totpOff) else { throw PosternError.invalidCredentials }
        guard let factor = try await store.totpFactor(accountID: account.id), factor.confirmedAt != nil else {
            throw PosternError.totpNotEnabled
        }
        guard try await proveSecondFactor(.totp(code), account: account, door: .totpOff, clientIP: RequestOrigin.clientIP) else {
            throw PosternError.invalidCode
        }
        _ = try await store.deleteTOTP(accountID: account.id, audit: changeEvent(.totpDisabled, account, .totpDisabled))
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
                                                  audit: changeEvent(.appPasswordCreated, account, .appPasswordCreated(name: name),
                                                                     reason: name, appPasswordID: record.id))
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
        let record = try await store.listAppPasswords(accountID: account.id).first { $0.id == id }
        let name = record?.name ?? "?"
        var event = changeEvent(.appPasswordRevoked, account, .appPasswordRevoked(name: name), reason: name, appPasswordID: id)
        if let record { event.terminations = endSessions(.appPasswordRevoked, account, revoked: record, key: id) }
        guard try await store.revokeAppPassword(accountID: account.id, id: id, at: clock.now, audit: event)
        else { throw PosternError.notFound }
    }

    @discardableResult
    public func revokeAllAppPasswords(account: Account) async throws -> Int {
        let active = try await store.listAppPasswords(accountID: account.id).filter { $0.revokedAt == nil }.count
        var event = changeEvent(.appPasswordRevoked, account, .allAppPasswordsRevoked(count: active), reason: "all")
        event.terminations = endSessions(.allAppPasswordsRevoked, account, key: event.id)
        return try await store.revokeAllAppPasswords(accountID: account.id, at: clock.now, audit: event)
    }

    /// The orders that end the open sessions a change makes stale (written
    /// with the change's event, so they exist exactly when the change does).
    func endSessions(_ cause: TerminationCause, _ account: Account, revoked: AppPasswordRecord? = nil, key: String) -> [TerminationTask] {
        SessionTermination.orders(cause: cause, account: account, revoked: revoked, targets: terminationTargets, key: key, at: clock.now)
    }

    public func activity(account: Account, limit: Int = 100) async throws -> [AuditEvent] {
        try await store.auditEvents(accountID: account.id, limit: limit)
    }
}
