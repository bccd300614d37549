import Foundation
import PosternCore
import Testing

/// The queue of orders to end open sessions: part of the contract every store
/// meets.
@Suite("Store contract: orders to end open sessions")
struct TerminationStoreContractTests {
    static func order(_ account: Account, key: String, server: String = "dovecot", addresses: [String] = [],
                      at: Date = Fixture.t0) -> TerminationTask {
        TerminationTask(onceKey: "app_password_revoked:\(key)@\(server)", server: server, accountID: account.id,
                        username: account.username, addresses: addresses, cause: .appPasswordRevoked, createdAt: at)
    }

    static func event(_ account: Account, _ orders: [TerminationTask], kind: AuditEvent.Kind = .appPasswordRevoked,
                      at: Date = Fixture.t0) -> AuditEvent {
        var event = Fixture.audit(account.id, kind, at: at)
        event.terminations = orders
        return event
    }

    @Test("orders are queued with the change that caused them, once per once-key", arguments: StoreKind.allCases)
    func queuedOnce(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let phone = Fixture.appPassword(alice)
            try await store.createAppPassword(phone, limit: 10, audit: Fixture.audit(alice.id))
            let first = Self.order(alice, key: phone.id, addresses: ["203.0.113.7", "127.0.0.1"])
            #expect(try await store.revokeAppPassword(accountID: alice.id, id: phone.id, at: Fixture.t0,
                                                      audit: Self.event(alice, [first, Self.order(alice, key: phone.id, server: "ejabberd")])))
            // Another instance queues the same order again: dropped.
            try await store.recordLogins(lastUses: [], events: [Self.event(alice, [Self.order(alice, key: phone.id)])])
            let queued = try await store.terminations(accountID: alice.id, limit: 10)
            #expect(queued.count == 2)
            let dovecot = try #require(queued.first { $0.server == "dovecot" })
            #expect(dovecot == first, "stored as given: \(dovecot)")
            #expect(dovecot.state == .pending && dovecot.attempts == 0)
            // A revocation that changes nothing queues nothing.
            #expect(try await !store.revokeAppPassword(accountID: alice.id, id: phone.id, at: Fixture.t0,
                                                       audit: Self.event(alice, [Self.order(alice, key: "other")])))
            #expect(try await store.terminations(accountID: nil, limit: 10).count == 2)
        }
    }

    @Test("claim leases; a done order is never claimed again; a failed attempt waits for its retry", arguments: StoreKind.allCases)
    func lifecycle(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            let now = Fixture.t0
            let orders = [Self.order(alice, key: "a"), Self.order(alice, key: "b")]
            try await store.createAccount(alice, audit: Self.event(alice, orders, kind: .accountCreated))
            let claimed = try await store.claimTerminations(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
            #expect(Set(claimed.map(\.id)) == Set(orders.map(\.id)))
            #expect(try await store.claimTerminations(now: now.addingTimeInterval(30), leaseUntil: now.addingTimeInterval(90), limit: 10).isEmpty,
                    "leased orders are not claimed again")
            let ended = Self.event(alice, [], kind: .sessionsEnded)
            #expect(try await store.recordTerminationAttempt(id: orders[0].id, attempts: 1, .done, audit: ended))
            #expect(try await !store.recordTerminationAttempt(id: orders[0].id, attempts: 2, .done, audit: Self.event(alice, [], kind: .sessionsEnded)),
                    "a finished order takes no more attempts")
            #expect(try await store.recordTerminationAttempt(id: orders[1].id, attempts: 1, .retry(at: now.addingTimeInterval(120), error: "refused"),
                                                            audit: Self.event(alice, [], kind: .sessionsEnded)))
            #expect(try await store.claimTerminations(now: now.addingTimeInterval(61), leaseUntil: now.addingTimeInterval(200), limit: 10).isEmpty)
            let retry = try await store.claimTerminations(now: now.addingTimeInterval(121), leaseUntil: now.addingTimeInterval(200), limit: 10)
            #expect(retry.map(\.id) == [orders[1].id])
            #expect(retry.first?.attempts == 1 && retry.first?.lastError == "refused")
            // A lease that runs out (an instance died mid-attempt) frees the order.
            #expect(try await store.claimTerminations(now: now.addingTimeInterval(201), leaseUntil: now.addingTimeInterval(300), limit: 10).count == 1)
            var alert = Self.event(alice, [], kind: .sessionsEnded)
            alert.notices = [Notice(id: Secrets.newIdentifier(), recipient: alice.username, sealed: Data(Secrets.randomBytes(40)), onceKey: "x")]
            #expect(try await store.recordTerminationAttempt(id: orders[1].id, attempts: 2, .failed(error: "unreachable"), audit: alert))
            #expect(try await store.claimTerminations(now: now.addingTimeInterval(9999), leaseUntil: now.addingTimeInterval(99_999), limit: 10).isEmpty)
            let states = Dictionary(uniqueKeysWithValues: try await store.terminations(accountID: alice.id, limit: 10).map { ($0.id, $0) })
            #expect(states[orders[0].id]?.state == .done && states[orders[1].id]?.state == .failed)
            #expect(states[orders[1].id]?.lastError == "unreachable" && states[orders[1].id]?.attempts == 2)
            #expect(try await store.auditEvents(accountID: alice.id, before: nil, kinds: [.sessionsEnded], limit: 10).count == 3,
                    "every attempt is written with its event")
            #expect(try await store.pendingOutbox(limit: 10).count == 1, "the owner's alert goes out with the last attempt")
        }
    }

    @Test("concurrent claimers never get the same order", arguments: StoreKind.allCases)
    func concurrentClaims(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            let orders = (0..<30).map { Self.order(alice, key: "k\($0)") }
            try await store.createAccount(alice, audit: Self.event(alice, orders, kind: .accountCreated))
            let now = Fixture.t0
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await store.claimTerminations(now: now, leaseUntil: now.addingTimeInterval(60), limit: 5).map(\.id) }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(claims.count == Set(claims).count, "no order was claimed twice")
            #expect(claims.count == 20)
        }
    }
}
