import Foundation
import Logging
import PosternCore
import SQLKit
import SQLiteKit
import Synchronization

/// SQLite in WAL mode: one writer connection, used by one transaction at a
/// time, and several reader connections that never wait for the writer.
///
/// `synchronous = FULL`: a transaction that has returned is on disk, so a
/// kill -9 or power loss right after an acknowledged change loses nothing.
public final class SQLiteExecutor: SQLExecutor {
    public let dialectName = "sqlite"
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncSemaphore(permits: 1)
    private let nextReader = Atomic<Int>(0)
    private let logger: Logger

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger) {
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    /// Opens (creating if needed) the database file at `path`.
    public static func open(path: String, readers readerCount: Int = 4, logger: Logger) async throws -> SQLiteExecutor {
        func connect() async throws -> SQLiteConnection {
            let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            for pragma in ["PRAGMA busy_timeout = 10000", "PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL"] {
                _ = try await connection.query(pragma)
            }
            return connection
        }
        let writer = try await connect()
        _ = try await writer.query("PRAGMA journal_mode = WAL")
        // The writer's page cache holds the audit log's index pages between
        // the flushes of login records (the default 2 MiB does not).
        _ = try await writer.query("PRAGMA cache_size = -32768")
        var readers: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) { readers.append(try await connect()) }
        return SQLiteExecutor(writer: writer, readers: readers, logger: logger)
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        let connection = readers[abs(index % readers.count)]
        do {
            return try await body(connection.sql(queryLogLevel: nil))
        } catch {
            throw translate(error)
        }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        // No query logging: bound values include password hashes and token digests.
        let db = writer.sql(queryLogLevel: nil)
        let logger = self.logger
        return try await writeLock.withPermit {
            do {
                return try await inTransaction(db, begin: "BEGIN IMMEDIATE", logger: logger, body)
            } catch {
                throw self.translate(error)
            }
        }
    }

    public func shutdown() async {
        for connection in readers + [writer] {
            try? await connection.close()
        }
    }

    private func translate(_ error: any Error) -> any Error {
        if error is StoreError || error is PosternError { return error }
        if let sqlite = error as? SQLiteError {
            switch sqlite.reason {
            case .constraint, .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                return StoreError.conflict(Self.conflictName(sqlite.message))
            default:
                return StoreError.unavailable(sqlite.description)
            }
        }
        return StoreError.unavailable(String(describing: error))
    }

    /// "UNIQUE constraint failed: app_passwords.account_id, app_passwords.name" → "name".
    static func conflictName(_ message: String) -> String {
        let columns = message.split(separator: ":").last.map(String.init) ?? message
        return columns.split(separator: ",").last.flatMap { $0.split(separator: ".").last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unique"
    }
}
