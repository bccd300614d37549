import Foundation

extension AccountService {
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
        guard try await store.confirmTOTP(accountID: account.id, sealedSecret: factor.sealedSecret, step: step, at: now,
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
        if account.isAdmin, try await store.securityKeys(accountID: account.id).isEmpty { throw PosternError.adminNeedsFactor }
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
}
