import Crypto
import Foundation

/// The counters the guard shares through the store, named in one place.
public enum GuardKey: Sendable, Hashable {
    /// Account-password failures under a name (`CredentialGuard.name(for:)`).
    case accountPassword(name: String)
    /// Wrong second factors of an account, at every door.
    case secondFactor(accountID: String)
    /// Wrong second factors on one password-reset link.
    case resetLink(tokenDigest: Data)
    /// Password-reset requests naming an account, existing or not.
    case resetRequests(name: String)
    /// Password-reset requests from one source bucket.
    case resetRequestsFrom(bucket: String)

    public var storeKey: String {
        switch self {
        case .accountPassword(let name): "name:" + name
        case .secondFactor(let accountID): "2fa:" + accountID
        case .resetLink(let digest): "reset-link:" + digest.map { String(format: "%02x", $0) }.joined()
        case .resetRequests(let name): "reset-name:" + name
        case .resetRequestsFrom(let bucket): "reset-src:" + bucket
        }
    }
}

/// The doors a secret comes in by. Each asks the guard before it spends work
/// on a secret and reports to it after; the door is named in the activity.
public enum CredentialDoor: String, Sendable {
    case protocolLogin = "protocol_login"
    case signIn = "sign_in"
    case secondStep = "second_step"
    case reauthentication
    case passwordChange = "password_change"
    case totpOff = "totp_off"
    case resetCompletion = "reset_completion"
}

/// One guard over every credential check. Protocol logins, portal and API
/// sign-in, the second step, re-authentication, password change, turning the
/// authenticator off and completing a reset all ask it before a hash runs or
/// a code is compared, and report to it after.
///
/// It combines this instance's `LoginThrottle` (pacing per source and name,
/// known-good sources) with counters in the store that hold in total across
/// instances: account-password failures per name, wrong second factors per
/// account, attempts per reset link, reset requests per name and source.
/// Names are counted by a keyed hash of the canonical username, so a name
/// that exists and one that doesn't are slowed, capped and answered alike.
public struct CredentialGuard: Sendable {
    public let throttle: LoginThrottle
    let store: any ThrottleStore
    let nameKey: SymmetricKey

    public init(store: any ThrottleStore, keys: KeyRing, throttle: LoginThrottle = LoginThrottle()) {
        self.store = store
        self.throttle = throttle
        nameKey = keys.throttleNameKey
    }

    public var policy: ThrottlePolicy { throttle.policy }

