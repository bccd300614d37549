import Foundation

extension AccountService {
    // MARK: - App passwords

    public func createAppPassword(account: Account, name rawName: String, protocols: [String]?, expiresAt: Date?) async throws -> IssuedAppPassword {
        let name = try AppPasswordFormat.validName(rawName)
        let scope = try AppPasswordFormat.scope(protocols)
        let now = clock.now
        if let expiresAt, expiresAt <= now { throw PosternError.invalidExpiry }
        // A digest collision is astronomically unlikely, but the unique index
        // would catch it: draw again rather than fail.
        for _ in 0..<3 {
            let password = AppPasswordFormat.generate()
            let record = AppPasswordRecord(id: Secrets.newIdentifier(), accountID: account.id, name: name,
                                           digest: AppPasswordFormat.digest(normalised: password, accountID: account.id, keys: keys),
                                           protocols: scope, createdAt: now, expiresAt: expiresAt)
            do {
                try await store.createAppPassword(record, limit: policy.appPasswordLimit,
                                                  audit: changeEvent(.appPasswordCreated, account, .appPasswordCreated(name: name),
                                                                     reason: name, appPasswordID: record.id))
                return IssuedAppPassword(record: record, password: password)
            } catch StoreError.conflict(let what) where what == "digest" {
                continue
            } catch StoreError.conflict {
                throw PosternError.appPasswordNameTaken
            }
        }
        throw StoreError.unavailable("could not draw a unique app password")
    }

    public func listAppPasswords(account: Account) async throws -> [AppPasswordRecord] {
        try await store.listAppPasswords(accountID: account.id)
    }

    public func revokeAppPassword(account: Account, id: String) async throws {
        let record = try await store.listAppPasswords(accountID: account.id).first { $0.id == id }
        let name = record?.name ?? "?"
        var event = changeEvent(.appPasswordRevoked, account, .appPasswordRevoked(name: name), reason: name, appPasswordID: id)
        if let record { event.terminations = endSessions(.appPasswordRevoked, account, revoked: record, key: id) }
        guard try await store.revokeAppPassword(accountID: account.id, id: id, at: clock.now, audit: event)
        else { throw PosternError.notFound }
    }

    @discardableResult
    public func revokeAllAppPasswords(account: Account) async throws -> Int {
        let active = try await store.listAppPasswords(accountID: account.id).filter { $0.revokedAt == nil }.count
        var event = changeEvent(.appPasswordRevoked, account, .allAppPasswordsRevoked(count: active), reason: "all")
        event.terminations = endSessions(.allAppPasswordsRevoked, account, key: event.id)
        event.cancelsDeviceSetups = true  // cleaning up: no link may mint a new one
        return try await store.revokeAllAppPasswords(accountID: account.id, at: clock.now, audit: event)
    }

    /// The orders that end the open sessions a change makes stale (written
    /// with the change's event, so they exist exactly when the change does).
    func endSessions(_ cause: TerminationCause, _ account: Account, revoked: AppPasswordRecord? = nil, key: String) -> [TerminationTask] {
        SessionTermination.orders(cause: cause, account: account, revoked: revoked, targets: terminationTargets, key: key, at: clock.now)
    }

    public func activity(account: Account, limit: Int = 100) async throws -> [AuditEvent] {
        try await store.auditEvents(accountID: account.id, limit: limit)
    }
}
