import Foundation
import PosternCore

// MARK: - Security keys and challenges

extension MemoryStore {
    public func addSecurityKey(_ key: SecurityKey, audit: AuditEvent) async throws {
        try write { state in
            try state.requireAccount(key.accountID)
            guard state.securityKeys[key.credentialID] == nil else { throw StoreError.conflict("credential_id") }
            var stored = key
            stored.lastUsedAt = nil  // a new key has not been used
            state.securityKeys[key.credentialID] = stored
            try state.insert([audit])
        }
    }

    public func securityKeys(accountID: String) async throws -> [SecurityKey] {
        try read { state in
            state.securityKeys.values.filter { $0.accountID == accountID }.sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) }
        }
    }

    public func useSecurityKey(credentialID: Data, accountID: String, signCount: UInt32, at: Date) async throws -> Bool {
        try write { state in
            guard let key = state.securityKeys[credentialID], key.accountID == accountID else { return false }
            // Only forward, except for an authenticator that keeps no counter.
            guard key.signCount < signCount || (key.signCount == 0 && signCount == 0) else { return false }
            state.securityKeys[credentialID]?.signCount = signCount
            state.securityKeys[credentialID]?.lastUsedAt = at
            return true
        }
    }

    public func removeSecurityKey(credentialID: Data, accountID: String, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard state.securityKeys[credentialID]?.accountID == accountID else { return false }
            state.securityKeys[credentialID] = nil
            try state.insert([audit])
            return true
        }
    }

    public func removeSecurityKeyUnlessLast(credentialID: Data, accountID: String, audit: AuditEvent) async throws -> SecurityKeyRemoval {
        try write { state in
            guard state.securityKeys[credentialID]?.accountID == accountID else { return .notFound }
            let otherKeys = state.securityKeys.values.contains { $0.accountID == accountID && $0.credentialID != credentialID }
            let totp = state.totpFactors[accountID]?.confirmedAt != nil
            guard otherKeys || totp else { return .lastFactor }
            state.securityKeys[credentialID] = nil
            try state.insert([audit])
            return .removed
        }
    }

    public func saveChallenge(_ challenge: Challenge) async throws {
        try write { state in
            guard state.challenges[challenge.id] == nil else { throw StoreError.conflict("id") }
            state.challenges[challenge.id] = challenge
        }
    }

    public func takeChallenge(id: String, accountID: String, purpose: Challenge.Purpose, now: Date) async throws -> Challenge? {
        try write { state in
            state.challenges = state.challenges.filter { $0.value.expiresAt > now }
            guard let challenge = state.challenges[id], challenge.accountID == accountID, challenge.purpose == purpose else { return nil }
            state.challenges[id] = nil
            return challenge
        }
    }
}

// MARK: - Recovery codes

extension MemoryStore {
    public func replaceRecoveryCodes(accountID: String, codes: [RecoveryCodeRecord], audit: AuditEvent) async throws {
        try write { state in
            state.recoveryCodes = state.recoveryCodes.filter { $0.value.accountID != accountID }
            for code in codes {
                try state.requireAccount(accountID)
                guard state.recoveryCodes[code.id] == nil else { throw StoreError.conflict("id") }
                state.recoveryCodes[code.id] = RecoveryCodeRecord(id: code.id, accountID: accountID, salt: code.salt, hash: code.hash)
            }
            try state.insert([audit])
        }
    }

    public func unusedRecoveryCodes(accountID: String) async throws -> [RecoveryCodeRecord] {
        try read { state in
            state.recoveryCodes.values.filter { $0.accountID == accountID && $0.usedAt == nil }.sorted { $0.id < $1.id }
        }
    }

    public func burnRecoveryCode(id: String, accountID: String, at: Date, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard let code = state.recoveryCodes[id], code.accountID == accountID, code.usedAt == nil else { return false }
            state.recoveryCodes[id]?.usedAt = at
            try state.insert([audit])
            return true
        }
    }
}