    /// The name failures are counted under: a keyed hash of the canonical
    /// username (or of the text as given, when it is no valid username).
    public func name(for username: String) -> String {
        let text = Username.canonical(username) ?? username.lowercased()
        return Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: nameKey)).prefix(16)
            .map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Account passwords

    /// An account-password attempt the guard let through: counted already,
    /// to be settled with `accountPasswordFailed` or `accountPasswordSettled`.
    public struct PasswordAttempt: Sendable {
        let reservation: LoginThrottle.Reservation
        let name: String
        let countedInStore: Bool
    }

    public enum PasswordAdmission: Sendable {
        case admitted(PasswordAttempt)
        /// Refused without the hash; try again after this many seconds.
        case refused(TimeInterval)
    }

    /// Asked before an account password is checked. The attempt is counted
    /// at once — for the source and the name here, and for the name in the
    /// store — so parallel attempts cannot slip past a free allowance or the
    /// hourly cap. It is refused, without the hash and for a name that exists
    /// or not alike, while the source or name is being paced, or when the
    /// name is over its hourly cap (counted by every instance) and this
    /// source never signed in to the account with its password. An attempt
    /// the name's own pacing refused counts toward its cap too (once per
    /// source per delay): the cap is on attempts at the name, checked or not.
    public func admitAccountPassword(name: String, accountID: String?, clientIP: String?, now: Date) async throws -> PasswordAdmission {
        var reserved = throttle.reserve(name: name, accountID: accountID, clientIP: clientIP, now: now)
        if case .failure = reserved, try await trustedElsewhere(accountID: accountID, clientIP: clientIP, now: now) {
            reserved = throttle.reserve(name: name, accountID: accountID, clientIP: clientIP, now: now)
        }
        let key = GuardKey.accountPassword(name: name).storeKey
        let reservation: LoginThrottle.Reservation
        switch reserved {
        case .failure(let refusal):
            // Refused by the name's own pacing: still an attempt on the name,
            // counted toward the hourly cap (once per source per delay).
            if refusal.countsForName { _ = try await store.addFailure(key: key, window: 3600, now: now) }
            return .refused(refusal.wait)
        case .success(let admitted):
            reservation = admitted
        }
        // A known-good source's failures never count for the name.
        if reservation.knownGood { return .admitted(PasswordAttempt(reservation: reservation, name: name, countedInStore: false)) }
        let count: Int
        do {
            count = try await store.addFailure(key: key, window: 3600, now: now)
        } catch {
            throttle.release(reservation)
            throw error
        }
        if count <= policy.accountFailuresPerHour {
            return .admitted(PasswordAttempt(reservation: reservation, name: name, countedInStore: true))
        }
        let trusted: Bool
        do {
            trusted = try await trustedElsewhere(accountID: accountID, clientIP: clientIP, now: now)
        } catch {
            throttle.release(reservation)
            throw error
        }
        if trusted {
            try? await store.removeFailure(key: key, window: 3600, now: now)
            return .admitted(PasswordAttempt(reservation: reservation, name: name, countedInStore: false))
        }
        throttle.release(reservation)
        return .refused(policy.maximumDelay)
    }

    /// Whether another instance saw this source sign in to the account with
    /// its password, and it has not lost that standing here; if so it is
    /// remembered as known-good. A name with no account asks too (about an
    /// id no account has), so both take as long.
    private func trustedElsewhere(accountID: String?, clientIP: String?, now: Date) async throws -> Bool {
        guard let clientIP else { return false }
        let succeeded = try await store.succeeded(accountID: accountID ?? "-", clientIP: clientIP, since: now.addingTimeInterval(-policy.knownGoodFor))
        guard succeeded, let accountID, throttle.mayTrust(accountID: accountID, clientIP: clientIP, now: now) else { return false }
        throttle.recordSuccess(accountID: accountID, clientIP: clientIP, now: now)
        return throttle.isKnownGood(accountID: accountID, clientIP: clientIP, now: now)
    }

    /// Settles an attempt as a wrong password (or an unknown name) and
    /// returns how long the answer should wait.
    public func accountPasswordFailed(_ attempt: PasswordAttempt, accountID: String?, clientIP: String?, now: Date) -> TimeInterval {
        throttle.fail(attempt.reservation, accountID: accountID, clientIP: clientIP, now: now)
    }

    /// Settles an attempt that was no wrong password: what it counted is taken back.
    public func accountPasswordSettled(_ attempt: PasswordAttempt, now: Date) async {
        throttle.release(attempt.reservation)
        if attempt.countedInStore {
            try? await store.removeFailure(key: GuardKey.accountPassword(name: attempt.name).storeKey, window: 3600, now: now)
        }
    }

    /// Remembers an account-password success (a protocol login with it, or a
    /// completed portal or API sign-in): the source becomes known-good for the
    /// account. An app password's success earns nothing here.
    public func accountPasswordSucceeded(accountID: String, clientIP: String?, now: Date) {
        throttle.recordSuccess(accountID: accountID, clientIP: clientIP, now: now)
    }

    // MARK: - Sources

    /// Asked before work that only a source's pacing limits (sign-up's "name
    /// taken"). Nil: go ahead; otherwise when to try again.
    public func admitSource(clientIP: String?, now: Date) -> TimeInterval? {
        throttle.sourceWait(clientIP: clientIP, now: now)
    }

    /// Counts a failure against the source alone; returns the wait.
    @discardableResult
    public func sourceFailed(clientIP: String?, now: Date) -> TimeInterval {
        throttle.recordFailure(name: nil, accountID: nil, clientIP: clientIP, countsForName: false, now: now)
    }

    // MARK: - Second factors

    /// Counts a second-factor attempt before it is checked, so parallel
    /// guesses cannot slip past the limit, and returns the account's count
    /// in the current hour including this one. A right proof gives it back.
    public func reserveSecondFactor(accountID: String, now: Date) async throws -> Int {
        try await store.addFailure(key: GuardKey.secondFactor(accountID: accountID).storeKey, window: 3600, now: now)
    }

    public func secondFactorSucceeded(accountID: String, now: Date) async {
        try? await store.removeFailure(key: GuardKey.secondFactor(accountID: accountID).storeKey, window: 3600, now: now)
    }

    /// Counts an attempt on a reset link, before it is checked; returns the
    /// link's count including this one.
    public func reserveResetAttempt(tokenDigest: Data, lifetime: TimeInterval, now: Date) async throws -> Int {
        try await store.addFailure(key: GuardKey.resetLink(tokenDigest: tokenDigest).storeKey, window: lifetime, now: now)
    }

    // MARK: - Reset requests

    /// Counts a password-reset request per name and per source; nil while
    /// both are within their hourly bounds, otherwise when to try again. The
    /// same for names that exist and names that don't.
    public func admitResetRequest(name: String, clientIP: String?, now: Date) async throws -> TimeInterval? {
        var over = try await store.addFailure(key: GuardKey.resetRequests(name: name).storeKey, window: 3600, now: now) > policy.resetRequestsPerName
        // The address (or /64) and its wider network (/24 or /48, eight times
        // as many): a /48 holds 65,536 /64s, each of which would otherwise
        // get its own allowance.
        let buckets: [String] = clientIP.map { ClientAddress.buckets($0) } ?? []
        for (index, bucket) in buckets.enumerated() {
            let fromSource = try await store.addFailure(key: GuardKey.resetRequestsFrom(bucket: bucket).storeKey, window: 3600, now: now)
            over = over || fromSource > policy.resetRequestsPerSource * (index == 0 ? 1 : 8)
        }
        return over ? 3600 : nil
    }
}
