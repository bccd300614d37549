import Foundation
import PosternCore
import SQLKit

// Security keys: `SecurityKeyStore` on SQL.
extension SQLStore: SecurityKeyStore {
    public func addSecurityKey(_ key: SecurityKey, audit: AuditEvent) async throws {
        try await executor.write { db in
            try await db.raw("""
                INSERT INTO security_keys (credential_id, account_id, name, public_key, algorithm, sign_count, created_at)
                VALUES (\(bind: key.credentialID), \(bind: key.accountID), \(bind: key.name), \(bind: key.publicKey), \(bind: key.algorithm),
                        \(bind: Int64(key.signCount)), \(bind: key.createdAt.millis))
                """).run()
            try await Self.insert([audit], db)
        }
    }

    public func securityKeys(accountID: String) async throws -> [SecurityKey] {
        try await executor.read { db in
            try await db.raw("SELECT * FROM security_keys WHERE account_id = \(bind: accountID) ORDER BY created_at, name").all().map { row in
                SecurityKey(credentialID: try row.decode(column: "credential_id", as: Data.self),
                            accountID: try row.decode(column: "account_id", as: String.self),
                            name: try row.decode(column: "name", as: String.self),
                            publicKey: try row.decode(column: "public_key", as: Data.self),
                            algorithm: try row.decode(column: "algorithm", as: Int.self),
                            signCount: UInt32(clamping: try row.decode(column: "sign_count", as: Int64.self)),
                            createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                            lastUsedAt: try row.decode(column: "last_used_at", as: Int64?.self).map(Date.init(millis:)))
            }
        }
    }

    public func useSecurityKey(credentialID: Data, accountID: String, signCount: UInt32, at: Date) async throws -> Bool {
        try await executor.write { db in
            try await db.raw("""
                UPDATE security_keys SET sign_count = \(bind: Int64(signCount)), last_used_at = \(bind: at.millis)
                WHERE credential_id = \(bind: credentialID) AND account_id = \(bind: accountID)
                  AND (sign_count < \(bind: Int64(signCount)) OR (sign_count = 0 AND \(bind: Int64(signCount)) = 0))
                RETURNING account_id
                """).first() != nil
        }
    }

    public func removeSecurityKey(credentialID: Data, accountID: String, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("""
                DELETE FROM security_keys WHERE credential_id = \(bind: credentialID) AND account_id = \(bind: accountID) RETURNING account_id
                """).first() != nil
            if done { try await Self.insert([audit], db) }
            return done
        }
    }

    public func removeSecurityKeyUnlessLast(credentialID: Data, accountID: String, audit: AuditEvent) async throws -> SecurityKeyRemoval {
        try await executor.write { db in
            // The account's row lock first, so concurrent removals run one after the other.
            try await Self.lockAccount(accountID, db)
            let others = try await db.raw("""
                SELECT
                  (SELECT COUNT(*) FROM security_keys WHERE account_id = \(bind: accountID) AND credential_id <> \(bind: credentialID)) AS keys,
                  (SELECT COUNT(*) FROM totp_factors WHERE account_id = \(bind: accountID) AND confirmed_at IS NOT NULL) AS totp
                """).first()
            let remaining = try (others?.decode(column: "keys", as: Int.self) ?? 0) + (others?.decode(column: "totp", as: Int.self) ?? 0)
            let exists = try await db.raw("""
                SELECT account_id FROM security_keys WHERE credential_id = \(bind: credentialID) AND account_id = \(bind: accountID)
                """).first() != nil
            guard exists else { return .notFound }
            guard remaining > 0 else { return .lastFactor }
            try await db.raw("DELETE FROM security_keys WHERE credential_id = \(bind: credentialID) AND account_id = \(bind: accountID)").run()
            try await Self.insert([audit], db)
            return .removed
        }
    }

    public func saveChallenge(_ challenge: Challenge) async throws {
        try await executor.write { db in
            try await db.raw("""
                INSERT INTO challenges (id, account_id, purpose, bytes, expires_at)
                VALUES (\(bind: challenge.id), \(bind: challenge.accountID), \(bind: challenge.purpose.rawValue), \(bind: challenge.bytes),
                        \(bind: challenge.expiresAt.millis))
                """).run()
        }
    }

    public func takeChallenge(id: String, accountID: String, purpose: Challenge.Purpose, now: Date) async throws -> Challenge? {
        try await executor.write { db in
            try await db.raw("DELETE FROM challenges WHERE expires_at <= \(bind: now.millis)").run()
            guard let row = try await db.raw("""
                DELETE FROM challenges WHERE id = \(bind: id) AND account_id = \(bind: accountID) AND purpose = \(bind: purpose.rawValue)
                RETURNING *
                """).first() else { return nil }
            let challenge = Challenge(id: id, accountID: accountID, purpose: purpose, bytes: try row.decode(column: "bytes", as: Data.self),
                                      expiresAt: Date(millis: try row.decode(column: "expires_at", as: Int64.self)))
            return challenge.expiresAt > now ? challenge : nil
        }
    }
}
