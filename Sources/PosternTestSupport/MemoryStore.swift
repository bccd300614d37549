import Foundation
import PosternCore
import Synchronization

/// `PosternStore` in memory, for fast tests of the core. It keeps the same
/// rules as `SQLStore` (unique names, limits, once-keys, leases, fixed
/// windows) and passes the same store contract suite.
///
/// Every method is one atomic step: it runs under one lock over the whole
/// state, on a draft that replaces the state only when the method returns, so
/// a call that throws changes nothing — like a rolled-back transaction.
///
/// Not for production: nothing survives the process, and one lock serialises
/// every call.
public final class MemoryStore: PosternStore {
    let state = Mutex(State())

    public init() {}

    /// Makes every later call throw `StoreError.unavailable`, like a database
    /// that has gone away; for tests of "cannot say" as opposed to "no".
    public func close() {
        state.withLock { $0.closed = true }
    }

    // MARK: - State

    /// The tables. Records are kept as `SQLStore` would return them.
    struct State: Sendable {
        var closed = false
        var accounts: [String: Account] = [:]
        var totpFactors: [String: TOTPFactor] = [:]
        var appPasswords: [String: AppPasswordRecord] = [:]
        var sessions: [Data: Session] = [:]
        var reveals: [String: Reveal] = [:]
        var securityKeys: [Data: SecurityKey] = [:]
        var challenges: [String: Challenge] = [:]
        var recoveryCodes: [String: RecoveryCodeRecord] = [:]
        var auditEvents: [String: AuditEvent] = [:]
        var outbox: [String: OutboxEntry] = [:]
        var noticeKeys: [String: Date] = [:]
        var passwordResets: [Data: PasswordReset] = [:]
        var throttleCounters: [String: ThrottleCounter] = [:]
        var terminations: [String: TerminationEntry] = [:]
        var adminLog: [String: AdminLogEntry] = [:]
        var deviceSetups: [String: DeviceSetup] = [:]
    }

    struct TerminationEntry: Sendable {
        var task: TerminationTask
        var leasedUntil: Date?
    }

    struct Reveal: Sendable {
        var sessionDigest: Data
        var sealed: Data
        var expiresAt: Date
    }

    struct OutboxEntry: Sendable {
        var message: OutboxMessage
        var leasedUntil: Date?
    }

    struct ThrottleCounter: Sendable {
        var windowStart: Date
        var count: Int
    }

    // MARK: - One atomic step

    /// Reads under the lock. Throws `unavailable` once closed.
    func read<T: Sendable>(_ body: (State) throws -> T) throws -> T {
        try state.withLock { current in
            guard !current.closed else { throw StoreError.unavailable("memory store closed") }
            return try body(current)
        }
    }

    /// Changes the state under the lock, all or nothing: `body` works on a
    /// draft that becomes the state only if it returns.
    func write<T: Sendable>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { current in
            guard !current.closed else { throw StoreError.unavailable("memory store closed") }
            var draft = current
            let value = try body(&draft)
            current = draft
            return value
        }
    }
}

// MARK: - Shared rules

extension MemoryStore.State {
    /// An account as the store reports it: MFA is on with a confirmed
    /// authenticator app or any security key.
    func reported(_ account: Account) -> Account {
        var account = account
        account.mfaEnabled = totpFactors[account.id]?.confirmedAt != nil
            || securityKeys.values.contains { $0.accountID == account.id }
        return account
    }

    /// Child rows need their account, as the SQL schema's foreign keys demand.
    func requireAccount(_ accountID: String) throws {
        guard accounts[accountID] != nil else { throw StoreError.unavailable("no account \(accountID) for a dependent record") }
    }

    /// Writes audit events and their notices into the outbox (a notice with a
    /// once-key only if the key is new), as `SQLStore.insert` does.
    mutating func insert(_ events: [AuditEvent]) throws {
        let now = events.first?.at ?? Date()
        for notice in events.flatMap(\.notices) {
            if let key = notice.onceKey {
                if noticeKeys[key] != nil { continue }
                noticeKeys[key] = now
            }
            guard outbox[notice.id] == nil else { throw StoreError.conflict("id") }
            outbox[notice.id] = MemoryStore.OutboxEntry(
                message: OutboxMessage(id: notice.id, recipient: notice.recipient, sealed: notice.sealed, createdAt: now,
                                       attempts: 0, nextAttemptAt: now))
        }
        for order in events.flatMap(\.terminations) where !terminations.values.contains(where: { $0.task.onceKey == order.onceKey }) {
            guard terminations[order.id] == nil else { throw StoreError.conflict("id") }
            terminations[order.id] = MemoryStore.TerminationEntry(task: order)
        }
        for event in events where event.cancelsDeviceSetups {
            guard let accountID = event.accountID else { continue }
            cancelDeviceSetups(accountID: accountID, at: event.at)
        }
        for event in events {
            guard auditEvents[event.id] == nil else { throw StoreError.conflict("id") }
            var stored = event
            stored.notices = []  // notices live in the outbox, not with the event
            stored.terminations = []  // orders live in their queue
            stored.adminLog = nil  // and admin-log lines in the admin log
            stored.cancelsDeviceSetups = false  // an instruction to the store, not part of the record
            auditEvents[event.id] = stored
            if let line = event.adminLog {
                guard adminLog[line.id] == nil else { throw StoreError.conflict("id") }
                adminLog[line.id] = line
            }
        }
    }
}
