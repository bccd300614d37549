import Foundation
import Synchronization

/// The limits on guessing. Defaults are documented in docs/security.md.
public struct ThrottlePolicy: Sendable, Equatable {
    /// Failures a source may make in `sourceWindow` before it is paced.
    public var freeFailures = 5
    /// The first delay; each further failure doubles it, up to `maximumDelay`.
    public var baseDelay: TimeInterval = 0.25
    public var maximumDelay: TimeInterval = 8
    public var sourceWindow: TimeInterval = 15 * 60
    /// Account-password failures per name per hour (NIST SP 800-63B §5.2.2)
    /// after which the account password is refused from sources that have
    /// never signed in with it.
    public var accountFailuresPerHour = 100
    /// How long a source that signed in with the account password stays
    /// exempt from other sources' guessing.
    public var knownGoodFor: TimeInterval = 30 * 86_400
    /// Failures across all sources per minute above which every failure waits
    /// at least `baseDelay` (a spraying wave).
    public var globalFailuresPerMinute = 600
    /// Wrong passwords a known-good source may make on its own account in an
    /// hour before it loses its standing there.
    public var knownGoodFailures = 10
    /// Wrong second factors per account per hour, at every door and on every
    /// instance together, after which authenticator codes are refused.
    public var secondFactorFailuresPerHour = 10
    /// From this many wrong second factors in an hour the owner is told (once an hour).
    public var secondFactorNotifyAfter = 3
    /// Wrong second factors one password-reset link takes before it dies.
    public var resetLinkAttempts = 5
    /// Password-reset requests per name, and per source, per hour.
    public var resetRequestsPerName = 5
    public var resetRequestsPerSource = 20

    public init() {}
}

/// Soft lockout in one instance's memory: counts failures per source (IPv4
/// address and /24, IPv6 /64 and /48) and per name (a keyed hash of the
/// username, the same for names that exist and names that don't). Past its
/// free allowance a source or name is *paced*: it gets one attempt per delay,
/// the delay doubling with each further failure, and an attempt inside the
/// delay is refused before any work is done. Sources that signed in to an
/// account with its password recently are kept out of that account's pacing.
///
/// A small state machine with injected time. The counts that must hold in
/// total across instances (the hourly cap per name, second factors) live in
/// the store; `CredentialGuard` combines both.
public final class LoginThrottle: Sendable {
    public let policy: ThrottlePolicy

    private struct State {
        /// Failure times per key ("ip4:…", "net24:…", "net64:…", "net48:…", "name:…"), newest last.
        var failures: [String: [Date]] = [:]
        /// Per key: no attempt before this time.
        var notBefore: [String: Date] = [:]
        /// Last account-password success per "accountID|bucket".
        var knownGood: [String: Date] = [:]
        /// Failures of a known-good source on its own account, per
        /// "accountID|bucket"; past `knownGoodFailures` it loses its standing.
        /// They expire after an hour; a success does not wipe them.
        var knownGoodMisses: [String: [Date]] = [:]
        /// Refusals already counted toward a name's cap, per "name|bucket":
        /// until when (one per source per pacing delay).
        var refusalsCounted: [String: Date] = [:]
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

    /// What an admitted attempt counted, to be settled by `fail` or `release`.
    public struct Reservation: Sendable {
        let keys: [Paced]
        let at: Date
        /// The source was known-good for the account: the name was left out.
        public let knownGood: Bool
    }

    /// Admits an attempt and counts it at once, before any work is done, so
    /// parallel attempts cannot all pass inside a free allowance; or refuses
    /// it with how long until the next slot. Past its allowance a source or
    /// name gets one attempt per delay. A source known-good for `accountID`
    /// is left out of the name's count and pacing, never out of its own.
    /// Every reservation is settled: `fail` for a wrong password, `release`
    /// for anything else.
    public func reserve(name: String?, accountID: String?, clientIP: String?, now: Date) -> Result<Reservation, Refusal> {
        state.withLock { state in
            trim(&state, now: now)
            let known = accountID.map { isKnownGood(&state, accountID: $0, clientIP: clientIP, now: now) } ?? false
            let keys = paced(name: known ? nil : name, clientIP: clientIP)
            if let wait = pendingWait(&state, keys, now: now) {
                return .failure(Refusal(wait: wait, countsForName: countRefusal(&state, name: known ? nil : name, clientIP: clientIP, now: now)))
            }
            _ = count(&state, attemptOn: keys, now: now)
            return .success(Reservation(keys: keys, at: now, knownGood: known))
        }
    }

    /// Why `reserve` refused: how long until the next slot, and whether the
    /// refusal counts toward the name's hourly cap: only when the name's own
    /// pacing refused it (not the source's alone), once per source per delay,
    /// so one address cannot push a name over its cap by hammering it.
    public struct Refusal: Error, Sendable {
        public let wait: TimeInterval
        public let countsForName: Bool
    }

