import Foundation
import Logging
import PosternCore
import SQLKit

/// Runs SQL against one database. `write` runs its body in one transaction and
/// commits only if the body returns; `read` runs single statements.
///
/// Both translate driver errors: a uniqueness violation becomes
/// `StoreError.conflict`, anything else `StoreError.unavailable`.
public protocol SQLExecutor: Sendable {
    var dialectName: String { get }
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// A write that never changes a credential or an account (see the extension).
    func writeRecords<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    func shutdown() async
}

extension SQLExecutor {
    /// A write that never changes a credential or an account (login
    /// records, counters, the outbox). `CredentialFeedExecutor` runs these
    /// without catching its feed up afterwards; elsewhere the same as `write`.
    public func writeRecords<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await write(body)
    }
}

/// Runs `body` in a transaction on `db`: `begin` (SQLite wants `BEGIN
/// IMMEDIATE`), then COMMIT if it returns, ROLLBACK if it throws. The body's
/// error is what the caller sees; a failed rollback is only logged.
func inTransaction<T: Sendable>(_ db: any SQLDatabase, begin: String = "BEGIN", logger: Logger,
                                _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
    try await db.raw(SQLQueryString(begin)).run()
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

/// A first-in, first-out async semaphore. Waiting holds no thread.
public actor AsyncSemaphore {
    private var permits: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(permits: Int) { self.permits = permits }

    public func wait() async {
        if permits > 0 {
            permits -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func signal() {
        if waiters.isEmpty {
            permits += 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` holding one permit.
    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await wait()
        do {
            let value = try await body()
            signal()
            return value
        } catch {
            signal()
            throw error
        }
    }
}
