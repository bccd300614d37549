import Foundation
import Logging
import PosternCore
@testable import PosternSQL
import PosternTestSupport

/// The stores the contract suite runs against. A store implementation is done
/// when every test here passes for it.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case sqlite
    case postgres

    /// Every store this run can reach: in memory, SQLite, and PostgreSQL when
    /// `POSTERN_TEST_POSTGRES_URL` names a server (scripts/test starts one).
    /// `POSTERN_TEST_STORES` (kinds separated by commas) narrows the run: the
    /// fast tier sets it to `memory`.
    static var allCases: [StoreKind] {
        let reachable: [StoreKind] = postgresAdminURL == nil ? [.memory, .sqlite] : [.memory, .sqlite, .postgres]
        guard let chosen = ProcessInfo.processInfo.environment["POSTERN_TEST_STORES"] else { return reachable }
        let names = Set(chosen.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return reachable.filter { names.contains($0.rawValue) }
    }

    /// The SQL stores this run can reach, for what only they have: migrations
    /// and transactions on an executor.
    static var sqlCases: [StoreKind] { allCases.filter { $0 != .memory } }

    static var postgresAdminURL: String? { ProcessInfo.processInfo.environment["POSTERN_TEST_POSTGRES_URL"] }

    var testDescription: String { rawValue }

    /// A fresh, migrated, empty store.
    func make() async throws -> TestStore {
        switch self {
        case .memory:
            let store = MemoryStore()
            return TestStore(store: store, executor: nil) { store.close() }
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postern-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let executor = try await SQLiteExecutor.open(path: directory.appendingPathComponent("test.sqlite").path, logger: Logger(label: "test"))
            try await Migrations.migrate(executor)
            return TestStore(store: SQLStore(executor: executor), executor: executor) {
                await executor.shutdown()
                try? FileManager.default.removeItem(at: directory)
            }
        case .postgres:
            // A fresh database per test, so tests run in parallel untouched by each other.
            let adminURL = Self.postgresAdminURL!
            let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            // Generous bounds: hundreds of tests in parallel on a small
            // machine can keep PostgreSQL busier than production ever waits.
            let admin = await PostgresExecutor.open(settings: .init(url: adminURL)!, maximumConnections: 1, connectTimeout: .seconds(30),
                                                    operationTimeout: .seconds(60), logger: Logger(label: "test"))
            _ = try await admin.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            await admin.shutdown()
            var settings = PostgresExecutor.Settings(url: adminURL)!
            settings.database = name
            let executor = await PostgresExecutor.open(settings: settings, maximumConnections: 8, connectTimeout: .seconds(30),
                                                       operationTimeout: .seconds(30), logger: Logger(label: "test"))
            try await Migrations.migrate(executor)
            return TestStore(store: SQLStore(executor: executor), executor: executor, postgres: settings) {
                // The database is dropped by the next run's clean-up of the whole server.
                await executor.shutdown()
            }
        }
    }
}

import Testing

struct TestStore: Sendable {
    var store: any PosternStore
    /// The SQL executor under the store; nil for the memory store.
    let executor: (any SQLExecutor)?
    /// Where a PostgreSQL store's database is, for a second instance on it.
    var postgres: PostgresExecutor.Settings?
    /// Closes the store: afterwards it cannot answer, and its files are gone.
    let close: @Sendable () async -> Void

    init(store: any PosternStore, executor: (any SQLExecutor)?, postgres: PostgresExecutor.Settings? = nil,
         close: @escaping @Sendable () async -> Void) {
        self.store = store
        self.executor = executor
        self.postgres = postgres
        self.close = close
    }

    /// Runs `body` with a fresh store, closing it afterwards.
    static func with(_ kind: StoreKind, _ body: (any PosternStore) async throws -> Void) async throws {
        let test = try await kind.make()
        do {
            try await body(test.store)
        } catch {
            await test.close()
            throw error
        }
        await test.close()
    }
}

enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func account(_ name: String = "alice@example.org", id: String = Secrets.newIdentifier()) -> Account {
        Account(id: id, username: name, passwordHash: "$scrypt$hash-of-\(name)", createdAt: t0)
    }

    static func audit(_ accountID: String?, _ kind: AuditEvent.Kind = .protocolLogin, at: Date = t0) -> AuditEvent {
        AuditEvent(accountID: accountID, kind: kind, result: .ok, at: at)
    }

    static func appPassword(_ account: Account, name: String = "Phone", digest: Data = Data(Secrets.randomBytes(32)),
                            protocols: Set<LoginProtocol> = Set(LoginProtocol.allCases), expiresAt: Date? = nil) -> AppPasswordRecord {
        AppPasswordRecord(id: Secrets.newIdentifier(), accountID: account.id, name: name, digest: digest, protocols: protocols,
                          createdAt: t0, expiresAt: expiresAt)
    }

    /// The sealed secret `totp(_:)` stores (what a confirmation names).
    static let pendingSecret = Data(repeating: 7, count: 48)

    static func totp(_ account: Account, sealedSecret: Data = pendingSecret) -> TOTPFactor {
        TOTPFactor(accountID: account.id, sealedSecret: sealedSecret, createdAt: t0)
    }
}
