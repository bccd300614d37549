import Foundation
import PosternCore
import Testing
@testable import PosternSQL

/// The contract every `PosternStore` must meet.
@Suite("Store contract")
struct StoreContractTests {
    // MARK: - Accounts

    @Test("accounts: create, find by canonical name and id, refuse duplicates", arguments: StoreKind.allCases)
    func accounts(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id, .accountCreated))
            #expect(try await store.account(username: "alice@example.org") == alice)
            #expect(try await store.account(id: alice.id) == alice)
            #expect(try await store.account(username: "bob@example.org") == nil)
            #expect(try await store.account(id: "nope") == nil)
            await #expect(throws: StoreError.conflict("username")) {
                try await store.createAccount(Fixture.account(), audit: Fixture.audit(nil))
            }
            let bob = Fixture.account("bob@example.org")
            try await store.createAccount(bob, audit: Fixture.audit(bob.id))
            #expect(try await store.listAccounts().map(\.username) == ["alice@example.org", "bob@example.org"])
            #expect(try await store.auditEvents(accountID: alice.id, limit: 10).map(\.kind) == [.accountCreated])
        }
    }

    @Test("accounts: disable, and replace the hash only while it is unchanged", arguments: StoreKind.allCases)
    func accountUpdates(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            #expect(try await store.setDisabled(accountID: alice.id, true, audit: Fixture.audit(alice.id, .accountDisabled)))
            #expect(try await store.account(id: alice.id)?.disabled == true)
            #expect(try await store.setDisabled(accountID: alice.id, false, audit: Fixture.audit(alice.id)))
            #expect(try await store.account(id: alice.id)?.disabled == false)
            #expect(try await !store.setDisabled(accountID: "missing", true, audit: Fixture.audit(nil)))

            #expect(try await store.replacePasswordHash(accountID: alice.id, expected: alice.passwordHash, new: "h2", audit: nil))
            #expect(try await !store.replacePasswordHash(accountID: alice.id, expected: alice.passwordHash, new: "h3", audit: nil))
            #expect(try await store.account(id: alice.id)?.passwordHash == "h2")
        }
    }

    // MARK: - TOTP

    @Test("TOTP: pending, confirmed, replaced, deleted; MFA follows confirmation", arguments: StoreKind.allCases)
    func totpLifecycle(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            #expect(try await store.totpFactor(accountID: alice.id) == nil)
            let first = Fixture.totp(alice)
            #expect(try await store.savePendingTOTP(first))
            let second = Fixture.totp(alice)
            #expect(try await store.savePendingTOTP(second), "a new enrolment replaces an unconfirmed one")
            #expect(try await store.totpFactor(accountID: alice.id)?.sealedSecret == second.sealedSecret)
            #expect(try await store.account(id: alice.id)?.mfaEnabled == false, "pending is not MFA")
            #expect(try await !store.consumeTOTPStep(accountID: alice.id, step: 5), "no confirmed factor yet")

            #expect(try await !store.confirmTOTP(accountID: alice.id, sealedSecret: Data([1, 2, 3]), step: 100, at: Fixture.t0, audit: Fixture.audit(alice.id)),
                    "a code checked against a secret that has since been replaced confirms nothing")
            #expect(try await store.confirmTOTP(accountID: alice.id, sealedSecret: Fixture.pendingSecret, step: 100, at: Fixture.t0, audit: Fixture.audit(alice.id, .totpEnabled)))
            #expect(try await !store.confirmTOTP(accountID: alice.id, sealedSecret: Fixture.pendingSecret, step: 101, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            #expect(try await store.account(id: alice.id)?.mfaEnabled == true)
            #expect(try await store.account(username: alice.username)?.mfaEnabled == true)
            #expect(try await store.totpFactor(accountID: alice.id)?.lastStep == 100)
            #expect(try await !store.savePendingTOTP(Fixture.totp(alice)), "a confirmed factor is not replaced")

            #expect(try await store.deleteTOTP(accountID: alice.id, audit: Fixture.audit(alice.id, .totpDisabled)))
            #expect(try await !store.deleteTOTP(accountID: alice.id, audit: Fixture.audit(alice.id)))
            #expect(try await store.account(id: alice.id)?.mfaEnabled == false)
        }
    }

    @Test("TOTP: a step is used once, and never an earlier one", arguments: StoreKind.allCases)
    func totpSteps(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            #expect(try await store.savePendingTOTP(Fixture.totp(alice)))
            #expect(try await store.confirmTOTP(accountID: alice.id, sealedSecret: Fixture.pendingSecret, step: 100, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            #expect(try await !store.consumeTOTPStep(accountID: alice.id, step: 100))
            #expect(try await !store.consumeTOTPStep(accountID: alice.id, step: 99))
            #expect(try await store.consumeTOTPStep(accountID: alice.id, step: 101))
            #expect(try await !store.consumeTOTPStep(accountID: alice.id, step: 101))
        }
    }

    @Test("TOTP: of many concurrent uses of one step, exactly one wins", arguments: StoreKind.allCases)
    func totpConcurrentUse(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            #expect(try await store.savePendingTOTP(Fixture.totp(alice)))
            #expect(try await store.confirmTOTP(accountID: alice.id, sealedSecret: Fixture.pendingSecret, step: 1, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<24 { group.addTask { try await store.consumeTOTPStep(accountID: alice.id, step: 2) } }
                var count = 0
                for try await won in group where won { count += 1 }
                return count
            }
            #expect(wins == 1)
        }
    }

    // MARK: - App passwords

    @Test("app passwords: create, find by digest, list active, revoke", arguments: StoreKind.allCases)
    func appPasswords(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            let bob = Fixture.account("bob@example.org")
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            try await store.createAccount(bob, audit: Fixture.audit(bob.id))
            let phone = Fixture.appPassword(alice, name: "Phone", protocols: [.imap, .smtp], expiresAt: Fixture.t0.addingTimeInterval(3600))
            let laptop = Fixture.appPassword(alice, name: "Laptop")
            try await store.createAppPassword(phone, limit: 10, audit: Fixture.audit(alice.id, .appPasswordCreated))
            try await store.createAppPassword(laptop, limit: 10, audit: Fixture.audit(alice.id, .appPasswordCreated))
            #expect(try await store.appPassword(digest: phone.digest) == phone)
            #expect(try await store.appPassword(digest: Data(Secrets.randomBytes(32))) == nil)
            #expect(Set(try await store.listAppPasswords(accountID: alice.id).map(\.id)) == [phone.id, laptop.id])
            #expect(try await store.listAppPasswords(accountID: bob.id).isEmpty)

            #expect(try await !store.revokeAppPassword(accountID: bob.id, id: phone.id, at: Fixture.t0, audit: Fixture.audit(bob.id)),
                    "one account cannot revoke another's")
            #expect(try await store.revokeAppPassword(accountID: alice.id, id: phone.id, at: Fixture.t0, audit: Fixture.audit(alice.id, .appPasswordRevoked)))
            #expect(try await !store.revokeAppPassword(accountID: alice.id, id: phone.id, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            #expect(try await store.appPassword(digest: phone.digest)?.revokedAt == Fixture.t0, "revoked ones are still found, marked")
            #expect(try await store.listAppPasswords(accountID: alice.id).map(\.id) == [laptop.id])

            try await store.createAppPassword(Fixture.appPassword(alice, name: "Tablet"), limit: 10, audit: Fixture.audit(alice.id))
            #expect(try await store.revokeAllAppPasswords(accountID: alice.id, at: Fixture.t0, audit: Fixture.audit(alice.id)) == 2)
            #expect(try await store.revokeAllAppPasswords(accountID: alice.id, at: Fixture.t0, audit: Fixture.audit(alice.id)) == 0)
            #expect(try await store.listAppPasswords(accountID: alice.id).isEmpty)
        }
    }

    @Test("concurrent creations never pass an account's app-password limit", arguments: StoreKind.allCases)
    func appPasswordLimitUnderConcurrency(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let created = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        (try? await store.createAppPassword(Fixture.appPassword(alice, name: "App \(i)"), limit: 5, audit: Fixture.audit(alice.id))) != nil
                    }
                }
                var count = 0
                for await made in group where made { count += 1 }
                return count
            }
            #expect(created == 5)
            #expect(try await store.listAppPasswords(accountID: alice.id).count == 5)
        }
    }

    @Test("app passwords: names unique among active ones, digests unique, a limit per account", arguments: StoreKind.allCases)
    func appPasswordRules(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            let bob = Fixture.account("bob@example.org")
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            try await store.createAccount(bob, audit: Fixture.audit(bob.id))
            let phone = Fixture.appPassword(alice, name: "Phone")
            try await store.createAppPassword(phone, limit: 3, audit: Fixture.audit(alice.id))
            await #expect(throws: StoreError.conflict("name")) {
                try await store.createAppPassword(Fixture.appPassword(alice, name: "Phone"), limit: 3, audit: Fixture.audit(alice.id))
            }
            try await store.createAppPassword(Fixture.appPassword(bob, name: "Phone"), limit: 3, audit: Fixture.audit(bob.id))
            await #expect(throws: StoreError.conflict("digest")) {
                try await store.createAppPassword(Fixture.appPassword(alice, name: "Other", digest: phone.digest), limit: 3, audit: Fixture.audit(alice.id))
            }
            #expect(try await store.revokeAppPassword(accountID: alice.id, id: phone.id, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            try await store.createAppPassword(Fixture.appPassword(alice, name: "Phone"), limit: 3, audit: Fixture.audit(alice.id))

            try await store.createAppPassword(Fixture.appPassword(alice, name: "Two"), limit: 3, audit: Fixture.audit(alice.id))
            try await store.createAppPassword(Fixture.appPassword(alice, name: "Three"), limit: 3, audit: Fixture.audit(alice.id))
            let before = try await store.auditEvents(accountID: alice.id, limit: 100).count
            await #expect(throws: PosternError.appPasswordLimit(3)) {
                try await store.createAppPassword(Fixture.appPassword(alice, name: "Four"), limit: 3, audit: Fixture.audit(alice.id))
            }
            #expect(try await store.listAppPasswords(accountID: alice.id).count == 3)
            #expect(try await store.auditEvents(accountID: alice.id, limit: 100).count == before, "a refused change writes nothing")
        }
    }

    @Test("login records: the newest last use wins, and events are kept in order", arguments: StoreKind.allCases)
    func loginRecords(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id, .accountCreated, at: Fixture.t0.addingTimeInterval(-10)))
            let phone = Fixture.appPassword(alice)
            try await store.createAppPassword(phone, limit: 10, audit: Fixture.audit(alice.id, .appPasswordCreated, at: Fixture.t0.addingTimeInterval(-5)))
            let newer = LastUse(appPasswordID: phone.id, at: Fixture.t0.addingTimeInterval(20), clientIP: "192.0.2.7", loginProtocol: .imap)
            let older = LastUse(appPasswordID: phone.id, at: Fixture.t0.addingTimeInterval(10), clientIP: "192.0.2.8", loginProtocol: .smtp)
            try await store.recordLogins(lastUses: [newer], events: [Fixture.audit(alice.id, at: Fixture.t0.addingTimeInterval(20))])
            try await store.recordLogins(lastUses: [older], events: [Fixture.audit(nil, at: Fixture.t0.addingTimeInterval(10))])
            #expect(try await store.appPassword(digest: phone.digest)?.lastUse == newer, "an older write never replaces a newer one")
            let events = try await store.auditEvents(accountID: alice.id, limit: 10)
            #expect(events.map(\.kind) == [.protocolLogin, .appPasswordCreated, .accountCreated], "newest first")
            #expect(try await store.auditEvents(accountID: alice.id, limit: 2).count == 2)
            let many = (0..<450).map { Fixture.audit(alice.id, at: Fixture.t0.addingTimeInterval(Double($0))) }
            try await store.recordLogins(lastUses: [], events: many)
            #expect(try await store.auditEvents(accountID: alice.id, limit: 1000).count == 453)
        }
    }

    // MARK: - Sessions

    @Test("sessions: found until they expire, ended one or all", arguments: StoreKind.allCases)
    func sessions(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            func session() -> Session {
                Session(tokenDigest: Data(Secrets.randomBytes(32)), accountID: alice.id, createdAt: Fixture.t0,
                        expiresAt: Fixture.t0.addingTimeInterval(3600), authenticatedAt: Fixture.t0)
            }
            let (a, b, c) = (session(), session(), session())
            for s in [a, b, c] { try await store.createSession(s, audit: Fixture.audit(alice.id, .signIn)) }
            #expect(try await store.session(tokenDigest: a.tokenDigest, now: Fixture.t0) == a)
            #expect(try await store.session(tokenDigest: a.tokenDigest, now: Fixture.t0.addingTimeInterval(3600)) == nil)
            #expect(try await store.session(tokenDigest: Data(Secrets.randomBytes(32)), now: Fixture.t0) == nil)
            try await store.deleteSession(tokenDigest: a.tokenDigest, audit: nil)
            #expect(try await store.session(tokenDigest: a.tokenDigest, now: Fixture.t0) == nil)
            #expect(try await store.deleteSessions(accountID: alice.id, keeping: b.tokenDigest) == 1)
            #expect(try await store.session(tokenDigest: b.tokenDigest, now: Fixture.t0) == b)
            #expect(try await store.session(tokenDigest: c.tokenDigest, now: Fixture.t0) == nil)
            #expect(try await store.deleteSessions(accountID: alice.id, keeping: nil) == 1)
        }
    }

    @Test("app passwords: the login lookup returns the record with its account's current state", arguments: StoreKind.allCases)
    func appPasswordWithAccount(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let phone = Fixture.appPassword(alice)
            try await store.createAppPassword(phone, limit: 10, audit: Fixture.audit(alice.id))
            var found = try #require(try await store.appPasswordWithAccount(digest: phone.digest))
            #expect(found.0 == phone)
            #expect(found.1 == alice)
            #expect(try await store.appPasswordWithAccount(digest: Data(Secrets.randomBytes(32))) == nil)
            #expect(try await store.setDisabled(accountID: alice.id, true, audit: Fixture.audit(alice.id)))
            #expect(try await store.savePendingTOTP(Fixture.totp(alice)))
            #expect(try await store.confirmTOTP(accountID: alice.id, sealedSecret: Fixture.pendingSecret, step: 1, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            #expect(try await store.revokeAppPassword(accountID: alice.id, id: phone.id, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            found = try #require(try await store.appPasswordWithAccount(digest: phone.digest))
            #expect(found.1.disabled && found.1.mfaEnabled)
            #expect(found.0.revokedAt == Fixture.t0)
        }
    }

    @Test("sessions: kinds and stages, taken once, touched, failures counted", arguments: StoreKind.allCases)
    func sessionDetails(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let pending = Session(tokenDigest: Data(Secrets.randomBytes(32)), accountID: alice.id, kind: .portal, stage: .secondFactor,
                                  createdAt: Fixture.t0, expiresAt: Fixture.t0.addingTimeInterval(300), authenticatedAt: Fixture.t0)
            try await store.createSession(pending, audit: Fixture.audit(alice.id, .signIn))
            #expect(try await store.session(tokenDigest: pending.tokenDigest, now: Fixture.t0) == pending)
            #expect(try await store.addSessionFailure(tokenDigest: pending.tokenDigest) == 1)
            #expect(try await store.addSessionFailure(tokenDigest: pending.tokenDigest) == 2)
            let later = Fixture.t0.addingTimeInterval(100)
            try await store.touchSession(tokenDigest: pending.tokenDigest, lastSeenAt: later, authenticatedAt: nil)
            var stored = try #require(try await store.session(tokenDigest: pending.tokenDigest, now: Fixture.t0))
            #expect(stored.lastSeenAt == later && stored.authenticatedAt == Fixture.t0 && stored.failures == 2)
            try await store.touchSession(tokenDigest: pending.tokenDigest, lastSeenAt: later, authenticatedAt: later)
            stored = try #require(try await store.session(tokenDigest: pending.tokenDigest, now: Fixture.t0))
            #expect(stored.authenticatedAt == later)
            #expect(try await store.takeSession(tokenDigest: pending.tokenDigest, now: Fixture.t0.addingTimeInterval(301)) == nil, "expired")
            let takers = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 { group.addTask { try await store.takeSession(tokenDigest: pending.tokenDigest, now: Fixture.t0) != nil } }
                var count = 0
                for try await took in group where took { count += 1 }
                return count
            }
            #expect(takers == 1, "a pending sign-in is completed once")
            #expect(try await store.session(tokenDigest: pending.tokenDigest, now: Fixture.t0) == nil)
        }
    }

    @Test("reveals: shown once, to their own session, before they expire", arguments: StoreKind.allCases)
    func reveals(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let session = Data(Secrets.randomBytes(32))
            try await store.saveReveal(id: "r1", sessionDigest: session, sealed: Data([1, 2, 3]), expiresAt: Fixture.t0.addingTimeInterval(300))
            try await store.saveReveal(id: "r2", sessionDigest: session, sealed: Data([4]), expiresAt: Fixture.t0.addingTimeInterval(10))
            #expect(try await store.takeReveal(id: "r1", sessionDigest: Data(Secrets.randomBytes(32)), now: Fixture.t0) == nil)
            #expect(try await store.takeReveal(id: "r1", sessionDigest: session, now: Fixture.t0) == Data([1, 2, 3]))
            #expect(try await store.takeReveal(id: "r1", sessionDigest: session, now: Fixture.t0) == nil)
            #expect(try await store.takeReveal(id: "r2", sessionDigest: session, now: Fixture.t0.addingTimeInterval(11)) == nil)
        }
    }

    // MARK: - Security keys and recovery codes

    @Test("removing a key unless it is the last second factor: decided atomically", arguments: StoreKind.allCases)
    func removeUnlessLast(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let keys = (1...2).map { i in
                SecurityKey(credentialID: Data([UInt8(i)]), accountID: alice.id, name: "Key \(i)", publicKey: Data([9]), algorithm: -7,
                            signCount: 0, createdAt: Fixture.t0)
            }
            for key in keys { try await store.addSecurityKey(key, audit: Fixture.audit(alice.id, .securityKeyAdded)) }
            #expect(try await store.removeSecurityKeyUnlessLast(credentialID: Data([9, 9]), accountID: alice.id, audit: Fixture.audit(alice.id)) == .notFound)
            let results = try await withThrowingTaskGroup(of: SecurityKeyRemoval.self) { group in
                for key in keys {
                    group.addTask { try await store.removeSecurityKeyUnlessLast(credentialID: key.credentialID, accountID: alice.id, audit: Fixture.audit(alice.id)) }
                }
                var all: [SecurityKeyRemoval] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(results.filter { $0 == .removed }.count == 1 && results.filter { $0 == .lastFactor }.count == 1, "\(results)")
            #expect(try await store.securityKeys(accountID: alice.id).count == 1)
            #expect(try await store.account(id: alice.id)?.mfaEnabled == true)
            #expect(try await store.savePendingTOTP(Fixture.totp(alice)))
            #expect(try await store.confirmTOTP(accountID: alice.id, sealedSecret: Fixture.pendingSecret, step: 1, at: Fixture.t0, audit: Fixture.audit(alice.id)))
            let last = try #require(try await store.securityKeys(accountID: alice.id).first)
            #expect(try await store.removeSecurityKeyUnlessLast(credentialID: last.credentialID, accountID: alice.id, audit: Fixture.audit(alice.id)) == .removed,
                    "an authenticator app remains")
        }
    }

    @Test("security keys: unique credential ids, MFA on while one exists, counters only grow", arguments: StoreKind.allCases)
    func securityKeys(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account(), bob = Fixture.account("bob@example.org")
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            try await store.createAccount(bob, audit: Fixture.audit(bob.id))
            let key = SecurityKey(credentialID: Data([1, 2, 3]), accountID: alice.id, name: "YubiKey", publicKey: Data([9]), algorithm: -7,
                                  signCount: 5, createdAt: Fixture.t0)
            try await store.addSecurityKey(key, audit: Fixture.audit(alice.id, .securityKeyAdded))
            #expect(try await store.securityKeys(accountID: alice.id) == [key])
            #expect(try await store.account(id: alice.id)?.mfaEnabled == true, "a key alone turns MFA on")
            await #expect(throws: StoreError.self) {
                try await store.addSecurityKey(SecurityKey(credentialID: Data([1, 2, 3]), accountID: bob.id, name: "Copy", publicKey: Data([9]),
                                                           algorithm: -7, signCount: 0, createdAt: Fixture.t0), audit: Fixture.audit(bob.id))
            }
            #expect(try await !store.useSecurityKey(credentialID: key.credentialID, accountID: alice.id, signCount: 5, at: Fixture.t0))
            #expect(try await !store.useSecurityKey(credentialID: key.credentialID, accountID: alice.id, signCount: 4, at: Fixture.t0))
            #expect(try await !store.useSecurityKey(credentialID: key.credentialID, accountID: bob.id, signCount: 9, at: Fixture.t0))
            #expect(try await store.useSecurityKey(credentialID: key.credentialID, accountID: alice.id, signCount: 6, at: Fixture.t0))
            #expect(try await store.securityKeys(accountID: alice.id).first?.lastUsedAt == Fixture.t0)
            #expect(try await !store.removeSecurityKey(credentialID: key.credentialID, accountID: bob.id, audit: Fixture.audit(bob.id)))
            #expect(try await store.removeSecurityKey(credentialID: key.credentialID, accountID: alice.id, audit: Fixture.audit(alice.id)))
            #expect(try await store.account(id: alice.id)?.mfaEnabled == false)
            let zero = SecurityKey(credentialID: Data([7]), accountID: alice.id, name: "Counterless", publicKey: Data([9]), algorithm: -7,
                                   signCount: 0, createdAt: Fixture.t0)
            try await store.addSecurityKey(zero, audit: Fixture.audit(alice.id))
            #expect(try await store.useSecurityKey(credentialID: zero.credentialID, accountID: alice.id, signCount: 0, at: Fixture.t0),
                    "an authenticator without a counter reports zero every time")
        }
    }

    @Test("challenges answer once, for their account and purpose, before they expire", arguments: StoreKind.allCases)
    func challenges(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let challenge = Challenge(id: "c1", accountID: "a", purpose: .registration, bytes: Data(Secrets.randomBytes(32)),
                                      expiresAt: Fixture.t0.addingTimeInterval(300))
            try await store.saveChallenge(challenge)
            #expect(try await store.takeChallenge(id: "c1", accountID: "b", purpose: .registration, now: Fixture.t0) == nil)
            #expect(try await store.takeChallenge(id: "c1", accountID: "a", purpose: .authentication, now: Fixture.t0) == nil)
            #expect(try await store.takeChallenge(id: "c1", accountID: "a", purpose: .registration, now: Fixture.t0) == challenge)
            #expect(try await store.takeChallenge(id: "c1", accountID: "a", purpose: .registration, now: Fixture.t0) == nil)
            try await store.saveChallenge(Challenge(id: "c2", accountID: "a", purpose: .authentication, bytes: Data([1]),
                                                    expiresAt: Fixture.t0.addingTimeInterval(300)))
            #expect(try await store.takeChallenge(id: "c2", accountID: "a", purpose: .authentication, now: Fixture.t0.addingTimeInterval(301)) == nil)
        }
    }

    @Test("recovery codes: replaced as a set, each burned once even under concurrency", arguments: StoreKind.allCases)
    func recoveryCodes(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let first = (0..<10).map { RecoveryCodeRecord(id: "old\($0)", accountID: alice.id, salt: Data([UInt8($0)]), hash: Data([1])) }
            try await store.replaceRecoveryCodes(accountID: alice.id, codes: first, audit: Fixture.audit(alice.id))
            let second = (0..<10).map { RecoveryCodeRecord(id: "new\($0)", accountID: alice.id, salt: Data([UInt8($0)]), hash: Data([2])) }
            try await store.replaceRecoveryCodes(accountID: alice.id, codes: second, audit: Fixture.audit(alice.id))
            #expect(try await store.unusedRecoveryCodes(accountID: alice.id).map(\.id) == second.map(\.id))
            #expect(try await store.account(id: alice.id)?.mfaEnabled == false, "recovery codes alone are not MFA")
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await store.burnRecoveryCode(id: "new3", accountID: alice.id, at: Fixture.t0, audit: Fixture.audit(alice.id)) }
                }
                var count = 0
                for try await won in group where won { count += 1 }
                return count
            }
            #expect(wins == 1)
            #expect(try await store.unusedRecoveryCodes(accountID: alice.id).count == 9)
            #expect(try await !store.burnRecoveryCode(id: "old1", accountID: alice.id, at: Fixture.t0, audit: Fixture.audit(alice.id)))
        }
    }

    // MARK: - Schema (SQL stores only: the memory store has no schema or executor)

    @Test("migrations: re-running is a no-op, a newer schema and another key are refused", arguments: StoreKind.sqlCases)
    func schema(kind: StoreKind) async throws {
        let test = try await kind.make()
        defer { Task { await test.close() } }
        let executor = try #require(test.executor)
        #expect(try await Migrations.migrate(executor).isEmpty)
        #expect(try await Migrations.currentVersion(executor) == Migrations.latestVersion)
        try await Migrations.checkKeyFingerprint(executor, fingerprint: "aaaa")
        try await Migrations.checkKeyFingerprint(executor, fingerprint: "aaaa")
        await #expect(throws: MigrationError.keyMismatch(stored: "aaaa", loaded: "bbbb")) {
            try await Migrations.checkKeyFingerprint(executor, fingerprint: "bbbb")
        }
        try await executor.write { db in
            try await db.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)").run()
        }
        await #expect(throws: MigrationError.schemaTooNew(found: 999, known: Migrations.latestVersion)) {
            try await Migrations.migrate(executor)
        }
    }

    @Test("a failed transaction leaves nothing behind", arguments: StoreKind.sqlCases)
    func rollback(kind: StoreKind) async throws {
        let test = try await kind.make()
        defer { Task { await test.close() } }
        let executor = try #require(test.executor)
        struct Boom: Error {}
        await #expect(throws: (any Error).self) {
            try await executor.write { db in
                try await db.raw("INSERT INTO meta (key, value) VALUES ('half', 'written')").run()
                throw Boom()
            }
        }
        let rows = try await executor.read { db in try await db.raw("SELECT * FROM meta WHERE key = 'half'").all().count }
        #expect(rows == 0)
    }
}
