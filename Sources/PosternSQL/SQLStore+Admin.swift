import Foundation
import PosternCore
import SQLKit

// The operator's console: `AdminStore` on SQL. The overview's queries count
// in the database; `AdminOverviewQueries` fills the gaps of the series.
extension SQLStore: AdminStore {
    public func setAdmin(accountID: String, _ admin: Bool, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let found = try await db.raw("UPDATE accounts SET admin = \(bind: admin ? 1 : 0) WHERE id = \(bind: accountID) RETURNING id").first() != nil
            if found { try await Self.insert([audit], db) }
            return found
        }
    }

    public func endSessions(accountID: String, audit: AuditEvent) async throws -> Int {
        try await executor.write { db in
            let ended = try await db.raw("DELETE FROM sessions WHERE account_id = \(bind: accountID) RETURNING account_id").all().count
            try await Self.insert([audit], db)
            return ended
        }
    }

    public func adminLog(before: AuditCursor?, limit: Int) async throws -> [AdminLogEntry] {
        try await executor.read { db in
            var query = SQLQueryString("SELECT * FROM admin_log")
            if let before { Self.append(" WHERE", before, to: &query) }
            query.appendInterpolation(unsafeRaw: " ORDER BY at DESC, id DESC LIMIT ")
            query.appendInterpolation(bind: max(1, min(limit, 1000)))
            return try await db.raw(query).all().map { row in
                AdminLogEntry(id: try row.decode(column: "id", as: String.self), at: Date(millis: try row.decode(column: "at", as: Int64.self)),
                              adminID: try row.decode(column: "admin_id", as: String?.self),
                              adminUsername: try row.decode(column: "admin_username", as: String.self),
                              action: AdminAction(rawValue: try row.decode(column: "action", as: String.self)) ?? .disable,
                              targetID: try row.decode(column: "target_id", as: String?.self),
                              targetUsername: try row.decode(column: "target_username", as: String?.self),
                              detail: try row.decode(column: "detail", as: String?.self),
                              clientIP: try row.decode(column: "client_ip", as: String?.self))
            }
        }
    }

    /// The summary columns of `a` (an account): each "last" is the newest
    /// matching row by the (account, time) index, read backwards.
    static let summaryColumns = """
        a.id, a.username, a.disabled, a.admin, \(mfaExpression),
        (SELECT COUNT(*) FROM app_passwords p WHERE p.account_id = a.id AND p.revoked_at IS NULL) AS apps,
        (SELECT e.at FROM audit_events e WHERE e.account_id = a.id AND e.kind = 'sign_in' AND e.result = 'allow' ORDER BY e.at DESC LIMIT 1) AS last_sign_in,
        (SELECT e.at FROM audit_events e WHERE e.account_id = a.id AND e.kind = 'protocol_login' AND e.result = 'allow' ORDER BY e.at DESC LIMIT 1) AS last_login
        FROM accounts a
        """

    public func adminUsers(matching query: String?, after: String?, limit: Int) async throws -> [AdminUserSummary] {
        try await executor.read { db in
            var sql = SQLQueryString("SELECT \(unsafeRaw: Self.summaryColumns) WHERE a.username > \(bind: after ?? "")")
            if let query, !query.isEmpty {
                // LIKE with its wildcards escaped: the query is matched as text.
                let escaped = query.lowercased().replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                sql.appendInterpolation(unsafeRaw: " AND a.username LIKE ")
                sql.appendInterpolation(bind: "%" + escaped + "%")
                sql.appendInterpolation(unsafeRaw: " ESCAPE '\\'")
            }
            sql.appendInterpolation(unsafeRaw: " ORDER BY a.username LIMIT ")
            sql.appendInterpolation(bind: max(1, min(limit, 200)))
            return try await db.raw(sql).all().map(Self.summary)
        }
    }

    public func adminUser(id: String) async throws -> AdminUserSummary? {
        try await executor.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.summaryColumns) WHERE a.id = \(bind: id)").first().map(Self.summary)
        }
    }

    static func summary(_ row: any SQLRow) throws -> AdminUserSummary {
        AdminUserSummary(id: try row.decode(column: "id", as: String.self), username: try row.decode(column: "username", as: String.self),
                         disabled: try row.decode(column: "disabled", as: Int.self) != 0, isAdmin: try row.decode(column: "admin", as: Int.self) != 0,
                         mfaEnabled: try row.decode(column: "mfa", as: Int.self) != 0, appPasswords: try row.decode(column: "apps", as: Int.self),
                         lastSignInAt: try row.decode(column: "last_sign_in", as: Int64?.self).map(Date.init(millis:)),
                         lastProtocolLoginAt: try row.decode(column: "last_login", as: Int64?.self).map(Date.init(millis:)))
    }

    public func adminOverview(now: Date, days: Int) async throws -> AdminOverview {
        try await executor.read { db in
            AdminOverview(days: days, domains: try await Self.domains(db),
                          accountPasswordClients: try await Self.accountPasswordClients(now: now, days: days, db),
                          staleAppPasswords: try await Self.staleAppPasswords(now: now, db), refusals: try await Self.refusals(now: now, db),
                          hours: try await Self.hours(now: now, db), adoption: try await Self.adoption(now: now, db))
        }
    }
}

