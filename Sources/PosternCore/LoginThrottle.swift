import Foundation
import Synchronization

/// The limits on guessing. Defaults are documented in docs/security.md.
public struct ThrottlePolicy: Sendable, Equatable {
    /// Failures a source may make in `sourceWindow` before answers slow down.
    public var freeFailures = 5
    /// The first delay; each further failure doubles it, up to `maximumDelay`.
    public var baseDelay: TimeInterval = 0.25
    public var maximumDelay: TimeInterval = 8
    public var sourceWindow: TimeInterval = 15 * 60
    /// Account-password failures per account per hour (NIST SP 800-63B §5.2.2)
    /// after which the account password is refused from sources that have
    /// never succeeded.
    public var accountFailuresPerHour = 100
    /// How long a source that succeeded stays exempt from other sources' guessing.
    public var knownGoodFor: TimeInterval = 30 * 86_400
    /// Failures across all sources per minute above which every failure waits
    /// at least `baseDelay` (a spraying wave).
    public var globalFailuresPerMinute = 600

    public init() {}
}

/// Soft lockout for protocol and portal logins: counts failures per account
/// and per source (IPv4 address and /24, IPv6 /64 and /48), answers with
/// growing delays instead of locking, caps account-password guesses per
/// account, and keeps sources that have succeeded recently out of it all.
///
/// A small state machine with injected time. It holds counters in memory, so
/// each instance counts its own traffic; coherent counters across instances
/// are part of the PostgreSQL work.
public final class LoginThrottle: Sendable {
    public let policy: ThrottlePolicy

    private struct State {
        /// Failure times per bucket ("account:…", "ip4:…", "net24:…", …), newest last.
        var failures: [String: [Date]] = [:]
        /// Last success per "account|bucket".
        var knownGood: [String: Date] = [:]
        var global: [Date] = []
        /// When a stale credential was last recorded, per "app|ip".
        var staleSeen: [String: Date] = [:]
    }

    private let state = Mutex(State())
    private let maximumKeys: Int

    public init(policy: ThrottlePolicy = ThrottlePolicy(), maximumKeys: Int = 200_000) {
        self.policy = policy
        self.maximumKeys = maximumKeys
    }

    /// True when account-password logins for the account must be refused
    /// from this source: the account is over its hourly cap and the source
    /// has not succeeded for it within `knownGoodFor`.
    public func accountPasswordBlocked(accountID: String, clientIP: String?, now: Date) -> Bool {
        state.withLock { state in
            if isKnownGood(&state, accountID: accountID, clientIP: clientIP, now: now) { return false }
            return count(&state, "account:" + accountID, within: 3600, now: now) >= policy.accountFailuresPerHour
        }
    }

    /// Counts a failed guess and returns how long to wait before answering.
    /// `countsForAccount` is true for a wrong account password of a real
    /// account; a known-good source never adds to the account's count.
    public func recordFailure(accountID: String?, clientIP: String?, countsForAccount: Bool, now: Date) -> TimeInterval {
        state.withLock { state in
            let buckets = clientIP.map(ClientAddress.buckets) ?? []
            for bucket in buckets { append(&state, bucket, now) }
            state.global.append(now)
            state.global.removeAll { now.timeIntervalSince($0) > 60 }
            var known = false
            if let accountID {
                known = isKnownGood(&state, accountID: accountID, clientIP: clientIP, now: now)
                if countsForAccount, !known { append(&state, "account:" + accountID, now) }
            }
            // The most specific bucket gets the free allowance; wider ones get
            // proportionally more, as several hosts may share them.
            var worst = 0
            for (index, bucket) in buckets.enumerated() {
                let allowance = policy.freeFailures * (index == 0 ? 1 : 8)
                worst = max(worst, count(&state, bucket, within: policy.sourceWindow, now: now) - allowance)
            }
            if let accountID, !known {
                let accountFailures = count(&state, "account:" + accountID, within: 3600, now: now)
                worst = max(worst, accountFailures - policy.freeFailures * 4)
            }
            var delay = worst > 0 ? min(policy.maximumDelay, policy.baseDelay * pow(2, Double(worst - 1))) : 0
            if state.global.count > policy.globalFailuresPerMinute { delay = max(delay, policy.baseDelay) }
            return delay
        }
    }

