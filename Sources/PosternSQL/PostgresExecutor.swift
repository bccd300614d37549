import Foundation
import Logging
import PosternCore
import PostgresKit
import PostgresNIO
import NIOSSL
import SQLKit
import NIOPosix
import Synchronization

/// PostgreSQL through a bounded connection pool (`PostgresClient`). Writes run
/// in a transaction on one connection (READ COMMITTED: every "only once" rule
/// is an atomic UPDATE … WHERE or a unique key, which PostgreSQL re-checks on
/// concurrent updates). A slow database backs up into the pool's bounded
/// wait, not into memory; an unreachable one fails fast as `unavailable`.
public final class PostgresExecutor: SQLExecutor {
    public let dialectName = "postgresql"
    /// The pool and its run loop. Replaced as a whole when it has been failing
    /// and the database answers again (see `supervise`).
    private let pool: Mutex<(client: PostgresClient, runner: Task<Void, Never>)>
    private let configuration: PostgresClient.Configuration
    private let directConfiguration: PostgresConnection.Configuration
    /// When an operation last failed for want of the database (uptime ns; 0: not failing).
    private let failingSince = Atomic<UInt64>(0)
    private let supervisor: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let logger: Logger
    /// The longest a query may take, waiting for a connection included.
    let operationTimeout: Duration

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

    /// Starts the pool (it connects lazily, so a database that is down now
    /// does not stop Postern from starting its listeners later).
    /// `operationTimeout` bounds each query, waiting for a connection
    /// included (tests on a loaded machine give it longer).
    public static func open(settings: Settings, maximumConnections: Int = 20, connectTimeout: Duration = .seconds(5),
                            operationTimeout: Duration = .seconds(5), logger: Logger) async -> PostgresExecutor {
        let executor = PostgresExecutor(settings: settings, maximumConnections: maximumConnections, connectTimeout: connectTimeout,
                                        operationTimeout: operationTimeout, logger: logger)
        // Let the pool's run loop start before the first lease.
        for _ in 0..<5 { await Task.yield() }
        return executor
    }

