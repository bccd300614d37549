import Foundation
import PosternCore

// MARK: - App passwords

extension MemoryStore {
    public func createAppPassword(_ record: AppPasswordRecord, limit: Int, audit: AuditEvent) async throws {
        try write { state in
            try state.insertAppPassword(record, limit: limit)
            try state.insert([audit])
        }
    }

    public func appPassword(digest: Data) async throws -> AppPasswordRecord? {
        try read { state in state.appPasswords.values.first { $0.digest == digest } }
    }

    public func appPasswordWithAccount(digest: Data) async throws -> (AppPasswordRecord, Account)? {
        try read { state in
            guard let record = state.appPasswords.values.first(where: { $0.digest == digest }),
                  let account = state.accounts[record.accountID] else { return nil }
            return (record, state.reported(account))
        }
    }

    public func listAppPasswords(accountID: String) async throws -> [AppPasswordRecord] {
        try read { state in
            state.appPasswords.values.filter { $0.accountID == accountID && $0.revokedAt == nil }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func revokeAppPassword(accountID: String, id: String, at: Date, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard let record = state.appPasswords[id], record.accountID == accountID, record.revokedAt == nil else { return false }
            state.appPasswords[id]?.revokedAt = at
            try state.insert([audit])
            return true
        }
    }

    public func revokeAllAppPasswords(accountID: String, at: Date, audit: AuditEvent) async throws -> Int {
        try write { state in
            let active = state.appPasswords.values.filter { $0.accountID == accountID && $0.revokedAt == nil }.map(\.id)
            for id in active { state.appPasswords[id]?.revokedAt = at }
            if !active.isEmpty {
                try state.insert([audit])
            } else if audit.cancelsDeviceSetups, let owner = audit.accountID {
                state.cancelDeviceSetups(accountID: owner, at: audit.at)  // nothing to revoke, still no link may mint one
            }
            return active.count
        }
    }
}

extension MemoryStore.State {
    /// Inserts an app password under the store's rules: the limit, then the
    /// checks the SQL schema makes, in its order (primary key, unique
    /// digest, unique name among the active ones).
    mutating func insertAppPassword(_ record: AppPasswordRecord, limit: Int) throws {
        let active = appPasswords.values.filter { $0.accountID == record.accountID && $0.revokedAt == nil }
        if active.count >= limit { throw PosternError.appPasswordLimit(limit) }
        try requireAccount(record.accountID)
        guard appPasswords[record.id] == nil else { throw StoreError.conflict("id") }
        guard !appPasswords.values.contains(where: { $0.digest == record.digest }) else { throw StoreError.conflict("digest") }
        guard !active.contains(where: { $0.name == record.name }) else { throw StoreError.conflict("name") }
        // A new one is neither revoked nor used, whatever the record says.
        var stored = record
        stored.revokedAt = nil
        stored.lastUse = nil
        appPasswords[record.id] = stored
    }

    /// Stores each app password's newest last use; an older one never
    /// replaces a newer one (several instances may write).
    mutating func recordLastUses(_ lastUses: [LastUse]) {
        for use in lastUses {
            guard let record = appPasswords[use.appPasswordID] else { continue }
            if let stored = record.lastUse, stored.at >= use.at { continue }
            appPasswords[use.appPasswordID]?.lastUse = use
        }
    }
}
