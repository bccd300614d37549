import Foundation
import PosternCore
import SQLKit

// Outbox: `OutboxStore` on SQL.
extension SQLStore: OutboxStore {
    public func claimOutbox(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        // PostgreSQL: claimers skip rows another claimer holds, so several
        // instances each get a full batch of different messages.
        let skipLocked = executor.dialectName == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        return try await executor.writeRecords { db in
            // One writer at a time (SQLite), or a row lock (PostgreSQL, which
            // re-checks the outer WHERE on a row another claimer just leased):
            // the lease makes a claimed message invisible to the next claimer.
            let rows = try await db.raw("""
                WITH due (due_id) AS (
                    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= \(bind: now.millis)
                    AND (leased_until IS NULL OR leased_until <= \(bind: now.millis))
                    ORDER BY next_attempt_at LIMIT \(bind: max(1, limit))\(unsafeRaw: skipLocked))
                UPDATE outbox SET leased_until = \(bind: leaseUntil.millis) FROM due
                WHERE outbox.id = due.due_id AND outbox.sent_at IS NULL
                AND (outbox.leased_until IS NULL OR outbox.leased_until <= \(bind: now.millis))
                RETURNING id, recipient, sealed, created_at, attempts, next_attempt_at, sent_at, last_error
                """).all()
            return try rows.map(Self.outboxMessage).sorted { $0.createdAt < $1.createdAt }
        }
    }

    public func markOutboxSent(id: String, at: Date) async throws {
        try await executor.writeRecords { db in
            try await db.raw("UPDATE outbox SET sent_at = \(bind: at.millis), sealed = NULL, leased_until = NULL, last_error = NULL WHERE id = \(bind: id)").run()
        }
    }

    public func markOutboxFailed(id: String, attempts: Int, nextAttemptAt: Date, error: String) async throws {
        try await executor.writeRecords { db in
            try await db.raw("""
                UPDATE outbox SET attempts = \(bind: attempts), next_attempt_at = \(bind: nextAttemptAt.millis), leased_until = NULL,
                last_error = \(bind: String(error.prefix(500))) WHERE id = \(bind: id) AND sent_at IS NULL
                """).run()
        }
    }

    public func pendingOutbox(limit: Int) async throws -> [OutboxMessage] {
        try await executor.read { db in
            try await db.raw("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY created_at, id LIMIT \(bind: max(1, limit))").all().map(Self.outboxMessage)
        }
    }

    static func outboxMessage(_ row: any SQLRow) throws -> OutboxMessage {
        OutboxMessage(id: try row.decode(column: "id", as: String.self), recipient: try row.decode(column: "recipient", as: String.self),
                      sealed: try row.decode(column: "sealed", as: Data?.self),
                      createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                      attempts: try row.decode(column: "attempts", as: Int.self),
                      nextAttemptAt: Date(millis: try row.decode(column: "next_attempt_at", as: Int64.self)),
                      sentAt: try row.decode(column: "sent_at", as: Int64?.self).map(Date.init(millis:)),
                      lastError: try row.decode(column: "last_error", as: String?.self))
    }
}
