import Foundation
import Logging
import PosternCore
import SQLKit
import Synchronization

/// Keeps a `CredentialCache` true to the store by reading the changes the
/// triggers of `CredentialFeedSchema` record.
///
/// - `catchUp()` reads every change past the last one applied, invalidates
///   the accounts they name, and confirms the cache live as of the moment the
///   read began. A gap in the numbers (changes pruned before this instance
///   read them) clears the whole cache.
/// - `watch()` runs until cancelled: a catch-up every `heartbeat` (250 ms),
///   and on PostgreSQL on a connection of its own that also `LISTEN`s, so a
///   change made on another instance is applied the moment its notification
///   arrives. If that connection breaks, confirmations stop, the cache stops
///   answering within its freshness (one second), and logins go to the store
///   until the feed is back.
/// - After every write this instance commits, `CredentialFeedExecutor` calls
///   `catchUp()` before the write returns: what this instance acknowledges is
///   already applied here.
///
/// It never reads or caches credentials itself.
public final class CredentialFeed: Sendable {
    public let cache: CredentialCache
    let executor: any SQLExecutor
    let heartbeat: Duration
    /// Changes older than this are deleted (a reader further behind clears its cache).
    let retention: TimeInterval
    /// The longest a write waits for the other instances to apply its changes.
    let settleLimit: Duration = .milliseconds(500)
    private let applied = Mutex<Int64?>(nil)
    /// PostgreSQL: the highest change each listening connection (by server
    /// process id) has said it applied.
    let acknowledged = Mutex<[Int32: Int64]>([:])
    /// Whether this instance's feed is listening now (only then can it hear
    /// other instances acknowledge a change).
    let listening = Atomic<Bool>(false)
    /// Whether the feed is failing (said once, and once when it is back).
    private let down = Atomic<Bool>(false)
    let logger: Logger
    static let pageSize = 1000

    public init(cache: CredentialCache, executor: any SQLExecutor, heartbeat: Duration = .milliseconds(250),
                retention: TimeInterval = 3600, logger: Logger) {
        self.cache = cache
        self.executor = executor
        self.heartbeat = heartbeat
        self.retention = retention
        self.logger = logger
    }

    /// Applies every change committed before this call, through the pool.
    public func catchUp() async throws {
        try await catchUp(reading: { [executor] query in try await executor.read(query) })
    }

    /// The number of the last change applied (nil before the first catch-up).
    public var appliedThrough: Int64? { applied.withLock { $0 } }

    func catchUp(reading read: (@escaping @Sendable (any SQLDatabase) async throws -> Page) async throws -> Page) async throws {
        let started = cache.clockNow()
        while true {
            let from = applied.withLock { $0 }
            let page = try await read { db in try await Self.page(after: from, db) }
            if apply(page) { break }
        }
        cache.confirm(at: started)
    }

    struct Page: Sendable {
        var head: Int64
        var changes: [(seq: Int64, accountID: String)]
    }

    /// The feed's head and, past `after`, up to `pageSize` changes up to it,
    /// read in one statement (one snapshot).
    static func page(after: Int64?, _ db: any SQLDatabase) async throws -> Page {
        guard let after else {
            let head = try await db.raw("SELECT seq FROM credential_feed WHERE id = 1").first()?.decode(column: "seq", as: Int64.self) ?? 0
            return Page(head: head, changes: [])
        }
        let rows = try await db.raw("""
            SELECT f.seq AS head, c.seq AS seq, c.account_id AS account_id
            FROM credential_feed f LEFT JOIN credential_changes c ON c.seq > \(bind: after) AND c.seq <= f.seq
            WHERE f.id = 1 ORDER BY c.seq LIMIT \(unsafeRaw: String(pageSize))
            """).all()
        var page = Page(head: try rows.first?.decode(column: "head", as: Int64.self) ?? 0, changes: [])
        for row in rows {
            guard let seq = try row.decode(column: "seq", as: Int64?.self) else { continue }
            page.changes.append((seq, try row.decode(column: "account_id", as: String.self)))
        }
        return page
    }

