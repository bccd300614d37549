import Foundation
import Logging
import PosternCore
import ServiceLifecycle

/// Deletes audit events past the retention period, and the guard's counters
/// whose windows have long ended, once an hour.
struct RetentionService: Service {
    let store: any AuditStore & ThrottleStore
    let retention: TimeInterval
    let clock: PosternCore.Clock
    let logger: Logger

    func run() async throws {
        for await _ in ticks(every: .seconds(3600), immediately: true).cancelOnGracefulShutdown() {
            do {
                let pruned = try await store.pruneAuditEvents(before: clock.now.addingTimeInterval(-retention))
                if pruned > 0 { logger.info("pruned old activity", metadata: ["events": "\(pruned)"]) }
                // Every window is at most a day (a reset link's lifetime); two days is safely past any.
                _ = try await store.pruneThrottleCounters(before: clock.now.addingTimeInterval(-2 * 86_400))
            } catch {
                logger.warning("cannot prune old activity; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}
