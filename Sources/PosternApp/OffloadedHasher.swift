import Metrics
import NIOPosix
import PosternCore

/// Runs the slow password hash on a thread pool of its own, never on an event
/// loop or the cooperative pool. The pool's size caps how many hashes run at
/// once (each scrypt at OWASP cost takes 128 MiB); the rest queue, holding no
/// thread.
public final class OffloadedHasher: PasswordHasher {
    private let hasher: ScryptHasher
    private let pool: NIOThreadPool
    private let inFlight: Meter?
    private let started: Counter?

    public init(parameters: ScryptHasher.Parameters, threads: Int, inFlight: Meter?, started: Counter? = nil) {
        self.started = started
        hasher = ScryptHasher(parameters: parameters)
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        self.inFlight = inFlight
    }

    public var dummyHash: String { hasher.dummyHash }

    public func needsRehash(_ encoded: String) -> Bool { hasher.needsRehash(encoded) }

    public func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await run { try hasher.hashNow(password) }
    }

    public func verify(_ password: String, against encoded: String) async throws -> Bool {
        let hasher = self.hasher
        return try await run { try hasher.verifyNow(password, against: encoded) }
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        inFlight?.increment()
        started?.increment()
        defer { inFlight?.decrement() }
        return try await pool.runIfActive(work)
    }

    /// Makes the dummy hash now, off the event loops, so the first unknown
    /// user does not pay for it (and so does not stand out by its timing).
    public func warmUp() async throws {
        let hasher = self.hasher
        _ = try await pool.runIfActive { hasher.dummyHash }
    }

    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
