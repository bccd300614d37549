import Foundation
import Logging
import PosternCore
import PosternHTTP
import ServiceLifecycle

/// Ends open sessions after a revocation: claims due orders from the store's
/// queue (leased, so of several instances only one acts on an order), asks
/// the order's server through its driver, and records every attempt in the
/// owner's activity and the metrics. A failed attempt is retried with
/// exponential backoff, so a server that was down is told when it is back;
/// after the last attempt the order is shown as failed and the owner is told.
struct SessionTerminationService: Service {
    let store: any TerminationStore
    let drivers: [String: any SessionTerminationDriver]
    let notices: NoticeComposer?
    let metrics: PosternMetrics?
    let retryBase: TimeInterval
    let maximumAttempts: Int
    let interval: Duration
    let clock: PosternCore.Clock
    let logger: Logger

    func run() async throws {
        // No server to tell: nothing is ever queued. Stay until shutdown.
        guard !drivers.isEmpty else { return try await gracefulShutdown() }
        for await _ in ticks(every: interval, immediately: true).cancelOnGracefulShutdown() {
            await terminateDue()
        }
    }

    /// Acts on what is due now, every server at once; returns how many
    /// attempts were made.
    @discardableResult
    func terminateDue() async -> Int {
        let now = clock.now
        // Longer than the slowest driver's call (at most 120 s) and the write after it.
        let lease: TimeInterval = 180
        let batch: [TerminationTask]
        do {
            batch = try await store.claimTerminations(now: now, leaseUntil: now.addingTimeInterval(lease), limit: 20)
        } catch {
            logger.warning("cannot read the termination queue; will retry", metadata: ["error": "\(error)"])
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for order in batch {
                group.addTask { await attempt(order) }
            }
        }
        return batch.count
    }

    private func attempt(_ order: TerminationTask) async {
        let attempts = order.attempts + 1
        let started = ContinuousClock.now
        let result: Result<[String: Int]?, TerminationFailure>
        if let driver = drivers[order.server] {
            do {
                result = .success(try await driver.terminate(order))
            } catch let failure as TerminationFailure {
                result = .failure(failure)
            } catch {
                result = .failure(TerminationFailure(description: TerminationHTTP.reason(error)))
            }
        } else {
            result = .failure(TerminationFailure(description: "no \(order.server) driver is configured", permanent: true))
        }
        let (outcome, event) = record(order, attempts: attempts, result)
        let label = event.result.rawValue
        metrics?.countTermination(server: order.server, result: label, duration: ContinuousClock.now - started)
        logger.log(level: label == "ok" ? .info : .warning, "session termination",
                   metadata: ["order": "\(order.id)", "server": "\(order.server)", "attempt": "\(attempts)", "result": "\(label)",
                              "summary": "\(event.reason ?? "")"])
        do {
            _ = try await store.recordTerminationAttempt(id: order.id, attempts: attempts, outcome, audit: event)
        } catch {
            // The lease keeps other instances off it until it runs out; then
            // it is tried again (a kick twice ends nothing more).
            logger.error("could not record a termination attempt", metadata: ["order": "\(order.id)", "error": "\(error)"])
        }
    }

    /// The attempt's outcome for the queue and its event for the activity
    /// (with the owner's alert after the last failure).
    private func record(_ order: TerminationTask, attempts: Int, _ result: Result<[String: Int]?, TerminationFailure>)
        -> (TerminationAttempt, AuditEvent) {
        let now = clock.now
        let outcome: TerminationAttempt
        let summary: String
        switch result {
        case .success(let counts):
            outcome = .done
            summary = SessionTermination.summary(server: order.server, addresses: order.addresses, ended: counts, error: nil, final: true)
        case .failure(let failure):
            let next = failure.permanent ? nil
                : SessionTermination.nextAttempt(after: attempts, base: retryBase, maximumAttempts: maximumAttempts, now: now)
            outcome = next.map { .retry(at: $0, error: failure.description) } ?? .failed(error: failure.description)
            summary = SessionTermination.summary(server: order.server, addresses: order.addresses, ended: nil,
                                                 error: failure.description, final: next == nil)
        }
        let result: AuditEvent.Outcome = switch outcome { case .done: .ok; case .retry: .retrying; case .failed: .failed }
        var event = AuditEvent(accountID: order.accountID, kind: .sessionsEnded, result: result, reason: summary, at: now)
        if case .failed = outcome,
           let notice = notices?.sessionsNotEnded(recipient: order.username, server: order.server, orderID: order.id, at: now) {
            event.notices = [notice]
        }
        return (outcome, event)
    }
}
