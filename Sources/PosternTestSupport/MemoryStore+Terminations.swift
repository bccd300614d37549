import Foundation
import PosternCore

// MARK: - Orders to end open sessions

extension MemoryStore {
    public func claimTerminations(now: Date, leaseUntil: Date, limit: Int) async throws -> [TerminationTask] {
        try write { state in
            let due = state.terminations.values.filter { entry in
                entry.task.state == .pending && entry.task.nextAttemptAt <= now && (entry.leasedUntil.map { $0 <= now } ?? true)
            }
            let claimed = due.map(\.task).sorted { ($0.nextAttemptAt, $0.id) < ($1.nextAttemptAt, $1.id) }.prefix(max(1, limit))
            for task in claimed { state.terminations[task.id]?.leasedUntil = leaseUntil }
            return claimed.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func recordTerminationAttempt(id: String, attempts: Int, _ attempt: TerminationAttempt, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard var entry = state.terminations[id], entry.task.state == .pending else { return false }
            entry.task.attempts = attempts
            entry.leasedUntil = nil
            switch attempt {
            case .done:
                entry.task.state = .done
                entry.task.lastError = nil
            case .retry(let at, let error):
                entry.task.nextAttemptAt = at
                entry.task.lastError = String(error.prefix(500))
            case .failed(let error):
                entry.task.state = .failed
                entry.task.lastError = String(error.prefix(500))
            }
            state.terminations[id] = entry
            try state.insert([audit])
            return true
        }
    }

    public func terminations(accountID: String?, limit: Int) async throws -> [TerminationTask] {
        try read { state in
            let tasks = state.terminations.values.map(\.task).filter { accountID == nil || $0.accountID == accountID }
            return Array(tasks.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.prefix(max(1, min(limit, 1000))))
        }
    }
}
