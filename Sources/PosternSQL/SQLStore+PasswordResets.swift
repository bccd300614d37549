import Foundation
import PosternCore
import SQLKit

// Password resets: `PasswordResetStore` on SQL.
extension SQLStore: PasswordResetStore {
    public func savePasswordReset(_ reset: PasswordReset, unlessOpenSince: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            // Take the account's row lock first (a no-op update), so two
            // concurrent requests for one account run one after the other and
            // the second sees the first's link, on PostgreSQL as on SQLite.
            try await Self.lockAccount(reset.accountID, db)
            let recent = try await db.raw("""
                SELECT account_id FROM password_resets WHERE account_id = \(bind: reset.accountID) AND used_at IS NULL
                AND expires_at > \(bind: reset.createdAt.millis) AND created_at > \(bind: unlessOpenSince.millis) LIMIT 1
                """).first()
            guard recent == nil else { return false }
            // At most one live link: every earlier open request ends here.
            try await db.raw("""
                UPDATE password_resets SET used_at = \(bind: reset.createdAt.millis) WHERE account_id = \(bind: reset.accountID) AND used_at IS NULL
                """).run()
            try await db.raw("""
                INSERT INTO password_resets (token_digest, account_id, created_at, expires_at)
                VALUES (\(bind: reset.tokenDigest), \(bind: reset.accountID), \(bind: reset.createdAt.millis), \(bind: reset.expiresAt.millis))
                """).run()
            try await Self.insert([audit], db)
            return true
        }
    }

    public func endPasswordReset(tokenDigest: Data, at: Date) async throws {
        try await executor.write { db in
            try await db.raw("UPDATE password_resets SET used_at = \(bind: at.millis) WHERE token_digest = \(bind: tokenDigest) AND used_at IS NULL").run()
        }
    }

    public func passwordReset(tokenDigest: Data, now: Date) async throws -> PasswordReset? {
        try await executor.read { db in
            try await db.raw("""
                SELECT * FROM password_resets WHERE token_digest = \(bind: tokenDigest) AND used_at IS NULL AND expires_at > \(bind: now.millis)
                """).first().map { row in
                PasswordReset(tokenDigest: try row.decode(column: "token_digest", as: Data.self), accountID: try row.decode(column: "account_id", as: String.self),
                              createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                              expiresAt: Date(millis: try row.decode(column: "expires_at", as: Int64.self)))
            }
        }
    }

    public func completePasswordReset(tokenDigest: Data, accountID: String, newPasswordHash: String, revokeAppPasswords: Bool,
                                      now: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let claimed = try await db.raw("""
                UPDATE password_resets SET used_at = \(bind: now.millis)
                WHERE token_digest = \(bind: tokenDigest) AND account_id = \(bind: accountID) AND used_at IS NULL AND expires_at > \(bind: now.millis)
                RETURNING account_id
                """).first() != nil
            guard claimed else { return false }
            try await db.raw("UPDATE accounts SET password_hash = \(bind: newPasswordHash) WHERE id = \(bind: accountID)").run()
            try await db.raw("DELETE FROM sessions WHERE account_id = \(bind: accountID)").run()
            if revokeAppPasswords {
                try await db.raw("UPDATE app_passwords SET revoked_at = \(bind: now.millis) WHERE account_id = \(bind: accountID) AND revoked_at IS NULL").run()
            }
            // Other requests for the same account stop working too.
            try await db.raw("UPDATE password_resets SET used_at = \(bind: now.millis) WHERE account_id = \(bind: accountID) AND used_at IS NULL").run()
            try await Self.insert([audit], db)
            return true
        }
    }
}
