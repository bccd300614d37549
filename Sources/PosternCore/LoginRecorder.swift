import Foundation
import Synchronization

/// Collects what protocol logins produce (last-use updates and audit events)
/// so that a login does not wait for a database write. `drain()` hands over
/// everything collected; the server's flush service writes it in
/// transactions of a bounded size four times a second.
///
/// Last uses are coalesced per app password, keeping the newest. The buffer is
/// bounded: past `maximumEvents` pending audit events the oldest are dropped
/// and counted, so a database outage cannot exhaust memory.
public final class LoginRecorder: Sendable {
    public struct Batch: Sendable {
        public var lastUses: [LastUse]
        public var events: [AuditEvent]
        public var isEmpty: Bool { lastUses.isEmpty && events.isEmpty }
    }

    private struct State {
        var lastUses: [String: LastUse] = [:]
        /// The last use of each app password last handed over, to skip the
        /// ones that would only move its time by less than `lastUsePrecision`.
        var handedOver: [String: LastUse] = [:]
        var events: [AuditEvent] = []
        var dropped = 0
    }

    private let state = Mutex(State())
    private let maximumEvents: Int
    /// A last use from the same address and protocol as the one last written,
    /// within this many seconds of it, is not written again: "last used" is
    /// kept to the minute, and a client that logs in every few seconds costs
    /// one row update a minute, not one a login. Every login still has its
    /// audit event.
    public let lastUsePrecision: TimeInterval

    public init(maximumEvents: Int = 100_000, lastUsePrecision: TimeInterval = 60) {
        self.maximumEvents = maximumEvents
        self.lastUsePrecision = lastUsePrecision
    }

    public func record(_ event: AuditEvent, lastUse: LastUse?) {
        state.withLock { state in
            if let lastUse, !isRepeat(lastUse, of: state.handedOver[lastUse.appPasswordID]) {
                if let existing = state.lastUses[lastUse.appPasswordID], existing.at > lastUse.at {
                    // Keep the newer one already buffered.
                } else {
                    state.lastUses[lastUse.appPasswordID] = lastUse
                }
            }
            if state.events.count >= maximumEvents {
                // Full: drop the oldest tenth at once, so that dropping stays
                // cheap per login however long the database is away.
                let drop = min(state.events.count, state.events.count - maximumEvents + max(1, maximumEvents / 10))
                state.events.removeFirst(drop)
                state.dropped += drop
            }
            state.events.append(event)
        }
    }

    private func isRepeat(_ use: LastUse, of previous: LastUse?) -> Bool {
        guard let previous else { return false }
        return previous.clientIP == use.clientIP && previous.loginProtocol == use.loginProtocol
            && use.at >= previous.at && use.at.timeIntervalSince(previous.at) < lastUsePrecision
    }

    /// How many audit events were dropped because the buffer was full.
    public var droppedEvents: Int { state.withLock { $0.dropped } }

    /// Takes every last use and the buffered events, or with `limit` at most
    /// that many events (the oldest first). Last uses are one per app
    /// password, so they are always taken whole.
    public func drain(limit: Int = .max) -> Batch {
        state.withLock { state in
            let batch: Batch
            if state.events.count <= limit {
                batch = Batch(lastUses: Array(state.lastUses.values), events: state.events)
                state.events.removeAll(keepingCapacity: true)
            } else {
                batch = Batch(lastUses: Array(state.lastUses.values), events: Array(state.events.prefix(limit)))
                state.events.removeFirst(limit)
            }
            if state.handedOver.count > 200_000 { state.handedOver.removeAll(keepingCapacity: true) }
            for use in batch.lastUses { state.handedOver[use.appPasswordID] = use }
            state.lastUses.removeAll(keepingCapacity: true)
            return batch
        }
    }

    /// Puts back a batch whose write failed, so it is tried again.
    public func restore(_ batch: Batch) {
        state.withLock { state in
            for use in batch.lastUses {
                if let existing = state.lastUses[use.appPasswordID], existing.at > use.at { continue }
                state.lastUses[use.appPasswordID] = use
            }
            let room = max(0, maximumEvents - state.events.count)
            state.events.insert(contentsOf: batch.events.suffix(room), at: 0)
            state.dropped += max(0, batch.events.count - room)
        }
    }

    /// Writes the buffered records to `store`, at most `batchSize` events a
    /// transaction, so that a backlog (after an outage, or under a load the
    /// database only just keeps up with) is written in steps that each finish
    /// in time rather than one that never does. On failure the unwritten
    /// records are kept for the next attempt and the error is rethrown.
    public func flush(to store: some AuditStore, batchSize: Int = 2_000) async throws {
        // What is buffered now, not what keeps arriving while it is written.
        let rounds = state.withLock { $0.events.count } / batchSize + 1
        for _ in 0..<rounds {
            let batch = drain(limit: batchSize)
            guard !batch.isEmpty else { return }
            do {
                try await store.recordLogins(lastUses: batch.lastUses, events: batch.events)
            } catch {
                restore(batch)
                throw error
            }
        }
    }
}
