import Foundation
import PosternCore
import SQLKit

// Recovery codes: `RecoveryCodeStore` on SQL.
extension SQLStore: RecoveryCodeStore {
    public func replaceRecoveryCodes(accountID: String, codes: [RecoveryCodeRecord], audit: AuditEvent) async throws {
        try await executor.write { db in
            try await db.raw("DELETE FROM recovery_codes WHERE account_id = \(bind: accountID)").run()
            for code in codes {
                try await db.raw("""
                    INSERT INTO recovery_codes (id, account_id, salt, hash) VALUES (\(bind: code.id), \(bind: accountID), \(bind: code.salt), \(bind: code.hash))
                    """).run()
            }
            try await Self.insert([audit], db)
        }
    }

    public func unusedRecoveryCodes(accountID: String) async throws -> [RecoveryCodeRecord] {
        try await executor.read { db in
            try await db.raw("SELECT * FROM recovery_codes WHERE account_id = \(bind: accountID) AND used_at IS NULL ORDER BY id").all().map { row in
                RecoveryCodeRecord(id: try row.decode(column: "id", as: String.self), accountID: accountID,
                                   salt: try row.decode(column: "salt", as: Data.self), hash: try row.decode(column: "hash", as: Data.self))
            }
        }
    }

    public func burnRecoveryCode(id: String, accountID: String, at: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("""
                UPDATE recovery_codes SET used_at = \(bind: at.millis) WHERE id = \(bind: id) AND account_id = \(bind: accountID) AND used_at IS NULL
                RETURNING id
                """).first() != nil
            if done { try await Self.insert([audit], db) }
            return done
        }
    }
}
