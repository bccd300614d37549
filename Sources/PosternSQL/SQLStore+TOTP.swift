import Foundation
import PosternCore
import SQLKit

// TOTP: `TOTPStore` on SQL.
extension SQLStore: TOTPStore {
    public func totpFactor(accountID: String) async throws -> TOTPFactor? {
        try await executor.read { db in
            guard let row = try await db.raw("SELECT * FROM totp_factors WHERE account_id = \(bind: accountID)").first() else { return nil }
            return TOTPFactor(accountID: accountID,
                              sealedSecret: try row.decode(column: "sealed_secret", as: Data.self),
                              createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                              confirmedAt: try row.decode(column: "confirmed_at", as: Int64?.self).map(Date.init(millis:)),
                              lastStep: try row.decode(column: "last_step", as: Int64?.self))
        }
    }

    public func savePendingTOTP(_ factor: TOTPFactor) async throws -> Bool {
        try await executor.write { db in
            try await db.raw("DELETE FROM totp_factors WHERE account_id = \(bind: factor.accountID) AND confirmed_at IS NULL").run()
            let inserted = try await db.raw("""
                INSERT INTO totp_factors (account_id, sealed_secret, created_at) VALUES (\(bind: factor.accountID), \(bind: factor.sealedSecret), \(bind: factor.createdAt.millis))
                ON CONFLICT (account_id) DO NOTHING RETURNING account_id
                """).first()
            return inserted != nil
        }
    }

    public func confirmTOTP(accountID: String, sealedSecret: Data, step: Int64, at: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("""
                UPDATE totp_factors SET confirmed_at = \(bind: at.millis), last_step = \(bind: step)
                WHERE account_id = \(bind: accountID) AND confirmed_at IS NULL AND sealed_secret = \(bind: sealedSecret) RETURNING account_id
                """).first() != nil
            if done { try await Self.insert([audit], db) }
            return done
        }
    }

    public func consumeTOTPStep(accountID: String, step: Int64) async throws -> Bool {
        try await executor.write { db in
            try await db.raw("""
                UPDATE totp_factors SET last_step = \(bind: step)
                WHERE account_id = \(bind: accountID) AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < \(bind: step))
                RETURNING account_id
                """).first() != nil
        }
    }

    public func deleteTOTP(accountID: String, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("DELETE FROM totp_factors WHERE account_id = \(bind: accountID) RETURNING account_id").first() != nil
            if done { try await Self.insert([audit], db) }
            return done
        }
    }
}
