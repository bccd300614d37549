import Foundation
import PosternCore
import SQLKit

/// `PosternStore` on any `SQLExecutor`. Each method is one transaction (writes)
/// or one statement (reads). Times are stored as milliseconds since 1970.
public struct SQLStore: PosternStore {
    public let executor: any SQLExecutor

    public init(executor: any SQLExecutor) {
        self.executor = executor
    }

    // MARK: - Accounts

    /// MFA is on with a confirmed authenticator app or any security key.
    static let mfaExpression = """
        CASE WHEN EXISTS (SELECT 1 FROM totp_factors t WHERE t.account_id = a.id AND t.confirmed_at IS NOT NULL)
          OR EXISTS (SELECT 1 FROM security_keys k WHERE k.account_id = a.id) THEN 1 ELSE 0 END AS mfa
        """

    private static let accountColumns = """
        a.id, a.username, a.password_hash, a.disabled, a.created_at, \(mfaExpression) FROM accounts a
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

    static func account(_ row: any SQLRow) throws -> Account {
        Account(id: try row.decode(column: "id", as: String.self),
                username: try row.decode(column: "username", as: String.self),
                passwordHash: try row.decode(column: "password_hash", as: String.self),
                disabled: try row.decode(column: "disabled", as: Int.self) != 0,
                createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                mfaEnabled: try row.decode(column: "mfa", as: Int.self) != 0)
    }

    // MARK: - TOTP

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

    public func confirmTOTP(accountID: String, step: Int64, at: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            let done = try await db.raw("""
                UPDATE totp_factors SET confirmed_at = \(bind: at.millis), last_step = \(bind: step)
                WHERE account_id = \(bind: accountID) AND confirmed_at IS NULL RETURNING account_id
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

    // MARK: - App passwords

