import Foundation
import PosternCore
import SQLKit

// Accounts: `AccountStore` on SQL.
extension SQLStore: AccountStore {
    /// MFA is on with a confirmed authenticator app or any security key.
    static let mfaExpression = """
        CASE WHEN EXISTS (SELECT 1 FROM totp_factors t WHERE t.account_id = a.id AND t.confirmed_at IS NOT NULL)
          OR EXISTS (SELECT 1 FROM security_keys k WHERE k.account_id = a.id) THEN 1 ELSE 0 END AS mfa
        """

    static let accountColumns = """
        a.id, a.username, a.password_hash, a.disabled, a.admin, a.created_at, \(mfaExpression) FROM accounts a
        """

    public func createAccount(_ account: Account, audit: AuditEvent) async throws {
        try await executor.write { db in
            try await db.raw("""
                INSERT INTO accounts (id, username, password_hash, disabled, created_at)
                VALUES (\(bind: account.id), \(bind: account.username), \(bind: account.passwordHash), \(bind: account.disabled ? 1 : 0), \(bind: account.createdAt.millis))
                """).run()
            try await Self.insert([audit], db)
        }
    }

    public func account(username: String) async throws -> Account? {
        try await executor.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.accountColumns) WHERE a.username = \(bind: username)").first().map(Self.account)
        }
    }

    public func account(id: String) async throws -> Account? {
        try await executor.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.accountColumns) WHERE a.id = \(bind: id)").first().map(Self.account)
        }
    }

    public func listAccounts() async throws -> [Account] {
        try await executor.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.accountColumns) ORDER BY a.username").all().map(Self.account)
        }
    }

    public func setDisabled(accountID: String, _ disabled: Bool, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let found = try await db.raw("UPDATE accounts SET disabled = \(bind: disabled ? 1 : 0) WHERE id = \(bind: accountID) RETURNING id").first() != nil
            if found { try await Self.insert([audit], db) }
            return found
        }
    }

    public func replacePasswordHash(accountID: String, expected: String, new: String, audit: AuditEvent?) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("""
                UPDATE accounts SET password_hash = \(bind: new) WHERE id = \(bind: accountID) AND password_hash = \(bind: expected) RETURNING id
                """).first() != nil
            if done, let audit { try await Self.insert([audit], db) }
            return done
        }
    }

    /// One query that stops at the first match. The pattern's wildcards are
    /// escaped, so a domain matches only itself; usernames are stored in
    /// canonical (lower-case) form, as the domain arrives, so SQLite's
    /// case-insensitive `LIKE` and PostgreSQL's case-sensitive one agree.
    /// Every username, read once and reduced here (the two databases spell
    /// "after the last @" differently); the caller keeps the set a minute.
    public func accountDomains() async throws -> Set<String> {
        try await executor.read { db in
            Set(try await db.raw("SELECT username FROM accounts").all().map { Username.domain(of: try $0.decode(column: "username", as: String.self)) })
        }
    }

    static func account(_ row: any SQLRow) throws -> Account {
        Account(id: try row.decode(column: "id", as: String.self),
                username: try row.decode(column: "username", as: String.self),
                passwordHash: try row.decode(column: "password_hash", as: String.self),
                disabled: try row.decode(column: "disabled", as: Int.self) != 0,
                createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                mfaEnabled: try row.decode(column: "mfa", as: Int.self) != 0,
                isAdmin: try row.decode(column: "admin", as: Int.self) != 0)
    }
}
