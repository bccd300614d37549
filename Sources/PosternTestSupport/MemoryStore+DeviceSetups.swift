import Foundation
import PosternCore

// MARK: - Device-setup links

extension MemoryStore {
    public func createDeviceSetup(_ setup: DeviceSetup, liveLimit: Int, now: Date) async throws {
        try write { state in
            try state.requireAccount(setup.accountID)
            let live = state.deviceSetups.values.count { $0.accountID == setup.accountID && $0.state(at: now) == .pending }
            if live >= liveLimit { throw PosternError.deviceSetupLimit(liveLimit) }
            guard state.deviceSetups[setup.id] == nil else { throw StoreError.conflict("id") }
            guard !state.deviceSetups.values.contains(where: { $0.tokenDigest == setup.tokenDigest }) else {
                throw StoreError.conflict("token_digest")
            }
            // A new link is neither used nor cancelled, whatever the record says.
            var stored = setup
            stored.usedAt = nil
            stored.usedFrom = nil
            stored.appPasswordID = nil
            stored.cancelledAt = nil
            state.deviceSetups[setup.id] = stored
        }
    }

    public func deviceSetup(tokenDigest: Data) async throws -> DeviceSetup? {
        try read { state in state.deviceSetups.values.first { $0.tokenDigest == tokenDigest } }
    }

    public func redeemDeviceSetup(tokenDigest: Data, now: Date, clientIP: String?, appPassword: AppPasswordRecord, limit: Int,
                                  audit: AuditEvent) async throws -> DeviceSetup? {
        try write { state in
            guard var setup = state.deviceSetups.values.first(where: { $0.tokenDigest == tokenDigest }),
                  setup.accountID == appPassword.accountID, setup.state(at: now) == .pending else { return nil }
            setup.usedAt = now
            setup.usedFrom = clientIP
            setup.appPasswordID = appPassword.id
            state.deviceSetups[setup.id] = setup
            // A throw below discards the draft, link and all.
            try state.insertAppPassword(appPassword, limit: limit)
            try state.insert([audit])
            return setup
        }
    }

    public func deviceSetups(accountID: String, limit: Int) async throws -> [DeviceSetup] {
        try read { state in
            Array(state.deviceSetups.values.filter { $0.accountID == accountID }
                .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.prefix(max(0, limit)))
        }
    }

    public func cancelDeviceSetup(accountID: String, id: String, at: Date) async throws -> Bool {
        try write { state in
            guard let setup = state.deviceSetups[id], setup.accountID == accountID, setup.usedAt == nil, setup.cancelledAt == nil else {
                return false
            }
            state.deviceSetups[id]?.cancelledAt = at
            return true
        }
    }
}

extension MemoryStore.State {
    /// What `SQLStore.cancelDeviceSetups` does for an event that asks.
    mutating func cancelDeviceSetups(accountID: String, at: Date) {
        for (id, setup) in deviceSetups where setup.accountID == accountID && setup.usedAt == nil && setup.cancelledAt == nil {
            deviceSetups[id]?.cancelledAt = at
        }
    }
}