    init(settings: Settings, maximumConnections: Int = 20, connectTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(5),
         logger: Logger) {
        self.operationTimeout = operationTimeout
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
            tls: settings.requireTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = connectTimeout
        self.configuration = configuration
        var direct = PostgresConnection.Configuration(host: settings.host, port: settings.port, username: settings.username,
                                                      password: settings.password, database: settings.database, tls: .disable)
        if settings.requireTLS, let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) {
            direct.tls = .require(context)
        }
        directConfiguration = direct
        pool = Mutex(Self.startPool(configuration, logger: logger))
        self.logger = logger
        supervisor.withLock { $0 = Task { [weak self] in await self?.supervise() } }
    }

    private static func startPool(_ configuration: PostgresClient.Configuration, logger: Logger) -> (client: PostgresClient, runner: Task<Void, Never>) {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return (client, Task { await client.run() })
    }

    private var client: PostgresClient { pool.withLock { $0.client } }

    /// The pool backs off longer and longer while the database is down (up to
    /// a minute), which would delay recovery well past the moment it is back.
    /// So while operations fail, probe the database directly twice a second,
    /// and when it answers, start a fresh pool: recovery within a second or so.
    private func supervise() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            guard failingSince.load(ordering: .relaxed) != 0 else { continue }
            guard await databaseAnswers() else { continue }
            let old = pool.withLock { current -> Task<Void, Never> in
                let old = current.runner
                current = Self.startPool(configuration, logger: logger)
                return old
            }
            failingSince.store(0, ordering: .relaxed)
            logger.notice("the database answers again; connections renewed")
            old.cancel()
        }
    }

    private func databaseAnswers() async -> Bool {
        let configuration = directConfiguration
        let logger = self.logger
        do {
            let connection = try await withDeadline(.seconds(1)) {
                try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                     id: 0, logger: logger)
            }
            try? await connection.close()
            return true
        } catch {
            return false
        }
    }

    private func noteFailure(_ error: any Error) {
        // A pool the supervisor just replaced fails what it still held; that
        // says nothing about the database.
        if case StoreError.unavailable(let message) = error, !message.contains("poolShutdown") {
            _ = failingSince.compareExchange(expected: 0, desired: DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let client = self.client
        do {
            return try await withDeadline {
                try await client.withConnection { connection in
                    // No query logging: bound values include password hashes and token digests.
                    try await body(connection.sql(queryLogLevel: nil))
                }
            }
        } catch {
            let translated = Self.translate(error)
            noteFailure(translated)
            throw translated
        }
    }

    /// Runs `operation`, or fails with `unavailable` after `operationTimeout`:
    /// with the database down, waiting for a connection would otherwise last
    /// until it came back, and a mail server would wait with it. The caller
    /// gets its answer at the deadline even if the operation does not heed
    /// cancellation (it is cancelled, and left to finish on its own).
    private func withDeadline<T: Sendable>(_ limit: Duration? = nil, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Self.race(limit ?? operationTimeout, operation)
    }

    static func race<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let waiting = ResumeOnce<T>()
        return try await withCheckedThrowingContinuation { continuation in
            waiting.set(continuation)
            let work = Task {
                do { waiting.finish(.success(try await operation())) } catch { waiting.finish(.failure(error)) }
            }
            // Ends with the operation: a finished query leaves no timer behind.
            waiting.setTimer(Task {
                do { try await Task.sleep(for: timeout) } catch { return }
                work.cancel()
                waiting.finish(.failure(StoreError.unavailable("postgresql: no answer within \(timeout)")))
            })
        }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let logger = self.logger
        let client = self.client
        do {
            return try await withDeadline {
                try await client.withConnection { connection in
                    try await inTransaction(connection.sql(queryLogLevel: nil), logger: logger, body)
                }
            }
        } catch {
            let translated = Self.translate(error)
            noteFailure(translated)
            throw translated
        }
    }

    /// Opens a connection of its own (not from the pool, with the
    /// `application_name` given), `LISTEN`s on each of `channels`, and runs
    /// `body` with the connection and the notifications as they arrive
    /// (channel, payload). Ends, throwing, when the connection breaks or
    /// `body` throws; the connection is closed either way.
    /// At most `buffer` notifications wait to be handled; past that the
    /// newest are kept and `overflowed` is called.
    func listening(on channels: [String], applicationName: String, buffer: Int = 10_000, overflowed: @escaping @Sendable () -> Void,
                   _ body: @escaping @Sendable (any SQLDatabase, AsyncThrowingStream<(channel: String, payload: String), any Error>) async throws -> Void)
        async throws {
        var named = directConfiguration
        named.options.additionalStartupParameters = [("application_name", applicationName)]
        let configuration = named
        let logger = self.logger
        let connection = try await withDeadline(.seconds(2)) {
            try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                 id: 1, logger: logger)
        }
        let (notifications, sink) = AsyncThrowingStream.makeStream(of: (channel: String, payload: String).self,
                                                                   bufferingPolicy: .bufferingNewest(buffer))
        @Sendable func listen(_ remaining: ArraySlice<String>) async throws {
            guard let channel = remaining.first else { return try await body(connection.sql(queryLogLevel: nil), notifications) }
            try await connection.listen(on: channel) { stream in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await notification in stream {
                                if case .dropped = sink.yield((channel, notification.payload)) { overflowed() }
                            }
                        } catch {}
                        // The connection is gone. A query in flight on it can
                        // be left unanswered (seen when the server ends the
                        // backend mid-query): closing fails it, so the body
                        // ends too.
                        _ = try? await Self.race(.seconds(2)) { try await connection.close() }
                        throw StoreError.unavailable("postgresql: the listening connection closed")
                    }
                    group.addTask { try await listen(remaining.dropFirst()) }
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
        do {
            try await listen(channels[...])
        } catch {
            sink.finish()
            try? await connection.close()
            throw Self.translate(error)
        }
        sink.finish()
        try? await connection.close()
    }

    public func shutdown() async {
        supervisor.withLock { $0?.cancel() }
        let runner = pool.withLock { $0.runner }
        runner.cancel()
        // The pool closes its connections; a stop never waits on it for long.
        _ = try? await Self.race(.seconds(3)) { await runner.value }
    }

    static func translate(_ error: any Error) -> any Error {
        if error is StoreError || error is PosternError { return error }
        if let psql = error as? PSQLError {
            if psql.serverInfo?[.sqlState] == "23505" {
                return StoreError.conflict(conflictName(psql.serverInfo?[.detail] ?? ""))
            }
            // Class 22, data exception (a NUL byte in text, a value out of
            // range): the request's fault, not the database's, so it must not
            // count as an outage and renew the pool.
            if psql.serverInfo?[.sqlState]?.hasPrefix("22") == true {
                return StoreError.rejected(psql.serverInfo?[.message] ?? "data exception")
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

/// A continuation resumed by whichever of two racers comes first; the
/// deadline's timer is cancelled as soon as either has.
final class ResumeOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var finished = false
        var timer: Task<Void, Never>?
    }

    private let state = Mutex(State())

    func set(_ value: CheckedContinuation<T, any Error>) { state.withLock { $0.continuation = value } }

    func setTimer(_ timer: Task<Void, Never>) {
        let finished = state.withLock { state -> Bool in
            if !state.finished { state.timer = timer }
            return state.finished
        }
        if finished { timer.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (waiting, timer) = state.withLock { state -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
            defer {
                state.continuation = nil
                state.timer = nil
                state.finished = true
            }
            return (state.continuation, state.timer)
        }
        timer?.cancel()
        waiting?.resume(with: result)
    }
}
