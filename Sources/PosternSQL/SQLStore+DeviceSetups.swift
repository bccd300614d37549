import Foundation
import PosternCore
import SQLKit

// Device-setup links: `DeviceSetupStore` on SQL. "Used once" is the
// conditional UPDATE in `redeemDeviceSetup`: on PostgreSQL a concurrent
// second UPDATE waits for the first's row lock, then re-reads `used_at` and
// matches nothing; on SQLite writers take turns.
extension SQLStore: DeviceSetupStore {
    public func createDeviceSetup(_ setup: DeviceSetup, liveLimit: Int, now: Date) async throws {
        try await executor.write { db in
            try await Self.lockAccount(setup.accountID, db)
            let row = try await db.raw("""
                SELECT COUNT(*) AS n FROM device_setups WHERE account_id = \(bind: setup.accountID)
                AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > \(bind: now.millis)
                """).first()
            if try row?.decode(column: "n", as: Int.self) ?? 0 >= liveLimit { throw PosternError.deviceSetupLimit(liveLimit) }
            try await db.raw("""
                INSERT INTO device_setups (id, account_id, kind, name, protocols, token_digest, created_at, expires_at, created_from)
                VALUES (\(bind: setup.id), \(bind: setup.accountID), \(bind: setup.kind.rawValue), \(bind: setup.name),
                        \(bind: Self.encode(setup.protocols)), \(bind: setup.tokenDigest), \(bind: setup.createdAt.millis),
                        \(bind: setup.expiresAt.millis), \(bind: setup.createdFrom))
                """).run()
        }
    }

    public func deviceSetup(tokenDigest: Data) async throws -> DeviceSetup? {
        try await executor.read { db in
            try await db.raw("SELECT * FROM device_setups WHERE token_digest = \(bind: tokenDigest)").first().map(Self.deviceSetup)
        }
    }

    public func redeemDeviceSetup(tokenDigest: Data, now: Date, clientIP: String?, appPassword: AppPasswordRecord, limit: Int,
                                  audit: AuditEvent) async throws -> DeviceSetup? {
        try await executor.write { db in
            // The account first, as every other counting write locks it.
            try await Self.lockAccount(appPassword.accountID, db)
            guard let row = try await db.raw("""
                UPDATE device_setups SET used_at = \(bind: now.millis), used_from = \(bind: clientIP), app_password_id = \(bind: appPassword.id)
                WHERE token_digest = \(bind: tokenDigest) AND account_id = \(bind: appPassword.accountID)
                AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > \(bind: now.millis)
                RETURNING *
                """).first() else { return nil }
            // A refusal here rolls the link's UPDATE back with it.
            try await Self.insertAppPassword(appPassword, limit: limit, db)
            try await Self.insert([audit], db)
            return try Self.deviceSetup(row)
        }
    }

    public func deviceSetups(accountID: String, limit: Int) async throws -> [DeviceSetup] {
        try await executor.read { db in
            try await db.raw("""
                SELECT * FROM device_setups WHERE account_id = \(bind: accountID) ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)
                """).all().map(Self.deviceSetup)
        }
    }

    public func cancelDeviceSetup(accountID: String, id: String, at: Date) async throws -> Bool {
        try await executor.write { db in
            try await db.raw("""
                UPDATE device_setups SET cancelled_at = \(bind: at.millis)
                WHERE id = \(bind: id) AND account_id = \(bind: accountID) AND used_at IS NULL AND cancelled_at IS NULL RETURNING id
                """).first() != nil
        }
    }

    /// Cancels the waiting links of every account whose event asks for it
    /// (`AuditEvent.cancelsDeviceSetups`), inside the event's transaction.
    static func cancelDeviceSetups(for events: [AuditEvent], _ db: any SQLDatabase) async throws {
        for event in events where event.cancelsDeviceSetups {
            guard let accountID = event.accountID else { continue }
            try await db.raw("""
                UPDATE device_setups SET cancelled_at = \(bind: event.at.millis)
                WHERE account_id = \(bind: accountID) AND used_at IS NULL AND cancelled_at IS NULL
                """).run()
        }
    }

    static func deviceSetup(_ row: any SQLRow) throws -> DeviceSetup {
        DeviceSetup(
            id: try row.decode(column: "id", as: String.self),
            accountID: try row.decode(column: "account_id", as: String.self),
            kind: DeviceSetup.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .other,
            name: try row.decode(column: "name", as: String.self),
            protocols: Set(try row.decode(column: "protocols", as: String.self).split(separator: ",").compactMap { LoginProtocol(rawValue: String($0)) }),
            tokenDigest: try row.decode(column: "token_digest", as: Data.self),
            createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: Date(millis: try row.decode(column: "expires_at", as: Int64.self)),
            createdFrom: try row.decode(column: "created_from", as: String?.self),
            usedAt: try row.decode(column: "used_at", as: Int64?.self).map(Date.init(millis:)),
            usedFrom: try row.decode(column: "used_from", as: String?.self),
            appPasswordID: try row.decode(column: "app_password_id", as: String?.self),
            cancelledAt: try row.decode(column: "cancelled_at", as: Int64?.self).map(Date.init(millis:)))
    }
}
