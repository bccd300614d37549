import Foundation
import PosternCore
import SQLKit

// Audit: `AuditStore` on SQL.
extension SQLStore: AuditStore {
    public func auditEvents(accountID: String, limit: Int) async throws -> [AuditEvent] {
        try await auditEvents(accountID: accountID, before: nil, kinds: nil, limit: limit)
    }

    public func auditEvents(accountID: String, before: AuditCursor?, kinds: Set<AuditEvent.Kind>?, limit: Int) async throws -> [AuditEvent] {
        try await executor.read { db in
            var query = SQLQueryString("SELECT * FROM audit_events WHERE account_id = \(bind: accountID)")
            if let before { Self.append(" AND", before, to: &query) }
            if let kinds {
                if kinds.isEmpty { return [] }
                query.appendInterpolation(unsafeRaw: " AND kind IN (")
                for (index, kind) in kinds.map(\.rawValue).sorted().enumerated() {
                    if index > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                    query.appendInterpolation(bind: kind)
                }
                query.appendInterpolation(unsafeRaw: ")")
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY at DESC, id DESC LIMIT ")
            query.appendInterpolation(bind: max(1, min(limit, 1000)))
            return try await db.raw(query).all().map { row in
                AuditEvent(id: try row.decode(column: "id", as: String.self),
                           accountID: try row.decode(column: "account_id", as: String?.self),
                           kind: AuditEvent.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .protocolLogin,
                           result: AuditEvent.Outcome(rawValue: try row.decode(column: "result", as: String.self)) ?? .deny,
                           reason: try row.decode(column: "reason", as: String?.self),
                           loginProtocol: try row.decode(column: "protocol", as: String?.self).flatMap(LoginProtocol.init(rawValue:)),
                           credential: try row.decode(column: "credential", as: String?.self),
                           appPasswordID: try row.decode(column: "app_password_id", as: String?.self),
                           clientIP: try row.decode(column: "client_ip", as: String?.self),
                           at: Date(millis: try row.decode(column: "at", as: Int64.self)))
                    .byAdministrator(try row.decode(column: "by_admin", as: Int.self) != 0)
            }
        }
    }

    /// `<joiner> (at < t OR (at = t AND id < i))`: rows strictly older than
    /// a cursor, newest-first paging by time, then id.
    static func append(_ joiner: String, _ before: AuditCursor, to query: inout SQLQueryString) {
        query.appendInterpolation(unsafeRaw: joiner + " (at < ")
        query.appendInterpolation(bind: before.at.millis)
        query.appendInterpolation(unsafeRaw: " OR (at = ")
        query.appendInterpolation(bind: before.at.millis)
        query.appendInterpolation(unsafeRaw: " AND id < ")
        query.appendInterpolation(bind: before.id)
        query.appendInterpolation(unsafeRaw: "))")
    }

    public func pruneAuditEvents(before: Date) async throws -> Int {
        try await executor.write { db in
            let events = try await db.raw("DELETE FROM audit_events WHERE at < \(bind: before.millis) RETURNING id").all().count
            // Sent messages' rows go with them; unsent ones stay until delivered.
            try await db.raw("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < \(bind: before.millis)").run()
            try await db.raw("DELETE FROM password_resets WHERE expires_at < \(bind: before.millis)").run()
            try await db.raw("DELETE FROM terminations WHERE state <> 'pending' AND created_at < \(bind: before.millis)").run()
            try await db.raw("DELETE FROM device_setups WHERE created_at < \(bind: before.millis)").run()
            return events
        }
    }

    public func recordLogins(lastUses: [LastUse], events: [AuditEvent]) async throws {
        if lastUses.isEmpty && events.isEmpty { return }
        try await executor.writeRecords { db in
            // One statement per 200 app passwords; an older time never
            // replaces a newer one (several instances may write).
            for start in stride(from: 0, to: lastUses.count, by: 200) {
                let chunk = lastUses[start..<min(start + 200, lastUses.count)]
                let rows = SQLList(chunk.map { use in
                    SQLGroupExpression([SQLBind(use.appPasswordID), SQLBind(use.at.millis), SQLBind(use.clientIP), SQLBind(use.loginProtocol.rawValue)])
                })
                try await db.raw("""
                    WITH v (id, at, ip, proto) AS (VALUES \(rows))
                    UPDATE app_passwords SET last_used_at = v.at, last_used_ip = v.ip, last_used_protocol = v.proto
                    FROM v WHERE app_passwords.id = v.id AND (app_passwords.last_used_at IS NULL OR app_passwords.last_used_at < v.at)
                    """).run()
            }
            try await Self.insert(events, db)
        }
    }

    /// Inserts audit events, many rows a statement, and their notices into
    /// the outbox (a notice with a once-key only if the key is new).
    static func insert(_ events: [AuditEvent], _ db: any SQLDatabase) async throws {
        let now = events.first?.at ?? Date()
        try await insertNotices(events.flatMap(\.notices), at: now, db)
        try await insertTerminations(events.flatMap(\.terminations), db)
        try await insertAdminLog(events.compactMap(\.adminLog), db)
        try await cancelDeviceSetups(for: events, db)
        for chunk in stride(from: 0, to: events.count, by: 200).map({ events[$0..<min($0 + 200, events.count)] }) {
            let insert = db.insert(into: "audit_events")
                .columns("id", "account_id", "kind", "result", "reason", "protocol", "credential", "app_password_id", "client_ip", "at", "by_admin")
            for event in chunk {
                insert.values([
                    SQLBind(event.id), SQLBind(event.accountID), SQLBind(event.kind.rawValue), SQLBind(event.result.rawValue),
                    SQLBind(event.reason), SQLBind(event.loginProtocol?.rawValue), SQLBind(event.credential),
                    SQLBind(event.appPasswordID), SQLBind(event.clientIP), SQLBind(event.at.millis), SQLBind(event.byAdministrator ? 1 : 0),
                ] as [any SQLExpression])
            }
            try await insert.run()
        }
    }

    /// Admin-log lines, with the change they record.
    static func insertAdminLog(_ lines: [AdminLogEntry], _ db: any SQLDatabase) async throws {
        for line in lines {
            try await db.raw("""
                INSERT INTO admin_log (id, at, admin_id, admin_username, action, target_id, target_username, detail, client_ip)
                VALUES (\(bind: line.id), \(bind: line.at.millis), \(bind: line.adminID), \(bind: line.adminUsername), \(bind: line.action.rawValue),
                        \(bind: line.targetID), \(bind: line.targetUsername), \(bind: line.detail), \(bind: line.clientIP))
                """).run()
        }
    }

    /// Notices into the outbox, many rows a statement: first the once-keys
    /// (those already written, and repeats within the batch, drop their
    /// notice), then the messages.
    static func insertNotices(_ notices: [Notice], at now: Date, _ db: any SQLDatabase) async throws {
        guard !notices.isEmpty else { return }
        var seen = Set<String>()
        let candidates = notices.filter { notice in notice.onceKey.map { seen.insert($0).inserted } ?? true }
        var fresh = Set<String>()
        let keys = candidates.compactMap(\.onceKey)
        for start in stride(from: 0, to: keys.count, by: 500) {
            let rows = SQLList(keys[start..<min(start + 500, keys.count)].map { SQLGroupExpression([SQLBind($0), SQLBind(now.millis)]) })
            let inserted = try await db.raw("INSERT INTO notice_keys (key, at) VALUES \(rows) ON CONFLICT (key) DO NOTHING RETURNING key").all()
            for row in inserted { fresh.insert(try row.decode(column: "key", as: String.self)) }
        }
        let due = candidates.filter { notice in notice.onceKey.map(fresh.contains) ?? true }
        for start in stride(from: 0, to: due.count, by: 200) {
            let rows = SQLList(due[start..<min(start + 200, due.count)].map { notice in
                SQLGroupExpression([SQLBind(notice.id), SQLBind(notice.recipient), SQLBind(notice.sealed), SQLBind(now.millis),
                                    SQLLiteral.numeric("0"), SQLBind(now.millis)])
            })
            try await db.raw("INSERT INTO outbox (id, recipient, sealed, created_at, attempts, next_attempt_at) VALUES \(rows)").run()
        }
    }
}