extension SQLStore {
    static func domains(_ db: any SQLDatabase) async throws -> [AdminOverview.Domain] {
        // Grouped here rather than in SQL: the domain is what follows the
        // last "@", which the two databases spell differently.
        var domains: [String: (Int, Int)] = [:]
        for row in try await db.raw("SELECT a.username, \(unsafeRaw: mfaExpression) FROM accounts a").all() {
            let domain = Username.domain(of: try row.decode(column: "username", as: String.self))
            let mfa = try row.decode(column: "mfa", as: Int.self) != 0
            domains[domain, default: (0, 0)].0 += 1
            if mfa { domains[domain, default: (0, 0)].1 += 1 }
        }
        return domains.map { AdminOverview.Domain(domain: $0.key, accounts: $0.value.0, withMFA: $0.value.1) }.sorted { $0.domain < $1.domain }
    }

    static func accountPasswordClients(now: Date, days: Int, _ db: any SQLDatabase) async throws -> [AdminOverview.AccountPasswordClient] {
        let since = now.addingTimeInterval(-Double(days) * 86_400).millis
        // The known-good index holds exactly the account-password successes.
        return try await db.raw("""
            SELECT a.username, e.protocol, e.client_ip, MAX(e.at) AS last_at, COUNT(*) AS logins
            FROM audit_events e JOIN accounts a ON a.id = e.account_id
            WHERE e.kind = 'protocol_login' AND e.result = 'allow' AND e.credential = 'account_password'
              AND e.protocol IS NOT NULL AND e.at >= \(bind: since)
            GROUP BY a.username, e.protocol, e.client_ip
            ORDER BY last_at DESC, a.username DESC LIMIT \(unsafeRaw: String(AdminOverviewQueries.rows))
            """).all().compactMap { row in
            guard let loginProtocol = LoginProtocol(rawValue: try row.decode(column: "protocol", as: String.self)) else { return nil }
            return AdminOverview.AccountPasswordClient(username: try row.decode(column: "username", as: String.self), loginProtocol: loginProtocol,
                                                       clientIP: try row.decode(column: "client_ip", as: String?.self),
                                                       lastAt: Date(millis: try row.decode(column: "last_at", as: Int64.self)),
                                                       logins: try row.decode(column: "logins", as: Int.self))
        }
    }

    static func staleAppPasswords(now: Date, _ db: any SQLDatabase) async throws -> [AdminOverview.StaleAppPassword] {
        let cutoff = now.addingTimeInterval(-AdminOverview.staleAfter).millis
        return try await db.raw("""
            SELECT a.username, p.id, p.name, p.created_at, p.last_used_at FROM app_passwords p JOIN accounts a ON a.id = p.account_id
            WHERE p.revoked_at IS NULL AND (p.expires_at IS NULL OR p.expires_at > \(bind: now.millis))
              AND COALESCE(p.last_used_at, p.created_at) < \(bind: cutoff)
            ORDER BY COALESCE(p.last_used_at, p.created_at), p.id LIMIT \(unsafeRaw: String(AdminOverviewQueries.rows))
            """).all().map { row in
            AdminOverview.StaleAppPassword(username: try row.decode(column: "username", as: String.self), id: try row.decode(column: "id", as: String.self),
                                           name: try row.decode(column: "name", as: String.self),
                                           createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                                           lastUsedAt: try row.decode(column: "last_used_at", as: Int64?.self).map(Date.init(millis:)))
        }
    }

    static func refusals(now: Date, _ db: any SQLDatabase) async throws -> [AdminOverview.ReasonCount] {
        try await db.raw("""
            SELECT COALESCE(reason, 'unknown') AS reason, COUNT(*) AS n FROM audit_events
            WHERE at >= \(bind: now.addingTimeInterval(-86_400).millis) AND result = 'deny' AND kind IN ('protocol_login', 'sign_in')
            GROUP BY COALESCE(reason, 'unknown') ORDER BY n DESC, reason
            """).all().map { row in
            AdminOverview.ReasonCount(reason: try row.decode(column: "reason", as: String.self), count: try row.decode(column: "n", as: Int.self))
        }
    }

    static func hours(now: Date, _ db: any SQLDatabase) async throws -> [AdminOverview.Hour] {
        let window = AdminOverviewQueries.hourWindow(now: now)
        var counts: [Int64: (Int, Int)] = [:]
        for row in try await db.raw("""
            SELECT at / 3600000 AS h, SUM(CASE WHEN result = 'allow' THEN 1 ELSE 0 END) AS allowed,
                   SUM(CASE WHEN result = 'deny' THEN 1 ELSE 0 END) AS refused
            FROM audit_events WHERE at >= \(bind: window.from.millis) AND kind IN ('protocol_login', 'sign_in') GROUP BY at / 3600000
            """).all() {
            counts[try row.decode(column: "h", as: Int64.self)] = (try row.decode(column: "allowed", as: Int.self), try row.decode(column: "refused", as: Int.self))
        }
        return AdminOverviewQueries.hours(window, counts)
    }

    static func adoption(now: Date, _ db: any SQLDatabase) async throws -> [AdminOverview.Day] {
        func byDay(_ sql: SQLQueryString) async throws -> [Int64: Int] {
            var counts: [Int64: Int] = [:]
            for row in try await db.raw(sql).all() { counts[try row.decode(column: "d", as: Int64.self)] = try row.decode(column: "n", as: Int.self) }
            return counts
        }
        let created = try await byDay("SELECT created_at / 86400000 AS d, COUNT(*) AS n FROM accounts GROUP BY created_at / 86400000")
        let protected = try await byDay("""
            SELECT f / 86400000 AS d, COUNT(*) AS n FROM (
              SELECT account_id, MIN(at) AS f FROM (
                SELECT account_id, confirmed_at AS at FROM totp_factors WHERE confirmed_at IS NOT NULL
                UNION ALL SELECT account_id, created_at AS at FROM security_keys) x
              GROUP BY account_id) y
            GROUP BY f / 86400000
            """)
        return AdminOverviewQueries.adoption(now: now, created: created, protected: protected)
    }
}
