import Foundation
import PosternCore
import SQLKit

// Sessions: `SessionStore` on SQL.
extension SQLStore: SessionStore {
    public func createSession(_ session: Session, audit: AuditEvent) async throws {
        try await executor.write { db in
            try await db.raw("""
                INSERT INTO sessions (token_digest, account_id, kind, stage, created_at, expires_at, authenticated_at, last_seen_at, failures)
                VALUES (\(bind: session.tokenDigest), \(bind: session.accountID), \(bind: session.kind.rawValue), \(bind: session.stage.rawValue),
                        \(bind: session.createdAt.millis), \(bind: session.expiresAt.millis), \(bind: session.authenticatedAt.millis),
                        \(bind: session.lastSeenAt.millis), \(bind: session.failures))
                """).run()
            try await Self.insert([audit], db)
        }
    }

    public func session(tokenDigest: Data, now: Date) async throws -> Session? {
        try await executor.read { db in
            try await db.raw("""
                SELECT * FROM sessions WHERE token_digest = \(bind: tokenDigest) AND expires_at > \(bind: now.millis)
                """).first().map(Self.session)
        }
    }

    public func takeSession(tokenDigest: Data, now: Date) async throws -> Session? {
        try await executor.write { db in
            try await db.raw("""
                DELETE FROM sessions WHERE token_digest = \(bind: tokenDigest) AND expires_at > \(bind: now.millis) RETURNING *
                """).first().map(Self.session)
        }
    }

    static func session(_ row: any SQLRow) throws -> Session {
        let created = Date(millis: try row.decode(column: "created_at", as: Int64.self))
        return Session(tokenDigest: try row.decode(column: "token_digest", as: Data.self),
                       accountID: try row.decode(column: "account_id", as: String.self),
                       kind: Session.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .api,
                       stage: Session.Stage(rawValue: try row.decode(column: "stage", as: String.self)) ?? .secondFactor,
                       createdAt: created,
                       expiresAt: Date(millis: try row.decode(column: "expires_at", as: Int64.self)),
                       authenticatedAt: Date(millis: try row.decode(column: "authenticated_at", as: Int64.self)),
                       lastSeenAt: try row.decode(column: "last_seen_at", as: Int64?.self).map(Date.init(millis:)) ?? created,
                       failures: try row.decode(column: "failures", as: Int.self))
    }

    public func deleteSession(tokenDigest: Data, audit: AuditEvent?) async throws {
        try await executor.write { db in
            try await db.raw("DELETE FROM sessions WHERE token_digest = \(bind: tokenDigest)").run()
            if let audit { try await Self.insert([audit], db) }
        }
    }

    public func deleteSessions(accountID: String, keeping: Data?) async throws -> Int {
        try await executor.write { db in
            if let keeping {
                return try await db.raw("DELETE FROM sessions WHERE account_id = \(bind: accountID) AND token_digest <> \(bind: keeping) RETURNING account_id").all().count
            }
            return try await db.raw("DELETE FROM sessions WHERE account_id = \(bind: accountID) RETURNING account_id").all().count
        }
    }

    public func touchSession(tokenDigest: Data, lastSeenAt: Date, authenticatedAt: Date?) async throws {
        try await executor.write { db in
            if let authenticatedAt {
                try await db.raw("""
                    UPDATE sessions SET last_seen_at = \(bind: lastSeenAt.millis), authenticated_at = \(bind: authenticatedAt.millis)
                    WHERE token_digest = \(bind: tokenDigest)
                    """).run()
            } else {
                try await db.raw("UPDATE sessions SET last_seen_at = \(bind: lastSeenAt.millis) WHERE token_digest = \(bind: tokenDigest)").run()
            }
        }
    }

    public func addSessionFailure(tokenDigest: Data) async throws -> Int {
        try await executor.write { db in
            try await db.raw("UPDATE sessions SET failures = failures + 1 WHERE token_digest = \(bind: tokenDigest) RETURNING failures")
                .first()?.decode(column: "failures", as: Int.self) ?? 0
        }
    }
}
