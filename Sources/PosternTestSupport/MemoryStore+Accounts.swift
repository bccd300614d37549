import Foundation
import PosternCore

// MARK: - Accounts

extension MemoryStore {
    public func createAccount(_ account: Account, audit: AuditEvent) async throws {
        try write { state in
            guard state.accounts[account.id] == nil else { throw StoreError.conflict("id") }
            guard !state.accounts.values.contains(where: { $0.username == account.username }) else { throw StoreError.conflict("username") }
            var stored = account
            stored.mfaEnabled = false  // derived from the factors on every read
            state.accounts[account.id] = stored
            try state.insert([audit])
        }
    }

    public func account(username: String) async throws -> Account? {
        try read { state in
            state.accounts.values.first { $0.username == username }.map(state.reported)
        }
    }

    public func account(id: String) async throws -> Account? {
        try read { state in state.accounts[id].map(state.reported) }
    }

    public func listAccounts() async throws -> [Account] {
        try read { state in
            state.accounts.values.sorted { $0.username < $1.username }.map(state.reported)
        }
    }

    public func setDisabled(accountID: String, _ disabled: Bool, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard state.accounts[accountID] != nil else { return false }
            state.accounts[accountID]?.disabled = disabled
            try state.insert([audit])
            return true
        }
    }

    public func accountDomains() async throws -> Set<String> {
        try read { state in Set(state.accounts.values.map { Username.domain(of: $0.username) }) }
    }

    public func replacePasswordHash(accountID: String, expected: String, new: String, audit: AuditEvent?) async throws -> Bool {
        try write { state in
            guard state.accounts[accountID]?.passwordHash == expected else { return false }
            state.accounts[accountID]?.passwordHash = new
            if let audit { try state.insert([audit]) }
            return true
        }
    }
}

// MARK: - TOTP

extension MemoryStore {
    public func totpFactor(accountID: String) async throws -> TOTPFactor? {
        try read { state in state.totpFactors[accountID] }
    }

    public func savePendingTOTP(_ factor: TOTPFactor) async throws -> Bool {
        try write { state in
            if state.totpFactors[factor.accountID]?.confirmedAt == nil {
                state.totpFactors[factor.accountID] = nil
            }
            guard state.totpFactors[factor.accountID] == nil else { return false }
            try state.requireAccount(factor.accountID)
            state.totpFactors[factor.accountID] = TOTPFactor(accountID: factor.accountID, sealedSecret: factor.sealedSecret,
                                                             createdAt: factor.createdAt)
            return true
        }
    }

    public func confirmTOTP(accountID: String, sealedSecret: Data, step: Int64, at: Date, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard let factor = state.totpFactors[accountID], factor.confirmedAt == nil, factor.sealedSecret == sealedSecret else { return false }
            state.totpFactors[accountID]?.confirmedAt = at
            state.totpFactors[accountID]?.lastStep = step
            try state.insert([audit])
            return true
        }
    }

    public func consumeTOTPStep(accountID: String, step: Int64) async throws -> Bool {
        try write { state in
            guard let factor = state.totpFactors[accountID], factor.confirmedAt != nil else { return false }
            if let last = factor.lastStep, last >= step { return false }
            state.totpFactors[accountID]?.lastStep = step
            return true
        }
    }

    public func deleteTOTP(accountID: String, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard state.totpFactors.removeValue(forKey: accountID) != nil else { return false }
            try state.insert([audit])
            return true
        }
    }
}
