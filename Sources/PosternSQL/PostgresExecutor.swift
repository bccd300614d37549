import Foundation
import Logging
import PosternCore
import PostgresKit
import PostgresNIO
import NIOSSL
import SQLKit

/// PostgreSQL through a bounded connection pool (`PostgresClient`). Writes run
/// in a transaction on one connection (READ COMMITTED: every "only once" rule
/// is an atomic UPDATE … WHERE or a unique key, which PostgreSQL re-checks on
/// concurrent updates). A slow database backs up into the pool's bounded
/// wait, not into memory; an unreachable one fails fast as `unavailable`.
public final class PostgresExecutor: SQLExecutor {
    public let dialectName = "postgresql"
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    /// Connection settings from `postgres://user:pass@host:port/db?sslmode=…`.
    public struct Settings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        public var requireTLS: Bool

        public init?(url text: String, password: String? = nil) {
            guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
                  let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else { return nil }
            self.host = host
            port = components.port ?? 5432
            username = user.removingPercentEncoding ?? user
            self.password = password ?? components.password?.removingPercentEncoding
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            database = path.isEmpty ? username : path
            requireTLS = components.queryItems?.first { $0.name == "sslmode" }?.value.map { ["require", "verify-ca", "verify-full"].contains($0) } ?? false
        }
    }

    public init(settings: Settings, maximumConnections: Int = 20, connectTimeout: Duration = .seconds(5), logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
            tls: settings.requireTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = connectTimeout
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let client = client
        runner = Task { await client.run() }
        self.logger = logger
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                // No query logging: bound values include password hashes and token digests.
                try await body(connection.sql(queryLogLevel: nil))
            }
        } catch {
            throw Self.translate(error)
        }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                let db = connection.sql(queryLogLevel: nil)
                try await db.raw("BEGIN").run()
                do {
                    let value = try await body(db)
                    try await db.raw("COMMIT").run()
                    return value
                } catch {
                    do {
                        try await db.raw("ROLLBACK").run()
                    } catch let rollbackError {
                        logger.error("rollback failed", metadata: ["error": "\(String(reflecting: rollbackError).prefix(200))"])
                    }
                    throw error
                }
            }
        } catch {
            throw Self.translate(error)
        }
    }

    public func shutdown() async {
        runner.cancel()
        _ = await runner.value
    }

    static func translate(_ error: any Error) -> any Error {
        if error is StoreError || error is PosternError { return error }
        if let psql = error as? PSQLError {
            if psql.serverInfo?[.sqlState] == "23505" {
                return StoreError.conflict(conflictName(psql.serverInfo?[.detail] ?? ""))
            }
            let message = psql.serverInfo?[.message] ?? "\(psql.code)"
            return StoreError.unavailable("postgresql: \(message)")
        }
        return StoreError.unavailable(String(describing: error))
    }

    /// "Key (account_id, name)=(…) already exists." → "name", the same names
    /// the SQLite store reports.
    static func conflictName(_ detail: String) -> String {
        guard let open = detail.range(of: "Key ("), let close = detail.range(of: ")=", range: open.upperBound..<detail.endIndex) else {
            return "unique"
        }
        let columns = detail[open.upperBound..<close.lowerBound]
        return columns.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unique"
    }
}
