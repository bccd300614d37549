import Foundation
import Synchronization

/// App passwords this instance has recently looked up, with their account's
/// state, so a mail client that logs in again does not wait on the store.
///
/// Kept right by a change feed, not by expiry times. The feed (in the
/// storage layer) reads every change to a credential or an account from the
/// store, calls `invalidate(accountIDs:)` for it, and then `confirm(at:)`.
/// The cache answers only while a confirmation is recent (`freshness`, one
/// second): if the feed stalls, loses its connection or the database goes
/// away, lookups miss and the login asks the store, as if there were no cache.
///
/// What it must never do:
/// - answer for something it has not seen: there is no negative cache, so a
///   password created a moment ago on another instance works at once;
/// - keep an entry read before an invalidation it missed: `insert` takes the
///   `Ticket` drawn before the store was read and drops the entry if its
///   account (or the whole cache) was invalidated in between.
///
/// Bounded: past `capacity` entries a random one is replaced.
public final class CredentialCache: Sendable {
    /// One cached app password and its account.
    public struct Entry: Sendable {
        public var record: AppPasswordRecord
        public var account: LoginFacts.AccountFacts

        public init(record: AppPasswordRecord, account: LoginFacts.AccountFacts) {
            self.record = record
            self.account = account
        }
    }

    /// The invalidation counts when a store read began: the whole cache's
    /// and the account's.
    public struct Ticket: Sendable, Equatable {
        let epoch: UInt64
        let generation: UInt64
    }

    /// A 32-byte app-password digest as four words: hashing and comparing it
    /// costs no allocation.
    struct Key: Hashable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64

        init?(_ digest: Data) {
            guard digest.count == 32 else { return nil }
            var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &words) { target in digest.copyBytes(to: target.bindMemory(to: UInt8.self)) }
            (a, b, c, d) = words
        }
    }

    private struct State {
        var entries: ContiguousArray<(key: Key, entry: Entry)> = []
        var positions: [Key: Int] = [:]
        var byAccount: [String: [Key]] = [:]
        /// Bumped by `invalidateAll` (and when `generations` is reset).
        var epoch: UInt64 = 0
        /// Per account, how often it was invalidated (bounded; see `invalidate`).
        var generations: [String: UInt64] = [:]
        var confirmedAt: ContinuousClock.Instant?
        var generator = SystemRandomNumberGenerator()

        mutating func remove(_ key: Key) {
            guard let position = positions.removeValue(forKey: key) else { return }
            let last = entries.count - 1
            if position != last {
                entries[position] = entries[last]
                positions[entries[position].key] = position
            }
            entries.removeLast()
        }

        mutating func evictOne() {
            guard !entries.isEmpty else { return }
            let victim = entries[Int.random(in: 0..<entries.count, using: &generator)]
            remove(victim.key)
            let accountID = victim.entry.account.id
            byAccount[accountID]?.removeAll { $0 == victim.key }
            if byAccount[accountID]?.isEmpty == true { byAccount[accountID] = nil }
        }
    }

    public let capacity: Int
    /// How long a confirmation from the feed keeps the cache answering.
    public let freshness: Duration
    private let state = Mutex(State())
    private let now: @Sendable () -> ContinuousClock.Instant
    private let counts = Counts()

    /// `capacity` 0 turns the cache off. `now` is for tests.
    public init(capacity: Int, freshness: Duration = .seconds(1), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.capacity = max(0, capacity)
        self.freshness = freshness
        self.now = now
    }

    // MARK: The login side

    /// The cached entry for `digest`, if there is one and the feed is live.
    public func lookup(_ digest: Data) -> Entry? {
        guard capacity > 0, let key = Key(digest) else { return nil }
        let instant = now()
        let found: Entry? = state.withLock { state in
            guard let confirmed = state.confirmedAt, instant - confirmed < freshness,
                  let position = state.positions[key] else { return nil }
            return state.entries[position].entry
        }
        counts.count(hit: found != nil)
        return found
    }

    /// Taken before reading the store about `accountID`, handed to `insert` after.
    public func ticket(accountID: String) -> Ticket {
        state.withLock { Ticket(epoch: $0.epoch, generation: $0.generations[accountID] ?? 0) }
    }

    /// Remembers what the store answered, unless the account (or the whole
    /// cache) was invalidated since `ticket` was taken (the answer may
    /// predate that change). Changes to other accounts do not matter.
    public func insert(_ entry: Entry, digest: Data, ticket: Ticket) {
        guard capacity > 0, let key = Key(digest) else { return }
        state.withLock { state in
            guard state.epoch == ticket.epoch, (state.generations[entry.account.id] ?? 0) == ticket.generation else { return }
            if let position = state.positions[key] {
                state.entries[position].entry = entry
                return
            }
            if state.entries.count >= capacity { state.evictOne() }
            state.positions[key] = state.entries.count
            state.entries.append((key, entry))
            state.byAccount[entry.account.id, default: []].append(key)
        }
    }

    // MARK: The feed side

    /// Forgets every entry of these accounts: one of their credentials or
    /// their state changed.
    public func invalidate(accountIDs: some Sequence<String>) {
        state.withLock { state in
            if state.generations.count >= 100_000 {
                // Outstanding tickets of every account now fail on the epoch.
                state.generations.removeAll(keepingCapacity: true)
                state.epoch &+= 1
            }
            for accountID in accountIDs {
                state.generations[accountID, default: 0] &+= 1
                for key in state.byAccount.removeValue(forKey: accountID) ?? [] { state.remove(key) }
            }
        }
    }

    /// Forgets everything (the feed cannot tell what it missed).
    public func invalidateAll() {
        state.withLock { state in
            state.epoch &+= 1
            state.generations.removeAll(keepingCapacity: true)
            state.entries.removeAll(keepingCapacity: true)
            state.positions.removeAll(keepingCapacity: true)
            state.byAccount.removeAll(keepingCapacity: true)
        }
    }

    /// The feed has applied every change committed before `instant`; the
    /// cache may answer until `instant + freshness`.
    public func confirm(at instant: ContinuousClock.Instant) {
        state.withLock { state in
            if let confirmed = state.confirmedAt, confirmed >= instant { return }
            state.confirmedAt = instant
        }
    }

    /// The feed's clock, for the instant it passes to `confirm(at:)`.
    public func clockNow() -> ContinuousClock.Instant { now() }

    /// Whether the feed confirmed recently enough for the cache to answer.
    public var isLive: Bool {
        let instant = now()
        return state.withLock { state in state.confirmedAt.map { instant - $0 < freshness } ?? false }
    }

    /// How many entries are held.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Lookups answered from the cache and lookups that were not, since start.
    public var lookups: (hits: Int, misses: Int) { counts.read() }
}

/// Hit and miss counts, kept apart from the cache's lock.
private final class Counts: Sendable {
    private let hits = Atomic<Int>(0)
    private let misses = Atomic<Int>(0)

    func count(hit: Bool) {
        if hit { hits.wrappingAdd(1, ordering: .relaxed) } else { misses.wrappingAdd(1, ordering: .relaxed) }
    }

    func read() -> (hits: Int, misses: Int) { (hits.load(ordering: .relaxed), misses.load(ordering: .relaxed)) }
}
