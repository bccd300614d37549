import Foundation
import PosternCore
import SQLKit

// App passwords: `AppPasswordStore` on SQL.
extension SQLStore: AppPasswordStore {
    public func createAppPassword(_ record: AppPasswordRecord, limit: Int, audit: AuditEvent) async throws {
        try await executor.write { db in
            try await Self.lockAccount(record.accountID, db)
            try await Self.insertAppPassword(record, limit: limit, db)
            try await Self.insert([audit], db)
        }
    }

    /// The account's row lock, taken first by every write that counts the
    /// account's rows, so concurrent ones count one after the other (the
    /// limits hold on PostgreSQL as on SQLite) and always lock in one order.
    static func lockAccount(_ accountID: String, _ db: any SQLDatabase) async throws {
        try await db.raw("UPDATE accounts SET id = id WHERE id = \(bind: accountID)").run()
    }

    /// Inserts an app password unless the account has `limit` active ones;
    /// the caller holds the account's lock.
    static func insertAppPassword(_ record: AppPasswordRecord, limit: Int, _ db: any SQLDatabase) async throws {
        let row = try await db.raw("SELECT COUNT(*) AS n FROM app_passwords WHERE account_id = \(bind: record.accountID) AND revoked_at IS NULL").first()
        if try row?.decode(column: "n", as: Int.self) ?? 0 >= limit { throw PosternError.appPasswordLimit(limit) }
        try await db.raw("""
            INSERT INTO app_passwords (id, account_id, name, digest, protocols, created_at, expires_at)
            VALUES (\(bind: record.id), \(bind: record.accountID), \(bind: record.name), \(bind: record.digest),
                    \(bind: Self.encode(record.protocols)), \(bind: record.createdAt.millis), \(bind: record.expiresAt?.millis))
            """).run()
    }

    public func appPassword(digest: Data) async throws -> AppPasswordRecord? {
        try await executor.read { db in
            try await db.raw("SELECT * FROM app_passwords WHERE digest = \(bind: digest)").first().map(Self.appPassword)
        }
    }

    public func appPasswordWithAccount(digest: Data) async throws -> (AppPasswordRecord, Account)? {
        try await executor.read { db in
            guard let row = try await db.raw("""
                SELECT p.*, a.username, a.password_hash, a.disabled, a.created_at AS account_created_at, \(unsafeRaw: Self.mfaExpression)
                FROM app_passwords p JOIN accounts a ON a.id = p.account_id
                WHERE p.digest = \(bind: digest)
                """).first() else { return nil }
            let record = try Self.appPassword(row)
            let account = Account(id: record.accountID, username: try row.decode(column: "username", as: String.self),
                                  passwordHash: try row.decode(column: "password_hash", as: String.self),
                                  disabled: try row.decode(column: "disabled", as: Int.self) != 0,
                                  createdAt: Date(millis: try row.decode(column: "account_created_at", as: Int64.self)),
                                  mfaEnabled: try row.decode(column: "mfa", as: Int.self) != 0)
            return (record, account)
        }
    }

    public func listAppPasswords(accountID: String) async throws -> [AppPasswordRecord] {
        try await executor.read { db in
            try await db.raw("""
                SELECT * FROM app_passwords WHERE account_id = \(bind: accountID) AND revoked_at IS NULL ORDER BY created_at, id
                """).all().map(Self.appPassword)
        }
    }

    public func revokeAppPassword(accountID: String, id: String, at: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("""
                UPDATE app_passwords SET revoked_at = \(bind: at.millis)
                WHERE id = \(bind: id) AND account_id = \(bind: accountID) AND revoked_at IS NULL RETURNING id
                """).first() != nil
            if done { try await Self.insert([audit], db) }
            return done
        }
    }

    public func revokeAllAppPasswords(accountID: String, at: Date, audit: AuditEvent) async throws -> Int {
        try await executor.write { db in
            let rows = try await db.raw("""
                UPDATE app_passwords SET revoked_at = \(bind: at.millis) WHERE account_id = \(bind: accountID) AND revoked_at IS NULL RETURNING id
                """).all()
            if !rows.isEmpty {
                try await Self.insert([audit], db)
            } else {
                try await Self.cancelDeviceSetups(for: [audit], db)  // nothing to revoke, still no link may mint one
            }
            return rows.count
        }
    }

    static func encode(_ protocols: Set<LoginProtocol>) -> String {
        LoginProtocol.allCases.filter(protocols.contains).map(\.rawValue).joined(separator: ",")
    }

    static func appPassword(_ row: any SQLRow) throws -> AppPasswordRecord {
        let id = try row.decode(column: "id", as: String.self)
        var lastUse: LastUse?
        if let at = try row.decode(column: "last_used_at", as: Int64?.self) {
            lastUse = LastUse(appPasswordID: id, at: Date(millis: at),
                              clientIP: try row.decode(column: "last_used_ip", as: String?.self),
                              loginProtocol: LoginProtocol(rawValue: try row.decode(column: "last_used_protocol", as: String?.self) ?? "") ?? .other)
        }
        return AppPasswordRecord(
            id: id,
            accountID: try row.decode(column: "account_id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            digest: try row.decode(column: "digest", as: Data.self),
            protocols: Set(try row.decode(column: "protocols", as: String.self).split(separator: ",").compactMap { LoginProtocol(rawValue: String($0)) }),
            createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: try row.decode(column: "expires_at", as: Int64?.self).map(Date.init(millis:)),
            revokedAt: try row.decode(column: "revoked_at", as: Int64?.self).map(Date.init(millis:)),
            lastUse: lastUse)
    }
}
