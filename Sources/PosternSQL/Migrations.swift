import Foundation
import PosternCore
import SQLKit

/// Versioned schema changes, the same for every database. Where a dialect
/// needs its own SQL, a migration's statements say so by `dialect`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: @Sendable (_ dialect: String) -> [String]
}

public enum MigrationError: Error, CustomStringConvertible, Equatable {
    /// The database was migrated by a newer Postern than this one.
    case schemaTooNew(found: Int, known: Int)
    /// Migrations are pending and the caller asked not to apply them.
    case pending(current: Int, latest: Int)
    /// The database was set up with another server key.
    case keyMismatch(stored: String, loaded: String)

    public var description: String {
        switch self {
        case .schemaTooNew(let found, let known):
            "The database schema is version \(found), but this Postern knows only up to version \(known). Upgrade Postern before starting it against this database."
        case .pending(let current, let latest):
            "The database schema is at version \(current) and needs migrating to \(latest). Run `postern migrate`, or start without --no-migrate."
        case .keyMismatch(let stored, let loaded):
            "The server key (fingerprint \(loaded)) is not the key this database was set up with (fingerprint \(stored)). Every app password would be refused. Use the original key file."
        }
    }
}

public enum Migrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "accounts, factors, app passwords, sessions, audit") { dialect in
            let blob = dialect == "postgresql" ? "BYTEA" : "BLOB"
            return [
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                """
                CREATE TABLE accounts (
                    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
                    disabled INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE totp_factors (
                    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
                    sealed_secret \(blob) NOT NULL, created_at BIGINT NOT NULL,
                    confirmed_at BIGINT, last_step BIGINT)
                """,
                """
                CREATE TABLE app_passwords (
                    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    name TEXT NOT NULL, digest \(blob) NOT NULL, protocols TEXT NOT NULL,
                    created_at BIGINT NOT NULL, expires_at BIGINT, revoked_at BIGINT,
                    last_used_at BIGINT, last_used_ip TEXT, last_used_protocol TEXT)
                """,
                "CREATE UNIQUE INDEX app_passwords_digest ON app_passwords (digest)",
                "CREATE UNIQUE INDEX app_passwords_active_name ON app_passwords (account_id, name) WHERE revoked_at IS NULL",
                "CREATE INDEX app_passwords_account ON app_passwords (account_id)",
                """
                CREATE TABLE sessions (
                    token_digest \(blob) PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, authenticated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX sessions_account ON sessions (account_id)",
                """
                CREATE TABLE audit_events (
                    id TEXT PRIMARY KEY, account_id TEXT, kind TEXT NOT NULL, result TEXT NOT NULL, reason TEXT,
                    protocol TEXT, credential TEXT, app_password_id TEXT, client_ip TEXT, at BIGINT NOT NULL)
                """,
                "CREATE INDEX audit_events_account_at ON audit_events (account_id, at)",
            ]
        },
        Migration(version: 2, name: "portal sessions, one-time reveals") { dialect in
            let blob = dialect == "postgresql" ? "BYTEA" : "BLOB"
            return [
                "ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'api'",
                "ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full'",
                "ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT",
                "ALTER TABLE sessions ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
                """
                CREATE TABLE reveals (
                    id TEXT PRIMARY KEY, session_digest \(blob) NOT NULL, sealed \(blob) NOT NULL, expires_at BIGINT NOT NULL)
                """,
            ]
        },
        Migration(version: 3, name: "security keys, challenges, recovery codes") { dialect in
            let blob = dialect == "postgresql" ? "BYTEA" : "BLOB"
            return [
                """
                CREATE TABLE security_keys (
                    credential_id \(blob) PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    name TEXT NOT NULL, public_key \(blob) NOT NULL, algorithm INTEGER NOT NULL, sign_count BIGINT NOT NULL,
                    created_at BIGINT NOT NULL, last_used_at BIGINT)
                """,
                "CREATE INDEX security_keys_account ON security_keys (account_id)",
                """
                CREATE TABLE challenges (
                    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, purpose TEXT NOT NULL, bytes \(blob) NOT NULL, expires_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE recovery_codes (
                    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    salt \(blob) NOT NULL, hash \(blob) NOT NULL, used_at BIGINT)
                """,
                "CREATE INDEX recovery_codes_account ON recovery_codes (account_id)",
            ]
        },
        Migration(version: 4, name: "outbox, notice keys, password resets") { dialect in
            let blob = dialect == "postgresql" ? "BYTEA" : "BLOB"
            return [
                """
                CREATE TABLE outbox (
                    id TEXT PRIMARY KEY, recipient TEXT NOT NULL, sealed \(blob), created_at BIGINT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL, leased_until BIGINT,
                    sent_at BIGINT, last_error TEXT)
                """,
                "CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at)",
                "CREATE TABLE notice_keys (key TEXT PRIMARY KEY, at BIGINT NOT NULL)",
                """
                CREATE TABLE password_resets (
                    token_digest \(blob) PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT)
                """,
                "CREATE INDEX audit_events_at ON audit_events (at)",
            ]
        },
        Migration(version: 5, name: "shared throttle counters") { _ in
            [
                "CREATE TABLE throttle_counters (key TEXT PRIMARY KEY, window_start BIGINT NOT NULL, count INTEGER NOT NULL)",
                "CREATE INDEX audit_events_account_ip ON audit_events (account_id, client_ip, at)",
            ]
        },
        Migration(version: 6, name: "orders to end open sessions") { _ in
            [
                """
                CREATE TABLE terminations (
                    id TEXT PRIMARY KEY, once_key TEXT NOT NULL UNIQUE, server TEXT NOT NULL, account_id TEXT NOT NULL,
                    username TEXT NOT NULL, addresses TEXT NOT NULL, cause TEXT NOT NULL, created_at BIGINT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL, leased_until BIGINT,
                    state TEXT NOT NULL DEFAULT 'pending', last_error TEXT)
                """,
                "CREATE INDEX terminations_due ON terminations (state, next_attempt_at)",
                "CREATE INDEX terminations_account ON terminations (account_id, created_at)",
            ]
        },
        // The guard's known-good lookup reads only successes: without this it
        // scans every refusal an attacker caused for the account and address,
        // which makes it slower for a real account than for a missing one.
        Migration(version: 7, name: "known-good lookups read successes only") { _ in
            [
                "CREATE INDEX audit_events_known_good ON audit_events (account_id, client_ip, at) WHERE result = 'allow'",
            ]
        },
        Migration(version: 8, name: "credential change feed", statements: CredentialFeedSchema.statements),
        // Every protocol login writes an audit row; each index on it is a
        // page written at random per row. The address index served only the
        // known-good lookup, which now has an index of exactly its rows
        // (account-password successes and sign-ins, not app-password logins).
        Migration(version: 9, name: "fewer indexes on the audit log's hot path") { _ in
            [
                "DROP INDEX audit_events_account_ip",
                "DROP INDEX audit_events_known_good",
                "CREATE INDEX audit_events_known_good ON audit_events (account_id, client_ip, at) WHERE \(knownGoodCondition)",
            ]
        },
        Migration(version: 10, name: "administrators and the admin log") { _ in
            [
                "ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE audit_events ADD COLUMN by_admin INTEGER NOT NULL DEFAULT 0",
                """
                CREATE TABLE admin_log (
                    id TEXT PRIMARY KEY, at BIGINT NOT NULL, admin_id TEXT, admin_username TEXT NOT NULL, action TEXT NOT NULL,
                    target_id TEXT, target_username TEXT, detail TEXT, client_ip TEXT)
                """,
                "CREATE INDEX admin_log_at ON admin_log (at, id)",
            ]
        },
        // One-time links that set up a device. The token is kept only as a
        // keyed digest; "used once" is the conditional update on used_at.
        Migration(version: 11, name: "device-setup links") { dialect in
            let blob = dialect == "postgresql" ? "BYTEA" : "BLOB"
            return [
                """
                CREATE TABLE device_setups (
                    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL, name TEXT NOT NULL, protocols TEXT NOT NULL, token_digest \(blob) NOT NULL,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, created_from TEXT,
                    used_at BIGINT, used_from TEXT, app_password_id TEXT, cancelled_at BIGINT)
                """,
                "CREATE UNIQUE INDEX device_setups_token_digest ON device_setups (token_digest)",
                "CREATE INDEX device_setups_account ON device_setups (account_id, created_at)",
            ]
        },
    ]

    /// Which audit rows give a source known-good standing; the store's query
    /// repeats it word for word, so that both databases use the partial index.
    static let knownGoodCondition = "result = 'allow' AND ((kind = 'protocol_login' AND credential = 'account_password') OR kind = 'sign_in')"

    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }

    /// The schema version the database is at (0 when empty).
    public static func currentVersion(_ executor: any SQLExecutor) async throws -> Int {
        try await executor.write { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)").run()
            let row = try await db.raw("SELECT MAX(version) AS v FROM schema_migrations").first()
            return try row?.decode(column: "v", as: Int?.self) ?? 0
        }
    }

    /// Brings the schema up to date (or, with `apply: false`, only checks it is).
    /// Each migration runs in its own transaction. Refuses a schema newer than
    /// this build knows.
    @discardableResult
    public static func migrate(_ executor: any SQLExecutor, apply: Bool = true, now: Date = Date()) async throws -> [Migration] {
        let current = try await currentVersion(executor)
        if current > latestVersion { throw MigrationError.schemaTooNew(found: current, known: latestVersion) }
        let pending = all.filter { $0.version > current }.sorted { $0.version < $1.version }
        if pending.isEmpty { return [] }
        guard apply else { throw MigrationError.pending(current: current, latest: latestVersion) }
        let dialect = executor.dialectName
        for migration in pending {
            try await executor.write { db in
                for statement in migration.statements(dialect) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                try await db.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: now.millis))").run()
            }
        }
        return pending
    }

    /// Records the server key's fingerprint on first use, and afterwards refuses
    /// a different key.
    public static func checkKeyFingerprint(_ executor: any SQLExecutor, fingerprint: String) async throws {
        let stored: String? = try await executor.write { db in
            if let row = try await db.raw("SELECT value FROM meta WHERE key = 'key_fingerprint'").first() {
                return try row.decode(column: "value", as: String.self)
            }
            try await db.raw("INSERT INTO meta (key, value) VALUES ('key_fingerprint', \(bind: fingerprint))").run()
            return nil
        }
        if let stored, stored != fingerprint { throw MigrationError.keyMismatch(stored: stored, loaded: fingerprint) }
    }
}

extension Date {
    /// Milliseconds since 1970: how every time is stored.
    /// Milliseconds since 1970, clamped to what Int64 holds (a date from
    /// outside, such as a cursor, can be anything).
    var millis: Int64 {
        let value = (timeIntervalSince1970 * 1000).rounded()
        return Int64(exactly: value) ?? (value > 0 ? Int64.max : Int64.min)
    }
    init(millis: Int64) { self.init(timeIntervalSince1970: Double(millis) / 1000) }
}
