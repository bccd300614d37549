import Foundation
import Synchronization

/// Collects what protocol logins produce (last-use updates and audit events)
/// so that a login does not wait for a database write. `drain()` hands over
/// everything collected; the server's flush service writes it in one
/// transaction about once a second.
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
        var events: [AuditEvent] = []
        var dropped = 0
    }

    private let state = Mutex(State())
    private let maximumEvents: Int

    public init(maximumEvents: Int = 100_000) {
        self.maximumEvents = maximumEvents
    }

    public func record(_ event: AuditEvent, lastUse: LastUse?) {
        state.withLock { state in
            if let lastUse {
                if let existing = state.lastUses[lastUse.appPasswordID], existing.at > lastUse.at {
                    // Keep the newer one already buffered.
                } else {
                    state.lastUses[lastUse.appPasswordID] = lastUse
                }
            }
            if state.events.count >= maximumEvents {
                state.events.removeFirst(state.events.count - maximumEvents + 1)
                state.dropped += 1
            }
            state.events.append(event)
        }
    }

    /// How many audit events were dropped because the buffer was full.
    public var droppedEvents: Int { state.withLock { $0.dropped } }

    /// Takes everything buffered so far.
    public func drain() -> Batch {
        state.withLock { state in
            let batch = Batch(lastUses: Array(state.lastUses.values), events: state.events)
            state.lastUses = [:]
            state.events = []
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

    /// Writes the buffered records to `store`. On failure they are kept for the
    /// next attempt and the error is rethrown.
    public func flush(to store: some AuditStore) async throws {
        let batch = drain()
        guard !batch.isEmpty else { return }
        do {
            try await store.recordLogins(lastUses: batch.lastUses, events: batch.events)
        } catch {
            restore(batch)
            throw error
        }
    }
}
