import Crypto
import Foundation

extension AccountService {
    /// Counts a reset request per name and per source before it is answered:
    /// past `resetRequestsPerName` or `resetRequestsPerSource` an hour it
    /// throws `throttled`, alike for names that exist and names that don't.
    public func admitPasswordReset(username: String, clientIP: String?) async throws {
        let name = credentialGuard.name(for: username)
        if let wait = try await credentialGuard.admitResetRequest(name: name, clientIP: clientIP, now: clock.now) {
            throw PosternError.throttled(seconds: wait)
        }
    }

    /// Starts a password reset: if `username` names an active account, saves
    /// a single-use token (only its digest) and writes the email with the link
    /// to the outbox, in one transaction. Answers nothing either way, so the
    /// caller cannot tell whether the account exists; callers run it after
    /// answering (and after `admitPasswordReset`), so the time taken does not
    /// tell either. At most one link is live per account, and while one made
    /// in the last 10 minutes is open no new one is sent (decided in the
    /// database), so nobody can flood a mailbox.
    public func requestPasswordReset(username: String) async {
        guard let canonical = Username.canonical(username),
              let account = try? await store.account(username: canonical), !account.disabled else { return }
        var event = AuditEvent(accountID: account.id, kind: .passwordResetRequested, result: .ok, clientIP: RequestOrigin.clientIP, at: clock.now)
        _ = try? await savePasswordReset(account, event: &event)
    }

    /// Makes a reset token and saves it with `event`, which gets the email
    /// with the link. False, sending nothing, while a link sent in the last
    /// 10 minutes is open.
    func savePasswordReset(_ account: Account, event: inout AuditEvent) async throws -> Bool {
        let token = Base64URL.encode(Secrets.randomBytes(32))
        let now = event.at
        let reset = PasswordReset(tokenDigest: Self.resetDigest(token), accountID: account.id, createdAt: now,
                                  expiresAt: now.addingTimeInterval(policy.resetTokenLifetime))
        if let notice = notices?.passwordResetLink(recipient: account.username, token: token, validFor: policy.resetTokenLifetime,
                                                   clientIP: RequestOrigin.clientIP, at: now, byAdministrator: event.byAdministrator) {
            event.notices = [notice]
        }
        return try await store.savePasswordReset(reset, unlessOpenSince: now.addingTimeInterval(-600), audit: event)
    }

    /// The account a reset link belongs to, if the link is still good (for the
    /// page that asks for the new password and, with MFA, a second factor).
    public func passwordResetAccount(token: String) async throws -> Account? {
        guard let reset = try await store.passwordReset(tokenDigest: Self.resetDigest(token), now: clock.now) else { return nil }
        return try await store.account(id: reset.accountID)
    }

    /// Request options for proving the reset with one of the account's
    /// security keys, or nil when the link is bad or the account has no key.
    public func beginResetKeyAssertion(token: String) async throws -> WebAuthnOptions? {
        guard let account = try await passwordResetAccount(token: token) else { return nil }
        return try await beginKeyAssertion(account: account)
    }

    /// Finishes a reset. With MFA on it needs a current authenticator code, an
    /// unused recovery code or a security key's assertion as well: a reset
    /// never bypasses MFA. The second factor goes through the guard like at
    /// every other door, and the link itself dies after `resetLinkAttempts`
    /// attempts at it. Ends every session, revokes the app passwords (per
    /// policy) and notifies the owner.
    public func completePasswordReset(token: String, newPassword: String, otp: String?, recoveryCode: String?,
                                      key: KeyAssertion? = nil) async throws {
        let digest = Self.resetDigest(token)
        guard let reset = try await store.passwordReset(tokenDigest: digest, now: clock.now),
              let account = try await store.account(id: reset.accountID), !account.disabled
        else { throw PosternError.invalidResetToken }
        try passwordPolicy.check(newPassword, username: account.username)
        if account.mfaEnabled {
            guard let proof = SecondFactorProof(otp: otp, recoveryCode: recoveryCode, key: key) else { throw PosternError.otpRequired }
            let now = clock.now
            let attempts = try await credentialGuard.reserveResetAttempt(tokenDigest: digest, lifetime: policy.resetTokenLifetime, now: now)
            let allowed = credentialGuard.policy.resetLinkAttempts
            guard attempts <= allowed else {
                try await store.endPasswordReset(tokenDigest: digest, at: now)
                throw PosternError.invalidResetToken
            }
            guard try await proveSecondFactor(proof, account: account, door: .resetCompletion, clientIP: RequestOrigin.clientIP) else {
                if attempts >= allowed {
                    try await store.endPasswordReset(tokenDigest: digest, at: now)
                    throw PosternError.invalidResetToken
                }
                if case .securityKey = proof { throw PosternError.securityKeyRejected }
                throw PosternError.invalidCode
            }
        }
        let hash = try await hasher.hash(newPassword)
        var event = changeEvent(.passwordReset, account, .passwordReset)
        event.terminations = endSessions(.passwordReset, account, key: event.id)
        // Cancelled in the reset's own transaction.
        event.cancelsDeviceSetups = true
        guard try await store.completePasswordReset(tokenDigest: digest, accountID: account.id, newPasswordHash: hash,
                                                    revokeAppPasswords: policy.revokeAppPasswordsOnReset, now: clock.now, audit: event)
        else { throw PosternError.invalidResetToken }
    }

    /// Reset tokens are 256 random bits; a plain hash is enough to store them.
    static func resetDigest(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }
}
