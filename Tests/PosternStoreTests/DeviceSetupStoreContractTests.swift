import Foundation
import PosternCore
import Testing

/// One-time device-setup links: part of the contract every store meets.
@Suite("Store contract: device-setup links")
struct DeviceSetupStoreContractTests {
    static func setup(_ account: Account, name: String = "iPhone", at: Date = Fixture.t0, lifetime: TimeInterval = 600) -> DeviceSetup {
        DeviceSetup(id: Secrets.newIdentifier(), accountID: account.id, kind: .apple, name: name, protocols: [.imap, .smtp],
                    tokenDigest: Data(Secrets.randomBytes(32)), createdAt: at, expiresAt: at.addingTimeInterval(lifetime),
                    createdFrom: "198.51.100.1")
    }

    static func redeem(_ store: any PosternStore, _ setup: DeviceSetup, for account: Account, name: String = "iPhone",
                       at: Date = Fixture.t0.addingTimeInterval(60), limit: Int = 10) async throws -> (DeviceSetup?, AppPasswordRecord) {
        let record = Fixture.appPassword(account, name: name, protocols: setup.protocols)
        let used = try await store.redeemDeviceSetup(tokenDigest: setup.tokenDigest, now: at, clientIP: "203.0.113.5", appPassword: record,
                                                     limit: limit, audit: Fixture.audit(account.id, .appPasswordCreated, at: at))
        return (used, record)
    }

    static func newAccount(_ store: any PosternStore, _ name: String = "alice@example.org") async throws -> Account {
        let account = Fixture.account(name)
        try await store.createAccount(account, audit: Fixture.audit(account.id, .accountCreated))
        return account
    }