    private func countRefusal(_ state: inout State, name: String?, clientIP: String?, now: Date) -> Bool {
        guard let name, let nameUntil = state.notBefore["name:" + name], nameUntil > now else { return false }
        guard pendingWait(&state, paced(name: nil, clientIP: clientIP), now: now) == nil else { return false }
        let key = name + "|" + (clientIP.flatMap { ClientAddress.buckets($0).first } ?? "-")
        if let until = state.refusalsCounted[key], until > now { return false }
        state.refusalsCounted[key] = nameUntil
        return true
    }

    /// Settles a reservation as a failure and returns how long the answer
    /// should wait. A known-good source that keeps failing on its own account
    /// loses its standing there.
    public func fail(_ reservation: Reservation, accountID: String?, clientIP: String?, now: Date) -> TimeInterval {
        state.withLock { state in
            let worst = reservation.keys.reduce(0) { max($0, count(&state, $1.key, within: $1.window, now: now) - $1.allowance) }
            if reservation.knownGood, let accountID, let bucket = clientIP.flatMap({ ClientAddress.buckets($0).first }) {
                let key = accountID + "|" + bucket
                state.knownGoodMisses[key] = recentMisses(state, key, now: now) + [now]
                if state.knownGoodMisses[key, default: []].count >= policy.knownGoodFailures { state.knownGood[key] = nil }
            }
            return answerWait(&state, worstExcess: worst, now: now)
        }
    }

    /// Settles a reservation that was no failure (a right password): what it
    /// counted is taken back.
    public func release(_ reservation: Reservation) {
        state.withLock { state in
            for key in reservation.keys.map(\.key) {
                guard var times = state.failures[key], let index = times.lastIndex(of: reservation.at) else { continue }
                times.remove(at: index)
                state.failures[key] = times
            }
        }
    }

    /// Whether a source that another instance saw sign in may be trusted
    /// here: not when it lost its standing on this account by failing.
    public func mayTrust(accountID: String, clientIP: String?, now: Date) -> Bool {
        guard let bucket = clientIP.flatMap({ ClientAddress.buckets($0).first }) else { return false }
        return state.withLock { recentMisses($0, accountID + "|" + bucket, now: now).count < policy.knownGoodFailures }
    }

    /// Whether an attempt may run now, for work only a source's pacing limits
    /// (nothing is counted). Nil: it may; otherwise how long until it may.
    public func sourceWait(clientIP: String?, now: Date) -> TimeInterval? {
        state.withLock { pendingWait(&$0, paced(name: nil, clientIP: clientIP), now: now) }
    }

    /// Counts a failure and returns how long to wait before answering; the
    /// source (and, with `countsForName`, the name) may not try again before
    /// then. A known-good source never adds to the name's count.
    public func recordFailure(name: String?, accountID: String?, clientIP: String?, countsForName: Bool, now: Date) -> TimeInterval {
        state.withLock { state in
            trim(&state, now: now)
            let known = accountID.map { isKnownGood(&state, accountID: $0, clientIP: clientIP, now: now) } ?? false
            let worst = count(&state, attemptOn: paced(name: countsForName && !known ? name : nil, clientIP: clientIP), now: now)
            return answerWait(&state, worstExcess: worst, now: now)
        }
    }

    /// Remembers an account-password success: this source is known-good for
    /// the account — unless it lost that standing by failing there within the
    /// hour (its misses expire; a success does not wipe them, so another host
    /// behind the same address cannot refresh the standing the user earned).
    public func recordSuccess(accountID: String, clientIP: String?, now: Date) {
        guard let bucket = clientIP.flatMap({ ClientAddress.buckets($0).first }) else { return }
        state.withLock { state in
            trim(&state, now: now)
            let key = accountID + "|" + bucket
            guard recentMisses(state, key, now: now).count < policy.knownGoodFailures else { return }
            state.knownGood[key] = now
        }
    }

    /// Whether this source signed in to the account with its password within
    /// `knownGoodFor`, as this instance remembers it.
    public func isKnownGood(accountID: String, clientIP: String?, now: Date) -> Bool {
        state.withLock { isKnownGood(&$0, accountID: accountID, clientIP: clientIP, now: now) }
    }

    /// The sources (addresses and networks, never names) this instance is
    /// pacing now, with their failures in the window, longest wait first.
    public func slowedSources(now: Date, limit: Int = 100) -> [SlowedSource] {
        // Copied under the lock, ranked outside it: every login waits on this lock.
        let waiting = state.withLock { state in state.notBefore.filter { $0.value > now && !$0.key.hasPrefix("name:") } }
        let top = waiting.sorted { ($0.value, $0.key) > ($1.value, $1.key) }.prefix(limit)
        let failures = state.withLock { state in top.map { count(&state, $0.key, within: policy.sourceWindow, now: now) } }
        return zip(top, failures).compactMap { entry, failures in
            Self.sourceName(entry.key).map { SlowedSource(source: $0, failures: failures, until: entry.value) }
        }
    }

