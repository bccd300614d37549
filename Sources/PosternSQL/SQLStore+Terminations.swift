import Foundation
import PosternCore
import SQLKit

// Orders to end open sessions: `TerminationStore` on SQL, claimed and retried
// like the outbox.
extension SQLStore: TerminationStore {
    /// Queues orders with the event that caused them; an order whose once-key
    /// exists is dropped.
    static func insertTerminations(_ orders: [TerminationTask], _ db: any SQLDatabase) async throws {
        for order in orders {
            try await db.raw("""
                INSERT INTO terminations (id, once_key, server, account_id, username, addresses, cause, created_at, attempts, next_attempt_at, state)
                VALUES (\(bind: order.id), \(bind: order.onceKey), \(bind: order.server), \(bind: order.accountID), \(bind: order.username),
                \(bind: order.addresses.joined(separator: ",")), \(bind: order.cause.rawValue), \(bind: order.createdAt.millis),
                \(bind: order.attempts), \(bind: order.nextAttemptAt.millis), 'pending')
                ON CONFLICT (once_key) DO NOTHING
                """).run()
        }
    }

    public func claimTerminations(now: Date, leaseUntil: Date, limit: Int) async throws -> [TerminationTask] {
        let skipLocked = executor.dialectName == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        return try await executor.write { db in
            // As with the outbox: the lease hides a claimed order from the
            // next claimer; PostgreSQL re-checks the outer WHERE on a row
            // another claimer just leased.
            let rows = try await db.raw("""
                WITH due (due_id) AS (
                    SELECT id FROM terminations WHERE state = 'pending' AND next_attempt_at <= \(bind: now.millis)
                    AND (leased_until IS NULL OR leased_until <= \(bind: now.millis))
                    ORDER BY next_attempt_at LIMIT \(bind: max(1, limit))\(unsafeRaw: skipLocked))
                UPDATE terminations SET leased_until = \(bind: leaseUntil.millis) FROM due
                WHERE terminations.id = due.due_id AND terminations.state = 'pending'
                AND (terminations.leased_until IS NULL OR terminations.leased_until <= \(bind: now.millis))
                RETURNING \(unsafeRaw: Self.terminationColumns)
                """).all()
            return try rows.map(Self.termination).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func recordTerminationAttempt(id: String, attempts: Int, _ attempt: TerminationAttempt, audit: AuditEvent) async throws -> Bool {
        let (state, next, error): (String, Int64?, String?) = switch attempt {
        case .done: ("done", nil, nil)
        case .retry(let at, let error): ("pending", at.millis, error)
        case .failed(let error): ("failed", nil, error)
        }
        return try await executor.write { db in
            let changed = try await db.raw("""
                UPDATE terminations SET state = \(bind: state), attempts = \(bind: attempts), leased_until = NULL,
                next_attempt_at = COALESCE(\(bind: next), next_attempt_at), last_error = \(bind: error.map { String($0.prefix(500)) })
                WHERE id = \(bind: id) AND state = 'pending' RETURNING id
                """).first() != nil
            if changed { try await Self.insert([audit], db) }
            return changed
        }
    }

    public func terminations(accountID: String?, limit: Int) async throws -> [TerminationTask] {
        try await executor.read { db in
            var query = SQLQueryString("SELECT \(unsafeRaw: Self.terminationColumns) FROM terminations")
            if let accountID {
                query.appendInterpolation(unsafeRaw: " WHERE account_id = ")
                query.appendInterpolation(bind: accountID)
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY created_at DESC, id DESC LIMIT ")
            query.appendInterpolation(bind: max(1, min(limit, 1000)))
            return try await db.raw(query).all().map(Self.termination)
        }
    }

    static let terminationColumns = "id, once_key, server, account_id, username, addresses, cause, created_at, attempts, next_attempt_at, state, last_error"

    static func termination(_ row: any SQLRow) throws -> TerminationTask {
        let addresses = try row.decode(column: "addresses", as: String.self)
        let cause = try row.decode(column: "cause", as: String.self)
        let state = try row.decode(column: "state", as: String.self)
        return TerminationTask(
            id: try row.decode(column: "id", as: String.self), onceKey: try row.decode(column: "once_key", as: String.self),
            server: try row.decode(column: "server", as: String.self), accountID: try row.decode(column: "account_id", as: String.self),
            username: try row.decode(column: "username", as: String.self),
            addresses: addresses.split(separator: ",").map(String.init),
            cause: TerminationCause(rawValue: cause) ?? .accountDisabled,
            createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
            attempts: try row.decode(column: "attempts", as: Int.self),
            nextAttemptAt: Date(millis: try row.decode(column: "next_attempt_at", as: Int64.self)),
            state: TerminationTask.State(rawValue: state) ?? .failed,
            lastError: try row.decode(column: "last_error", as: String?.self))
    }
}