    @Test("a link is stored as given, listed newest first, and used once: the app password and event with it", arguments: StoreKind.allCases)
    func lifecycle(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            let first = Self.setup(alice)
            let second = Self.setup(alice, name: "iPad", at: Fixture.t0.addingTimeInterval(1))
            try await store.createDeviceSetup(first, liveLimit: 5, now: Fixture.t0)
            try await store.createDeviceSetup(second, liveLimit: 5, now: Fixture.t0)
            #expect(try await store.deviceSetup(tokenDigest: first.tokenDigest) == first)
            #expect(try await store.deviceSetups(accountID: alice.id, limit: 10) == [second, first])
            #expect(try await store.deviceSetups(accountID: alice.id, limit: 1) == [second])

            let (used, record) = try await Self.redeem(store, first, for: alice)
            let stored = try #require(used)
            #expect(stored.usedAt == Fixture.t0.addingTimeInterval(60) && stored.usedFrom == "203.0.113.5" && stored.appPasswordID == record.id)
            #expect(try await store.deviceSetup(tokenDigest: first.tokenDigest) == stored)
            #expect(try await store.listAppPasswords(accountID: alice.id).map(\.id) == [record.id])
            #expect(try await store.auditEvents(accountID: alice.id, limit: 10).contains { $0.kind == .appPasswordCreated })
            let (again, _) = try await Self.redeem(store, first, for: alice, name: "other")
            #expect(again == nil, "a used link makes nothing more")
            #expect(try await store.listAppPasswords(accountID: alice.id).count == 1)
            await #expect(throws: StoreError.conflict("token_digest")) {
                try await store.createDeviceSetup(Self.setup(alice).with(digest: first.tokenDigest), liveLimit: 5, now: Fixture.t0)
            }
        }
    }

    @Test("of 20 concurrent opens of one link exactly one wins", arguments: StoreKind.allCases)
    func singleUse(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            let link = Self.setup(alice)
            try await store.createDeviceSetup(link, liveLimit: 5, now: Fixture.t0)
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<20 {
                    group.addTask { try await Self.redeem(store, link, for: alice, name: "iPhone \(index)").0 != nil }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
            #expect(try await store.listAppPasswords(accountID: alice.id).count == 1)
            #expect(try await store.auditEvents(accountID: alice.id, limit: 50).count { $0.kind == .appPasswordCreated } == 1)
        }
    }

    @Test("a link works until its expiry, not at it", arguments: StoreKind.allCases)
    func expiry(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            let late = Self.setup(alice)
            let inTime = Self.setup(alice)
            try await store.createDeviceSetup(late, liveLimit: 5, now: Fixture.t0)
            try await store.createDeviceSetup(inTime, liveLimit: 5, now: Fixture.t0)
            #expect(try await Self.redeem(store, late, for: alice, at: late.expiresAt).0 == nil)
            #expect(try await Self.redeem(store, inTime, for: alice, at: inTime.expiresAt.addingTimeInterval(-1)).0 != nil)
            #expect(try await store.listAppPasswords(accountID: alice.id).count == 1)
        }
    }

    @Test("a cancelled link opens nothing; cancelling is for the owner's waiting links only", arguments: StoreKind.allCases)
    func cancel(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            let bob = try await Self.newAccount(store, "bob@example.org")
            let link = Self.setup(alice)
            let used = Self.setup(alice)
            try await store.createDeviceSetup(link, liveLimit: 5, now: Fixture.t0)
            try await store.createDeviceSetup(used, liveLimit: 5, now: Fixture.t0)
            #expect(try await Self.redeem(store, used, for: alice).0 != nil)
            #expect(try await !store.cancelDeviceSetup(accountID: bob.id, id: link.id, at: Fixture.t0), "not bob's")
            #expect(try await !store.cancelDeviceSetup(accountID: alice.id, id: used.id, at: Fixture.t0), "already used")
            #expect(try await store.cancelDeviceSetup(accountID: alice.id, id: link.id, at: Fixture.t0.addingTimeInterval(5)))
            #expect(try await !store.cancelDeviceSetup(accountID: alice.id, id: link.id, at: Fixture.t0), "already cancelled")
            #expect(try await store.deviceSetup(tokenDigest: link.tokenDigest)?.cancelledAt == Fixture.t0.addingTimeInterval(5))
            #expect(try await Self.redeem(store, link, for: alice, name: "late").0 == nil)
            #expect(try await store.listAppPasswords(accountID: alice.id).map(\.name) == ["iPhone"])
        }
    }

    @Test("with the app-password limit reached, opening changes nothing", arguments: StoreKind.allCases)
    func limitReached(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            try await store.createAppPassword(Fixture.appPassword(alice, name: "Laptop"), limit: 1, audit: Fixture.audit(alice.id))
            let link = Self.setup(alice)
            try await store.createDeviceSetup(link, liveLimit: 5, now: Fixture.t0)
            let before = try await store.auditEvents(accountID: alice.id, limit: 50).count
            await #expect(throws: PosternError.appPasswordLimit(1)) { _ = try await Self.redeem(store, link, for: alice, limit: 1) }
            #expect(try await store.deviceSetup(tokenDigest: link.tokenDigest) == link, "the link is still waiting")
            #expect(try await store.listAppPasswords(accountID: alice.id).map(\.name) == ["Laptop"])
            #expect(try await store.auditEvents(accountID: alice.id, limit: 50).count == before)
            await #expect(throws: StoreError.conflict("name"), "a taken name rolls back too") {
                _ = try await Self.redeem(store, link, for: alice, name: "Laptop")
            }
            #expect(try await store.deviceSetup(tokenDigest: link.tokenDigest)?.usedAt == nil)
            #expect(try await Self.redeem(store, link, for: alice).0 != nil, "and the link still works")
        }
    }

    @Test("links are bound to their account; at most `liveLimit` wait at once", arguments: StoreKind.allCases)
    func scopingAndLiveLimit(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            let bob = try await Self.newAccount(store, "bob@example.org")
            var links: [DeviceSetup] = []
            for index in 0..<3 {
                let link = Self.setup(alice, at: Fixture.t0.addingTimeInterval(Double(index)))
                try await store.createDeviceSetup(link, liveLimit: 3, now: Fixture.t0)
                links.append(link)
            }
            await #expect(throws: PosternError.deviceSetupLimit(3)) {
                try await store.createDeviceSetup(Self.setup(alice), liveLimit: 3, now: Fixture.t0)
            }
            try await store.createDeviceSetup(Self.setup(bob), liveLimit: 3, now: Fixture.t0)
            #expect(try await store.deviceSetups(accountID: bob.id, limit: 10).count == 1)
            #expect(try await Self.redeem(store, links[0], for: bob).0 == nil, "another account's password never uses alice's link")
            #expect(try await store.listAppPasswords(accountID: bob.id).isEmpty)
            _ = try await store.cancelDeviceSetup(accountID: alice.id, id: links[1].id, at: Fixture.t0)
            try await store.createDeviceSetup(Self.setup(alice), liveLimit: 3, now: Fixture.t0)
            // Expired links no longer count.
            try await store.createDeviceSetup(Self.setup(alice), liveLimit: 3, now: Fixture.t0.addingTimeInterval(601))
        }
    }

    @Test("an event that asks cancels the account's waiting links in its transaction, and nothing else", arguments: StoreKind.allCases)
    func cancelledByEvent(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = try await Self.newAccount(store)
            let bob = try await Self.newAccount(store, "bob@example.org")
            let waiting = Self.setup(alice)
            let used = Self.setup(alice)
            let bobs = Self.setup(bob)
            for link in [waiting, used, bobs] { try await store.createDeviceSetup(link, liveLimit: 5, now: Fixture.t0) }
            #expect(try await Self.redeem(store, used, for: alice).0 != nil)
            var event = Fixture.audit(alice.id, .passwordChanged, at: Fixture.t0.addingTimeInterval(120))
            event.cancelsDeviceSetups = true
            #expect(try await store.replacePasswordHash(accountID: alice.id, expected: alice.passwordHash, new: "$scrypt$new", audit: event))
            #expect(try await store.deviceSetup(tokenDigest: waiting.tokenDigest)?.cancelledAt == event.at)
            #expect(try await store.deviceSetup(tokenDigest: used.tokenDigest)?.cancelledAt == nil, "a used link stays used")
            #expect(try await store.deviceSetup(tokenDigest: bobs.tokenDigest)?.cancelledAt == nil)
            let stored = try #require(try await store.auditEvents(accountID: alice.id, limit: 50).first { $0.id == event.id })
            #expect(!stored.cancelsDeviceSetups, "the flag is an instruction, not part of the record")
        }
    }
}

extension DeviceSetup {
    func with(digest: Data) -> DeviceSetup {
        var copy = self
        copy.tokenDigest = digest
        return copy
    }
}
