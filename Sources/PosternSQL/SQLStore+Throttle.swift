import Foundation
import PosternCore
import SQLKit

// Shared throttle counters: `ThrottleStore` on SQL.
extension SQLStore: ThrottleStore {
    public func addFailure(key: String, window: TimeInterval, now: Date) async throws -> Int {
        let expired = now.addingTimeInterval(-window).millis
        return try await executor.writeRecords { db in
            let row = try await db.raw("""
                INSERT INTO throttle_counters (key, window_start, count) VALUES (\(bind: key), \(bind: now.millis), 1)
                ON CONFLICT (key) DO UPDATE SET
                    count = CASE WHEN throttle_counters.window_start <= \(bind: expired) THEN 1 ELSE throttle_counters.count + 1 END,
                    window_start = CASE WHEN throttle_counters.window_start <= \(bind: expired) THEN \(bind: now.millis)
                                        ELSE throttle_counters.window_start END
                RETURNING count
                """).first()
            return try row?.decode(column: "count", as: Int.self) ?? 1
        }
    }

    public func failures(key: String, window: TimeInterval, now: Date) async throws -> Int {
        try await executor.read { db in
            try await db.raw("""
                SELECT count FROM throttle_counters WHERE key = \(bind: key) AND window_start > \(bind: now.addingTimeInterval(-window).millis)
                """).first()?.decode(column: "count", as: Int.self) ?? 0
        }
    }

    public func removeFailure(key: String, window: TimeInterval, now: Date) async throws {
        try await executor.writeRecords { db in
            try await db.raw("""
                UPDATE throttle_counters SET count = count - 1
                WHERE key = \(bind: key) AND count > 0 AND window_start > \(bind: now.addingTimeInterval(-window).millis)
                """).run()
        }
    }

    public func pruneThrottleCounters(before: Date) async throws -> Int {
        try await executor.writeRecords { db in
            try await db.raw("DELETE FROM throttle_counters WHERE window_start < \(bind: before.millis) RETURNING key").all().count
        }
    }

    public func succeeded(accountID: String, clientIP: String, since: Date) async throws -> Bool {
        try await executor.read { db in
            try await db.raw("""
                SELECT id FROM audit_events WHERE account_id = \(bind: accountID) AND client_ip = \(bind: clientIP) AND at > \(bind: since.millis)
                AND \(unsafeRaw: Migrations.knownGoodCondition) LIMIT 1
                """).first() != nil
        }
    }
}
