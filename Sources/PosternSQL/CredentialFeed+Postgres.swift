import Foundation
import PosternCore
import SQLKit

/// PostgreSQL: a connection of the feed's own that listens for changes as
/// they commit, and for other instances saying they applied them.
extension CredentialFeed {
    static let applicationName = "postern-feed"
    /// Where each listening connection says which change it applied:
    /// `<number> <server process id>`.
    static let appliedChannel = "postern_applied"

    /// Listens and catches up on one connection of its own, until it breaks.
    func listen(_ postgres: PostgresExecutor, caughtUp: @escaping @Sendable () -> Void) async throws {
        defer { listening.store(false, ordering: .relaxed) }
        // Notifications dropped for want of room: what they named is unknown.
        try await postgres.listening(on: [CredentialFeedSchema.channel, Self.appliedChannel],
                                     applicationName: Self.applicationName, overflowed: { [cache] in cache.invalidateAll() }) { [self] db, notifications in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await (channel, payload) in notifications {
                        try await self.received(payload, on: channel, db)
                    }
                    throw StoreError.unavailable("postgresql: the listening connection closed")
                }
                group.addTask {
                    // Bounded like every other query: a catch-up that hangs
                    // on a broken connection must not hold the feed down.
                    try await self.beat({
                        try await PostgresExecutor.race(.seconds(5)) { try await self.catchUp(reading: { query in try await query(db) }) }
                    }) {
                        self.listening.store(true, ordering: .relaxed)
                        caughtUp()
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// A change (`<number> <account id>`): forgotten at once, then said
    /// applied. An acknowledgement (`<number> <pid>`): remembered.
    private func received(_ payload: String, on channel: String, _ db: any SQLDatabase) async throws {
        let parts = payload.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let seq = Int64(parts[0]) else { return }
        if channel == CredentialFeedSchema.channel {
            cache.invalidate(accountIDs: [String(parts[1])])
            try await db.raw("SELECT pg_notify(\(bind: Self.appliedChannel), \(bind: String(seq)) || ' ' || pg_backend_pid())").run()
        } else if let pid = Int32(parts[1]) {
            acknowledged.withLock { $0[pid] = max($0[pid] ?? 0, seq) }
        }
    }

    /// Waits until every listening feed connection on this database has
    /// acknowledged change `through`, or `settleLimit` passes.
    func awaitAcknowledgements(through: Int64, _ postgres: PostgresExecutor) async throws {
        let listeners = try await postgres.read { db in
            try await db.raw("""
                SELECT pid FROM pg_stat_activity WHERE application_name = \(bind: Self.applicationName) AND datname = current_database()
                """).all().map { try $0.decode(column: "pid", as: Int32.self) }
        }
        let deadline = ContinuousClock.now + settleLimit
        while ContinuousClock.now < deadline {
            let pending = acknowledged.withLock { acks in
                acks = acks.filter { listeners.contains($0.key) }
                return listeners.filter { (acks[$0] ?? 0) < through }
            }
            if pending.isEmpty { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        logger.notice("an instance did not confirm a change in time; it stops answering from its cache within a second",
                      metadata: ["change": "\(through)"])
    }
}