    /// How a pacing key reads: "ip4:a.b.c.d" → "a.b.c.d", "net24:a.b.c" →
    /// "a.b.c.0/24", "net64:…" → "…::/64"; nil for names.
    static func sourceName(_ key: String) -> String? {
        let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0] {
        case "ip4", "other": return parts[1]
        case "net24": return parts[1] + ".0/24"
        case "net64": return parts[1] + "::/64"
        case "net48": return parts[1] + "::/48"
        default: return nil
        }
    }

    /// Account-password failures counted for the name in the last hour, by this instance.
    public func nameFailures(_ name: String, now: Date) -> Int {
        state.withLock { count(&$0, "name:" + name, within: 3600, now: now) }
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

    // MARK: - Internals

    /// The keys an attempt is paced by, with their free allowance and window:
    /// the most specific source bucket gets the allowance, wider ones 8 times
    /// as much (several hosts may share them); a name gets 4 times as much
    /// over an hour.
    struct Paced: Sendable {
        let key: String
        let allowance: Int
        let window: TimeInterval
    }

    private func paced(name: String?, clientIP: String?) -> [Paced] {
        var keys = (clientIP.map(ClientAddress.buckets) ?? []).enumerated().map { index, bucket in
            Paced(key: bucket, allowance: policy.freeFailures * (index == 0 ? 1 : 8), window: policy.sourceWindow)
        }
        if let name { keys.append(Paced(key: "name:" + name, allowance: policy.freeFailures * 4, window: 3600)) }
        return keys
    }

    /// How long until every one of `keys` may be tried again; nil when all may now.
    private func pendingWait(_ state: inout State, _ keys: [Paced], now: Date) -> TimeInterval? {
        let wait = keys.reduce(0) { max($0, (state.notBefore[$1.key] ?? .distantPast).timeIntervalSince(now)) }
        return wait > 0 ? wait : nil
    }

    /// Counts one attempt on each key, paces the keys it takes past their
    /// allowance, and returns the largest excess.
    private func count(_ state: inout State, attemptOn keys: [Paced], now: Date) -> Int {
        var worst = 0
        for paced in keys {
            append(&state, paced.key, now)
            let excess = count(&state, paced.key, within: paced.window, now: now) - paced.allowance
            guard excess > 0 else { continue }
            worst = max(worst, excess)
            state.notBefore[paced.key] = max(state.notBefore[paced.key] ?? .distantPast, now.addingTimeInterval(delay(excess)))
        }
        return worst
    }

    /// How long a failure's answer waits: the worst key's delay, and at least
    /// the base delay during a wave of failures everywhere.
    private func answerWait(_ state: inout State, worstExcess: Int, now: Date) -> TimeInterval {
        state.global.append(now)
        state.global.removeAll { now.timeIntervalSince($0) > 60 }
        let wait = worstExcess > 0 ? delay(worstExcess) : 0
        return state.global.count > policy.globalFailuresPerMinute ? max(wait, policy.baseDelay) : wait
    }

    /// A known-good source's failures on its own account in the last hour.
    private func recentMisses(_ state: State, _ key: String, now: Date) -> [Date] {
        state.knownGoodMisses[key, default: []].filter { now.timeIntervalSince($0) <= 3600 }
    }

    private func delay(_ excess: Int) -> TimeInterval {
        min(policy.maximumDelay, policy.baseDelay * pow(2, Double(min(excess, 60) - 1)))
    }

    private func isKnownGood(_ state: inout State, accountID: String, clientIP: String?, now: Date) -> Bool {
        guard let clientIP, let bucket = ClientAddress.buckets(clientIP).first,
              let last = state.knownGood[accountID + "|" + bucket] else { return false }
        return now.timeIntervalSince(last) <= policy.knownGoodFor
    }

    private func append(_ state: inout State, _ key: String, _ now: Date) {
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

    /// Keeps memory bounded under a flood of distinct sources and names:
    /// forgets what has expired first, then source buckets, then names with a
    /// single failure, but never a name that is being guessed, so a flood of
    /// new addresses cannot wipe the count of the account it sprays. (The
    /// hourly cap itself is counted in the store and survives all of this.)
    private func trim(_ state: inout State, now: Date) {
        if state.notBefore.count > maximumKeys { state.notBefore = state.notBefore.filter { $0.value > now } }
        if state.refusalsCounted.count > maximumKeys { state.refusalsCounted = state.refusalsCounted.filter { $0.value > now } }
        if state.knownGoodMisses.count > maximumKeys {
            state.knownGoodMisses = state.knownGoodMisses.filter { ($0.value.last.map { now.timeIntervalSince($0) <= 3600 }) ?? false }
        }
        guard state.failures.count > maximumKeys || state.knownGood.count > maximumKeys || state.staleSeen.count > maximumKeys else { return }
        state.failures = state.failures.filter { key, times in
            guard let newest = times.last else { return false }
            return now.timeIntervalSince(newest) <= (key.hasPrefix("name:") ? 3600 : policy.sourceWindow)
        }
        if state.failures.count > maximumKeys {
            state.failures = state.failures.filter { $0.key.hasPrefix("name:") }
        }
        if state.failures.count > maximumKeys {
            state.failures = state.failures.filter { $0.value.count > 1 }
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
