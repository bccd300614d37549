import Foundation
import PosternCore

// MARK: - Password resets

extension MemoryStore {
    public func savePasswordReset(_ reset: PasswordReset, unlessOpenSince: Date, audit: AuditEvent) async throws -> Bool {
        try write { state in
            let justSent = state.passwordResets.values.contains { open in
                open.accountID == reset.accountID && open.usedAt == nil && open.expiresAt > reset.createdAt && open.createdAt > unlessOpenSince
            }
            guard !justSent else { return false }
            // At most one live link: every earlier open request ends here.
            state.endOpenResets(accountID: reset.accountID, at: reset.createdAt)
            try state.requireAccount(reset.accountID)
            guard state.passwordResets[reset.tokenDigest] == nil else { throw StoreError.conflict("token_digest") }
            state.passwordResets[reset.tokenDigest] = PasswordReset(tokenDigest: reset.tokenDigest, accountID: reset.accountID,
                                                                    createdAt: reset.createdAt, expiresAt: reset.expiresAt)
            try state.insert([audit])
            return true
        }
    }

    public func endPasswordReset(tokenDigest: Data, at: Date) async throws {
        try write { state in
            guard state.passwordResets[tokenDigest]?.usedAt == nil else { return }
            state.passwordResets[tokenDigest]?.usedAt = at
        }
    }

    public func passwordReset(tokenDigest: Data, now: Date) async throws -> PasswordReset? {
        try read { state in
            guard let reset = state.passwordResets[tokenDigest], reset.usedAt == nil, reset.expiresAt > now else { return nil }
            return reset
        }
    }

    public func completePasswordReset(tokenDigest: Data, accountID: String, newPasswordHash: String, revokeAppPasswords: Bool,
                                      now: Date, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard let reset = state.passwordResets[tokenDigest], reset.accountID == accountID, reset.usedAt == nil, reset.expiresAt > now else {
                return false
            }
            state.passwordResets[tokenDigest]?.usedAt = now
            state.accounts[accountID]?.passwordHash = newPasswordHash
            state.sessions = state.sessions.filter { $0.value.accountID != accountID }
            if revokeAppPasswords {
                for record in state.appPasswords.values where record.accountID == accountID && record.revokedAt == nil {
                    state.appPasswords[record.id]?.revokedAt = now
                }
            }
            // Other requests for the same account stop working too.
            state.endOpenResets(accountID: accountID, at: now)
            try state.insert([audit])
            return true
        }
    }
}

extension MemoryStore.State {
    mutating func endOpenResets(accountID: String, at: Date) {
        for reset in passwordResets.values where reset.accountID == accountID && reset.usedAt == nil {
            passwordResets[reset.tokenDigest]?.usedAt = at
        }
    }
}

// MARK: - Shared throttle counters

extension MemoryStore {
    public func addFailure(key: String, window: TimeInterval, now: Date) async throws -> Int {
        try write { state in
            // A fixed window: a new one starts when the last one has ended.
            if let counter = state.throttleCounters[key], counter.windowStart > now.addingTimeInterval(-window) {
                state.throttleCounters[key]?.count += 1
            } else {
                state.throttleCounters[key] = ThrottleCounter(windowStart: now, count: 1)
            }
            return state.throttleCounters[key]?.count ?? 1
        }
    }

    public func failures(key: String, window: TimeInterval, now: Date) async throws -> Int {
        try read { state in
            guard let counter = state.throttleCounters[key], counter.windowStart > now.addingTimeInterval(-window) else { return 0 }
            return counter.count
        }
    }

    public func removeFailure(key: String, window: TimeInterval, now: Date) async throws {
        try write { state in
            guard let counter = state.throttleCounters[key], counter.count > 0, counter.windowStart > now.addingTimeInterval(-window) else {
                return
            }
            state.throttleCounters[key]?.count -= 1
        }
    }

    public func pruneThrottleCounters(before: Date) async throws -> Int {
        try write { state in
            let count = state.throttleCounters.values.count(where: { $0.windowStart < before })
            state.throttleCounters = state.throttleCounters.filter { $0.value.windowStart >= before }
            return count
        }
    }

    public func succeeded(accountID: String, clientIP: String, since: Date) async throws -> Bool {
        try read { state in
            state.auditEvents.values.contains { event in
                event.accountID == accountID && event.clientIP == clientIP && event.at > since && event.result == .allow
                    && ((event.kind == .protocolLogin && event.credential == "account_password") || event.kind == .signIn)
            }
        }
    }
}