    /// Remembers a success: this source is known-good for the account.
    public func recordSuccess(accountID: String, clientIP: String?, now: Date) {
        guard let clientIP else { return }
        state.withLock { state in
            trim(&state, now: now)
            for bucket in ClientAddress.buckets(clientIP).prefix(1) { state.knownGood[accountID + "|" + bucket] = now }
        }
    }

    /// Whether this source succeeded for the account within `knownGoodFor`,
    /// as this instance remembers it.
    public func isKnownGood(accountID: String, clientIP: String?, now: Date) -> Bool {
        state.withLock { isKnownGood(&$0, accountID: accountID, clientIP: clientIP, now: now) }
    }

    /// True the first time in a day that a revoked or expired app password is
    /// tried from this address: a stale client, recorded once, never counted.
    public func firstStaleAttempt(appPasswordID: String, clientIP: String?, now: Date) -> Bool {
        state.withLock { state in
            let key = appPasswordID + "|" + (clientIP ?? "-")
            if let seen = state.staleSeen[key], now.timeIntervalSince(seen) < 86_400 { return false }
            trim(&state, now: now)
            state.staleSeen[key] = now
            return true
        }
    }

    private func isKnownGood(_ state: inout State, accountID: String, clientIP: String?, now: Date) -> Bool {
        guard let clientIP, let bucket = ClientAddress.buckets(clientIP).first,
              let last = state.knownGood[accountID + "|" + bucket] else { return false }
        return now.timeIntervalSince(last) <= policy.knownGoodFor
    }

    private func append(_ state: inout State, _ key: String, _ now: Date) {
        trim(&state, now: now)
        var times = state.failures[key, default: []]
        times.append(now)
        // Nothing older than an hour matters, and a few hundred entries bound it.
        if times.count > 512 || (times.first.map { now.timeIntervalSince($0) > 3600 } ?? false) {
            times.removeAll { now.timeIntervalSince($0) > 3600 }
            if times.count > 512 { times.removeFirst(times.count - 512) }
        }
        state.failures[key] = times
    }

    private func count(_ state: inout State, _ key: String, within window: TimeInterval, now: Date) -> Int {
        state.failures[key]?.reduce(0) { $0 + (now.timeIntervalSince($1) <= window ? 1 : 0) } ?? 0
    }

    /// Keeps memory bounded under a flood of distinct sources: forgets what
    /// has expired first, then source buckets, but never an account's count,
    /// so a flood of new addresses cannot wipe the cap of the account it sprays.
    private func trim(_ state: inout State, now: Date) {
        guard state.failures.count > maximumKeys || state.knownGood.count > maximumKeys || state.staleSeen.count > maximumKeys else { return }
        state.failures = state.failures.filter { key, times in
            guard let newest = times.last else { return false }
            return now.timeIntervalSince(newest) <= (key.hasPrefix("account:") ? 3600 : policy.sourceWindow)
        }
        if state.failures.count > maximumKeys {
            state.failures = state.failures.filter { $0.key.hasPrefix("account:") }
        }
        if state.knownGood.count > maximumKeys {
            state.knownGood = state.knownGood.filter { now.timeIntervalSince($0.value) <= policy.knownGoodFor }
            if state.knownGood.count > maximumKeys { state.knownGood.removeAll(keepingCapacity: true) }
        }
        if state.staleSeen.count > maximumKeys {
            state.staleSeen = state.staleSeen.filter { now.timeIntervalSince($0.value) < 86_400 }
            if state.staleSeen.count > maximumKeys { state.staleSeen.removeAll(keepingCapacity: true) }
        }
    }
}