    public func createAppPassword(_ record: AppPasswordRecord, limit: Int, audit: AuditEvent) async throws {
        try await executor.write { db in
            let row = try await db.raw("SELECT COUNT(*) AS n FROM app_passwords WHERE account_id = \(bind: record.accountID) AND revoked_at IS NULL").first()
            if try row?.decode(column: "n", as: Int.self) ?? 0 >= limit { throw PosternError.appPasswordLimit(limit) }
            try await db.raw("""
                INSERT INTO app_passwords (id, account_id, name, digest, protocols, created_at, expires_at)
                VALUES (\(bind: record.id), \(bind: record.accountID), \(bind: record.name), \(bind: record.digest),
                        \(bind: Self.encode(record.protocols)), \(bind: record.createdAt.millis), \(bind: record.expiresAt?.millis))
                """).run()
            try await Self.insert([audit], db)
        }
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
            if !rows.isEmpty { try await Self.insert([audit], db) }
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

    // MARK: - Sessions

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

    // MARK: - Reveals

    public func saveReveal(id: String, sessionDigest: Data, sealed: Data, expiresAt: Date) async throws {
        try await executor.write { db in
            try await db.raw("""
                INSERT INTO reveals (id, session_digest, sealed, expires_at) VALUES (\(bind: id), \(bind: sessionDigest), \(bind: sealed), \(bind: expiresAt.millis))
                """).run()
        }
    }

    public func takeReveal(id: String, sessionDigest: Data, now: Date) async throws -> Data? {
        try await executor.write { db in
            try await db.raw("DELETE FROM reveals WHERE expires_at <= \(bind: now.millis)").run()
            return try await db.raw("""
                DELETE FROM reveals WHERE id = \(bind: id) AND session_digest = \(bind: sessionDigest) RETURNING sealed
                """).first()?.decode(column: "sealed", as: Data.self)
        }
    }

    // MARK: - Security keys

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

    // MARK: - Recovery codes

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

    // MARK: - Audit

    public func auditEvents(accountID: String, limit: Int) async throws -> [AuditEvent] {
        try await auditEvents(accountID: accountID, before: nil, kinds: nil, limit: limit)
    }

    public func auditEvents(accountID: String, before: AuditCursor?, kinds: Set<AuditEvent.Kind>?, limit: Int) async throws -> [AuditEvent] {
        try await executor.read { db in
            var query = SQLQueryString("SELECT * FROM audit_events WHERE account_id = \(bind: accountID)")
            if let before {
                query.appendInterpolation(unsafeRaw: " AND (at < ")
                query.appendInterpolation(bind: before.at.millis)
                query.appendInterpolation(unsafeRaw: " OR (at = ")
                query.appendInterpolation(bind: before.at.millis)
                query.appendInterpolation(unsafeRaw: " AND id < ")
                query.appendInterpolation(bind: before.id)
                query.appendInterpolation(unsafeRaw: "))")
            }
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
                           result: try row.decode(column: "result", as: String.self),
                           reason: try row.decode(column: "reason", as: String?.self),
                           loginProtocol: try row.decode(column: "protocol", as: String?.self).flatMap(LoginProtocol.init(rawValue:)),
                           credential: try row.decode(column: "credential", as: String?.self),
                           appPasswordID: try row.decode(column: "app_password_id", as: String?.self),
                           clientIP: try row.decode(column: "client_ip", as: String?.self),
                           at: Date(millis: try row.decode(column: "at", as: Int64.self)))
            }
        }
    }

    public func pruneAuditEvents(before: Date) async throws -> Int {
        try await executor.write { db in
            let events = try await db.raw("DELETE FROM audit_events WHERE at < \(bind: before.millis) RETURNING id").all().count
            // Sent messages' rows go with them; unsent ones stay until delivered.
            try await db.raw("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < \(bind: before.millis)").run()
            try await db.raw("DELETE FROM password_resets WHERE expires_at < \(bind: before.millis)").run()
            return events
        }
    }

    public func recordLogins(lastUses: [LastUse], events: [AuditEvent]) async throws {
        if lastUses.isEmpty && events.isEmpty { return }
        try await executor.write { db in
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
        for notice in events.flatMap(\.notices) {
            if let key = notice.onceKey {
                let fresh = try await db.raw("""
                    INSERT INTO notice_keys (key, at) VALUES (\(bind: key), \(bind: now.millis)) ON CONFLICT (key) DO NOTHING RETURNING key
                    """).first() != nil
                if !fresh { continue }
            }
            try await db.raw("""
                INSERT INTO outbox (id, recipient, sealed, created_at, attempts, next_attempt_at)
                VALUES (\(bind: notice.id), \(bind: notice.recipient), \(bind: notice.sealed), \(bind: now.millis), 0, \(bind: now.millis))
                """).run()
        }
        for chunk in stride(from: 0, to: events.count, by: 200).map({ events[$0..<min($0 + 200, events.count)] }) {
            let insert = db.insert(into: "audit_events")
                .columns("id", "account_id", "kind", "result", "reason", "protocol", "credential", "app_password_id", "client_ip", "at")
            for event in chunk {
                insert.values([
                    SQLBind(event.id), SQLBind(event.accountID), SQLBind(event.kind.rawValue), SQLBind(event.result),
                    SQLBind(event.reason), SQLBind(event.loginProtocol?.rawValue), SQLBind(event.credential),
                    SQLBind(event.appPasswordID), SQLBind(event.clientIP), SQLBind(event.at.millis),
                ] as [any SQLExpression])
            }
            try await insert.run()
        }
    }

    // MARK: - Outbox

    public func claimOutbox(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        // PostgreSQL: claimers skip rows another claimer holds, so several
        // instances each get a full batch of different messages.
        let skipLocked = executor.dialectName == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        return try await executor.write { db in
            // One writer at a time (SQLite), or a row lock (PostgreSQL, which
            // re-checks the outer WHERE on a row another claimer just leased):
            // the lease makes a claimed message invisible to the next claimer.
            let rows = try await db.raw("""
                WITH due (due_id) AS (
                    SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= \(bind: now.millis)
                    AND (leased_until IS NULL OR leased_until <= \(bind: now.millis))
                    ORDER BY next_attempt_at LIMIT \(bind: max(1, limit))\(unsafeRaw: skipLocked))
                UPDATE outbox SET leased_until = \(bind: leaseUntil.millis) FROM due
                WHERE outbox.id = due.due_id AND outbox.sent_at IS NULL
                AND (outbox.leased_until IS NULL OR outbox.leased_until <= \(bind: now.millis))
                RETURNING id, recipient, sealed, created_at, attempts, next_attempt_at, sent_at, last_error
                """).all()
            return try rows.map(Self.outboxMessage).sorted { $0.createdAt < $1.createdAt }
        }
    }

    public func markOutboxSent(id: String, at: Date) async throws {
        try await executor.write { db in
            try await db.raw("UPDATE outbox SET sent_at = \(bind: at.millis), sealed = NULL, leased_until = NULL, last_error = NULL WHERE id = \(bind: id)").run()
        }
    }

    public func markOutboxFailed(id: String, attempts: Int, nextAttemptAt: Date, error: String) async throws {
        try await executor.write { db in
            try await db.raw("""
                UPDATE outbox SET attempts = \(bind: attempts), next_attempt_at = \(bind: nextAttemptAt.millis), leased_until = NULL,
                last_error = \(bind: String(error.prefix(500))) WHERE id = \(bind: id) AND sent_at IS NULL
                """).run()
        }
    }

    public func pendingOutbox(limit: Int) async throws -> [OutboxMessage] {
        try await executor.read { db in
            try await db.raw("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY created_at, id LIMIT \(bind: max(1, limit))").all().map(Self.outboxMessage)
        }
    }

    static func outboxMessage(_ row: any SQLRow) throws -> OutboxMessage {
        OutboxMessage(id: try row.decode(column: "id", as: String.self), recipient: try row.decode(column: "recipient", as: String.self),
                      sealed: try row.decode(column: "sealed", as: Data?.self),
                      createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                      attempts: try row.decode(column: "attempts", as: Int.self),
                      nextAttemptAt: Date(millis: try row.decode(column: "next_attempt_at", as: Int64.self)),
                      sentAt: try row.decode(column: "sent_at", as: Int64?.self).map(Date.init(millis:)),
                      lastError: try row.decode(column: "last_error", as: String?.self))
    }

    // MARK: - Password resets

    public func savePasswordReset(_ reset: PasswordReset, unlessOpenSince: Date, audit: AuditEvent) async throws -> Bool {
        try await executor.write { db in
            // Take the account's row lock first (a no-op update), so two
            // concurrent requests for one account run one after the other and
            // the second sees the first's link, on PostgreSQL as on SQLite.
            try await db.raw("UPDATE accounts SET id = id WHERE id = \(bind: reset.accountID)").run()
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

    // MARK: - Shared throttle counters

    public func addFailure(key: String, window: TimeInterval, now: Date) async throws -> Int {
        let expired = now.addingTimeInterval(-window).millis
        return try await executor.write { db in
            let row = try await db.raw("""
                INSERT INTO throttle_counters (key, window_start, count) VALUES (\(bind: key), \(bind: now.millis), 1)
                ON CONFLICT (key) DO UPDATE SET
                    count = CASE WHEN throttle_counters.window_start <= \(bind: expired) THEN 1 ELSE throttle_counters.count + 1 END,
                    window_start = CASE WHEN throttle_counters.window_start <= \(bind: expired) THEN \(bind: now.millis)
                                        ELSE throttle_counters.window_start END
                RETURNING count
                """).first()
            return try row?.decode(column: "count", as: Int.self) ?? 1
        }
    }

    public func failures(key: String, window: TimeInterval, now: Date) async throws -> Int {
        try await executor.read { db in
            try await db.raw("""
                SELECT count FROM throttle_counters WHERE key = \(bind: key) AND window_start > \(bind: now.addingTimeInterval(-window).millis)
                """).first()?.decode(column: "count", as: Int.self) ?? 0
        }
    }

    public func removeFailure(key: String, window: TimeInterval, now: Date) async throws {
        try await executor.write { db in
            try await db.raw("""
                UPDATE throttle_counters SET count = count - 1
                WHERE key = \(bind: key) AND count > 0 AND window_start > \(bind: now.addingTimeInterval(-window).millis)
                """).run()
        }
    }

    public func pruneThrottleCounters(before: Date) async throws -> Int {
        try await executor.write { db in
            try await db.raw("DELETE FROM throttle_counters WHERE window_start < \(bind: before.millis) RETURNING key").all().count
        }
    }

    public func succeeded(accountID: String, clientIP: String, since: Date) async throws -> Bool {
        try await executor.read { db in
            try await db.raw("""
                SELECT id FROM audit_events WHERE account_id = \(bind: accountID) AND client_ip = \(bind: clientIP) AND at > \(bind: since.millis)
                AND result = 'allow' AND ((kind = 'protocol_login' AND credential = 'account_password') OR kind = 'sign_in') LIMIT 1
                """).first() != nil
        }
    }
}