    /// Applies a page; true when it reached the head.
    private func apply(_ page: Page) -> Bool {
        applied.withLock { applied in
            guard let current = applied else {
                // First read: nothing cached can predate it.
                cache.invalidateAll()
                applied = page.head
                return true
            }
            if page.head < current {
                // The counter went back (a restored backup, a failover to a
                // replica that had not caught up): numbers will repeat, so
                // nothing applied so far can be trusted.
                logger.notice("the credential change counter went back; the credential cache starts over",
                              metadata: ["applied": "\(current)", "head": "\(page.head)"])
                cache.invalidateAll()
                applied = page.head
                return true
            }
            let reached = page.changes.count < Self.pageSize
            let through = reached ? page.head : (page.changes.last?.seq ?? page.head)
            guard through > current else { return reached }
            let fresh = page.changes.filter { $0.seq > current && $0.seq <= through }
            // Numbers are unique and dense: fewer rows than numbers means
            // some were pruned before this instance read them.
            if Int64(fresh.count) == through - current {
                cache.invalidate(accountIDs: Set(fresh.map(\.accountID)))
            } else {
                logger.notice("credential changes were missed; the credential cache starts over",
                              metadata: ["applied": "\(current)", "head": "\(page.head)"])
                cache.invalidateAll()
            }
            applied = through
            return reached
        }
    }

    /// After a write: catches up; when that found changes, and other
    /// instances listen, waits (at most `settleLimit`) until each has said it
    /// applied them, so that a change is honoured everywhere once it is
    /// acknowledged. An instance that does not answer in time stops answering
    /// from its cache within a second of its last confirmation anyway.
    /// Failing here clears the cache (what the write changed may not be
    /// applied here); the write stands.
    func settle(after before: Int64?) async {
        do {
            try await catchUp()
            guard let before, let through = appliedThrough, through > before, let postgres = executor as? PostgresExecutor,
                  listening.load(ordering: .relaxed) else { return }
            try await awaitAcknowledgements(through: through, postgres)
        } catch {
            // Whatever this write changed may not be applied here: forget
            // everything rather than answer from it until the next catch-up.
            cache.invalidateAll()
            logger.notice("cannot confirm a change with the other instances", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes changes past the retention period.
    func prune() async throws {
        let cutoff = Date().addingTimeInterval(-retention).millis
        try await executor.write { db in
            try await db.raw("DELETE FROM credential_changes WHERE at < \(bind: cutoff)").run()
        }
    }

    /// Catches up every `heartbeat` until cancelled (see the type's comment).
    public func watch() async {
        while !Task.isCancelled {
            do {
                if let postgres = executor as? PostgresExecutor {
                    try await listen(postgres) { [self] in noteUp() }
                } else {
                    try await beat(catchUp) { noteUp() }
                }
            } catch {
                if Task.isCancelled { return }
                if !down.exchange(true, ordering: .relaxed) {
                    logger.warning("the credential feed is down; logins go to the store until it is back", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: heartbeat)
            }
        }
    }

    private func noteUp() {
        if down.exchange(false, ordering: .relaxed) { logger.notice("the credential feed is back") }
    }

    /// Catches up every `heartbeat`, and prunes old changes every five
    /// minutes, until something throws. `caughtUp` runs after each catch-up.
    func beat(_ catchUp: () async throws -> Void, caughtUp: () -> Void) async throws {
        var pruned: ContinuousClock.Instant?
        while true {
            try await catchUp()
            caughtUp()
            if pruned.map({ ContinuousClock.now - $0 > .seconds(300) }) ?? true {
                do {
                    try await prune()
                    pruned = .now
                } catch {
                    logger.warning("cannot prune credential changes; will retry", metadata: ["error": "\(error)"])
                    pruned = .now
                }
            }
            try await Task.sleep(for: heartbeat)
        }
    }
}

/// An executor that, after each write commits, has the credential feed catch
/// up (and on PostgreSQL, every instance's feed apply what the write
/// changed) before the write returns.
public struct CredentialFeedExecutor: SQLExecutor {
    let inner: any SQLExecutor
    let feed: CredentialFeed

    public init(_ inner: any SQLExecutor, feed: CredentialFeed) {
        self.inner = inner
        self.feed = feed
    }

    public var dialectName: String { inner.dialectName }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await inner.read(body)
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let before = feed.appliedThrough
        let value: T
        do {
            value = try await inner.write(body)
        } catch StoreError.unavailable(let message) {
            // The commit may have happened and its answer been lost.
            feed.cache.invalidateAll()
            throw StoreError.unavailable(message)
        }
        await feed.settle(after: before)
        return value
    }

    /// Writes that never change a credential (login records, counters,
    /// the outbox) skip the catch-up and the wait for other instances.
    public func writeRecords<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await inner.write(body)
    }

    public func shutdown() async { await inner.shutdown() }
}
