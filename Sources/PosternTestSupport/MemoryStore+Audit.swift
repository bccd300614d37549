import Foundation
import PosternCore

// MARK: - Audit

extension MemoryStore {
    public func auditEvents(accountID: String, limit: Int) async throws -> [AuditEvent] {
        try await auditEvents(accountID: accountID, before: nil, kinds: nil, limit: limit)
    }

    public func auditEvents(accountID: String, before: AuditCursor?, kinds: Set<AuditEvent.Kind>?, limit: Int) async throws -> [AuditEvent] {
        try read { state in
            if let kinds, kinds.isEmpty { return [] }
            let page = state.auditEvents.values.filter { event in
                guard event.accountID == accountID else { return false }
                if let before, !(event.at < before.at || (event.at == before.at && event.id < before.id)) { return false }
                return kinds?.contains(event.kind) ?? true
            }
            // Newest first: by time, then by id, so a cursor never repeats or skips one.
            return Array(page.sorted { ($0.at, $0.id) > ($1.at, $1.id) }.prefix(max(1, min(limit, 1000))))
        }
    }

    public func pruneAuditEvents(before: Date) async throws -> Int {
        try write { state in
            let count = state.auditEvents.values.count(where: { $0.at < before })
            state.auditEvents = state.auditEvents.filter { $0.value.at >= before }
            // Sent messages' rows go with them; unsent ones stay until delivered.
            state.outbox = state.outbox.filter { entry in entry.value.message.sentAt.map { $0 >= before } ?? true }
            state.passwordResets = state.passwordResets.filter { $0.value.expiresAt >= before }
            state.terminations = state.terminations.filter { $0.value.task.state == .pending || $0.value.task.createdAt >= before }
            state.deviceSetups = state.deviceSetups.filter { $0.value.createdAt >= before }
            return count
        }
    }

    public func recordLogins(lastUses: [LastUse], events: [AuditEvent]) async throws {
        if lastUses.isEmpty && events.isEmpty { return }
        try write { state in
            state.recordLastUses(lastUses)
            try state.insert(events)
        }
    }
}

// MARK: - Outbox

extension MemoryStore {
    public func claimOutbox(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        try write { state in
            // Due, unsent and not leased to another deliverer; the lease makes
            // a claimed message invisible to the next claimer.
            let due = state.outbox.values.filter { entry in
                entry.message.sentAt == nil && entry.message.nextAttemptAt <= now && (entry.leasedUntil.map { $0 <= now } ?? true)
            }
            let claimed = due.map(\.message)
                .sorted { ($0.nextAttemptAt, $0.createdAt, $0.id) < ($1.nextAttemptAt, $1.createdAt, $1.id) }
                .prefix(max(1, limit))
            for message in claimed { state.outbox[message.id]?.leasedUntil = leaseUntil }
            return claimed.sorted { $0.createdAt < $1.createdAt }
        }
    }

    public func markOutboxSent(id: String, at: Date) async throws {
        try write { state in
            guard state.outbox[id] != nil else { return }
            state.outbox[id]?.message.sentAt = at
            state.outbox[id]?.message.sealed = nil
            state.outbox[id]?.message.lastError = nil
            state.outbox[id]?.leasedUntil = nil
        }
    }

    public func markOutboxFailed(id: String, attempts: Int, nextAttemptAt: Date, error: String) async throws {
        try write { state in
            guard let entry = state.outbox[id], entry.message.sentAt == nil else { return }
            state.outbox[id]?.message.attempts = attempts
            state.outbox[id]?.message.nextAttemptAt = nextAttemptAt
            state.outbox[id]?.message.lastError = String(error.prefix(500))
            state.outbox[id]?.leasedUntil = nil
        }
    }

    public func pendingOutbox(limit: Int) async throws -> [OutboxMessage] {
        try read { state in
            let pending = state.outbox.values.map(\.message).filter { $0.sentAt == nil }
            return Array(pending.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }.prefix(max(1, limit)))
        }
    }
}
