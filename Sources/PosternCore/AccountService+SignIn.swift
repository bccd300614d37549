import Foundation

extension AccountService {
    // MARK: - Sign-in and sessions

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
        var event = AuditEvent(accountID: accountID, kind: .signIn, result: .deny, reason: reason, clientIP: clientIP, at: clock.now)
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
        let event = AuditEvent(accountID: account.id, kind: .signIn, result: stage == .full ? .allow : .secondFactorRequired,
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
                return .secondFactorRequired(methods: SecondFactorMethod.allCases.filter(try await secondFactorMethods(account: account).contains), mfaToken: token,
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
                                      audit: AuditEvent(accountID: session.accountID, kind: .signOut, result: .ok, at: clock.now))
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
}
