import Foundation
import PosternCore
import Testing
@testable import PosternSQL

/// The outbox, once-keys, password resets and activity paging: part of the
/// same contract every store meets.
@Suite("Store contract: outbox, resets, activity")
struct NoticeStoreContractTests {
    static func notice(_ to: String = "alice@example.org", once: String? = nil) -> Notice {
        Notice(id: Secrets.newIdentifier(), recipient: to, sealed: Data(Secrets.randomBytes(40)), onceKey: once)
    }

    static func event(_ account: Account, _ notices: [Notice], at: Date = Fixture.t0) -> AuditEvent {
        var event = Fixture.audit(account.id, .appPasswordCreated, at: at)
        event.notices = notices
        return event
    }

    @Test("notices are written with their event; a once-key is honoured across calls", arguments: StoreKind.allCases)
    func onceKeys(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Self.event(alice, [Self.notice()]))
            try await store.recordLogins(lastUses: [], events: [Self.event(alice, [Self.notice(once: "k1")]),
                                                                Self.event(alice, [Self.notice(once: "k1")])])
            try await store.recordLogins(lastUses: [], events: [Self.event(alice, [Self.notice(once: "k1"), Self.notice(once: "k2")])])
            let pending = try await store.pendingOutbox(limit: 50)
            #expect(pending.count == 3, "one plain, one for k1, one for k2")
            #expect(pending.allSatisfy { $0.recipient == "alice@example.org" && $0.sealed != nil && $0.attempts == 0 })
        }
    }

    @Test("a write that fails part-way leaves nothing behind: no last use, no event, no notice, no once-key spent",
          arguments: StoreKind.allCases)
    func failedWriteLeavesNothing(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let phone = Fixture.appPassword(alice)
            try await store.createAppPassword(phone, limit: 10, audit: Fixture.audit(alice.id))
            let recorded = Fixture.audit(alice.id)
            try await store.recordLogins(lastUses: [], events: [recorded])
            var clash = recorded  // the same id again: the insert fails after the notices were written
            clash.notices = [Self.notice(once: "k2")]
            let use = LastUse(appPasswordID: phone.id, at: Fixture.t0, clientIP: "192.0.2.1", loginProtocol: .imap)
            await #expect(throws: StoreError.conflict("id")) {
                try await store.recordLogins(lastUses: [use], events: [Self.event(alice, [Self.notice(once: "k1")]), clash])
            }
            #expect(try await store.appPassword(digest: phone.digest)?.lastUse == nil)
            #expect(try await store.auditEvents(accountID: alice.id, limit: 100).count == 3)
            #expect(try await store.pendingOutbox(limit: 10).isEmpty)
            try await store.recordLogins(lastUses: [], events: [Self.event(alice, [Self.notice(once: "k1"), Self.notice(once: "k2")])])
            #expect(try await store.pendingOutbox(limit: 10).count == 2, "the once-keys were never spent")
        }
    }

    @Test("outbox: claim leases, sent drops the content, failures reschedule", arguments: StoreKind.allCases)
    func outboxLifecycle(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Self.event(alice, [Self.notice(), Self.notice()]))
            let now = Fixture.t0
            let claimed = try await store.claimOutbox(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
            #expect(claimed.count == 2)
            #expect(try await store.claimOutbox(now: now.addingTimeInterval(30), leaseUntil: now.addingTimeInterval(90), limit: 10).isEmpty,
                    "leased messages are not claimed again")
            try await store.markOutboxSent(id: claimed[0].id, at: now)
            try await store.markOutboxFailed(id: claimed[1].id, attempts: 1, nextAttemptAt: now.addingTimeInterval(120), error: "451 later")
            #expect(try await store.claimOutbox(now: now.addingTimeInterval(61), leaseUntil: now.addingTimeInterval(200), limit: 10).isEmpty,
                    "a failed message waits for its retry time; a sent one is never claimed")
            let retry = try await store.claimOutbox(now: now.addingTimeInterval(121), leaseUntil: now.addingTimeInterval(200), limit: 10)
            #expect(retry.map(\.id) == [claimed[1].id])
            #expect(retry.first?.attempts == 1 && retry.first?.lastError == "451 later")
            #expect(try await store.pendingOutbox(limit: 10).map(\.id) == [claimed[1].id])
            // A lease that runs out (a deliverer died) frees the message.
            #expect(try await store.claimOutbox(now: now.addingTimeInterval(201), leaseUntil: now.addingTimeInterval(300), limit: 10).count == 1)
        }
    }

    @Test("outbox: concurrent claimers never get the same message", arguments: StoreKind.allCases)
    func concurrentClaims(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Self.event(alice, (0..<30).map { _ in Self.notice() }))
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<6 {
                    group.addTask { try await store.claimOutbox(now: Fixture.t0, leaseUntil: Fixture.t0.addingTimeInterval(60), limit: 4).map(\.id) }
                }
                var all: [String] = []
                for try await batch in group { all += batch }
                return all
            }
            #expect(ids.count == 24)
            #expect(Set(ids).count == ids.count)
        }
    }

    @Test("password resets: found while fresh, used once even concurrently, and the reset changes everything", arguments: StoreKind.allCases)
    func passwordResets(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let app = Fixture.appPassword(alice)
            try await store.createAppPassword(app, limit: 10, audit: Fixture.audit(alice.id))
            let digest = Data(Secrets.randomBytes(32))
            let reset = PasswordReset(tokenDigest: digest, accountID: alice.id, createdAt: Fixture.t0, expiresAt: Fixture.t0.addingTimeInterval(1800))
            #expect(try await store.savePasswordReset(reset, unlessOpenSince: Fixture.t0.addingTimeInterval(-600),
                                                      audit: Fixture.audit(alice.id, .passwordResetRequested)))
            #expect(try await store.passwordReset(tokenDigest: digest, now: Fixture.t0)?.accountID == alice.id)
            #expect(try await store.passwordReset(tokenDigest: digest, now: Fixture.t0.addingTimeInterval(1801)) == nil, "expired")
            #expect(try await store.passwordReset(tokenDigest: Data(Secrets.randomBytes(32)), now: Fixture.t0) == nil)
            #expect(try await !store.completePasswordReset(tokenDigest: digest, accountID: alice.id, newPasswordHash: "late", revokeAppPasswords: true,
                                                            now: Fixture.t0.addingTimeInterval(1801), audit: Fixture.audit(alice.id, .passwordReset)))
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await store.completePasswordReset(tokenDigest: digest, accountID: alice.id, newPasswordHash: "new-\(i)",
                                                              revokeAppPasswords: true, now: Fixture.t0.addingTimeInterval(5),
                                                              audit: Fixture.audit(alice.id, .passwordReset))
                    }
                }
                var count = 0
                for try await won in group where won { count += 1 }
                return count
            }
            #expect(wins == 1)
            #expect(try await store.account(id: alice.id)?.passwordHash.hasPrefix("new-") == true)
            #expect(try await store.listAppPasswords(accountID: alice.id).allSatisfy { $0.revokedAt != nil })
            #expect(try await store.passwordReset(tokenDigest: digest, now: Fixture.t0) == nil, "used")
        }
    }

    @Test("activity: pages newest first by cursor, filters by kind, prunes by age", arguments: StoreKind.allCases)
    func activityPaging(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id, .accountCreated, at: Fixture.t0))
            var events: [AuditEvent] = []
            for i in 1...25 {
                events.append(Fixture.audit(alice.id, i % 5 == 0 ? .signIn : .protocolLogin, at: Fixture.t0.addingTimeInterval(Double(i / 2))))
            }
            try await store.recordLogins(lastUses: [], events: events)
            var seen: [AuditEvent] = []
            var cursor: AuditCursor?
            repeat {
                let page = try await store.auditEvents(accountID: alice.id, before: cursor, kinds: nil, limit: 7)
                seen += page
                cursor = page.count == 7 ? page.last.map { AuditCursor(at: $0.at, id: $0.id) } : nil
            } while cursor != nil
            #expect(seen.count == 26)
            #expect(Set(seen.map(\.id)).count == 26, "no event twice across pages, even with equal times")
            #expect(seen.map(\.at) == seen.map(\.at).sorted(by: >))
            let signIns = try await store.auditEvents(accountID: alice.id, before: nil, kinds: [.signIn], limit: 100)
            #expect(signIns.count == 5 && signIns.allSatisfy { $0.kind == .signIn })
            #expect(try await store.auditEvents(accountID: alice.id, before: nil, kinds: [], limit: 100).isEmpty)
            #expect(try await store.pruneAuditEvents(before: Fixture.t0.addingTimeInterval(5)) == 10)
            #expect(try await store.auditEvents(accountID: alice.id, limit: 100).count == 16)
        }
    }
}

@Suite("Store contract: shared throttle counters")
struct ThrottleStoreContractTests {
    @Test("failures count in a fixed window, atomically, and a new window starts afresh", arguments: StoreKind.allCases)
    func counters(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let t0 = Fixture.t0
            #expect(try await store.failures(key: "account:a", window: 3600, now: t0) == 0)
            #expect(try await store.addFailure(key: "account:a", window: 3600, now: t0) == 1)
            #expect(try await store.addFailure(key: "account:a", window: 3600, now: t0.addingTimeInterval(10)) == 2)
            #expect(try await store.failures(key: "account:a", window: 3600, now: t0.addingTimeInterval(20)) == 2)
            #expect(try await store.failures(key: "account:b", window: 3600, now: t0) == 0)
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 { group.addTask { try await store.addFailure(key: "account:a", window: 3600, now: t0.addingTimeInterval(30)) } }
                var highest = 0
                for try await count in group { highest = max(highest, count) }
                return highest
            }
            #expect(total == 42, "every concurrent increment counts")
            #expect(try await store.failures(key: "account:a", window: 3600, now: t0.addingTimeInterval(3601)) == 0, "the window ended")
            #expect(try await store.addFailure(key: "account:a", window: 3600, now: t0.addingTimeInterval(3601)) == 1)
        }
    }

    @Test("a known-good source is one that logged in to the account recently", arguments: StoreKind.allCases)
    func knownGood(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let allowed = AuditEvent(accountID: alice.id, kind: .protocolLogin, result: .allow, loginProtocol: .imap,
                                     credential: "account_password", clientIP: "192.0.2.5", at: Fixture.t0)
            let refused = AuditEvent(accountID: alice.id, kind: .protocolLogin, result: .deny, reason: "wrong_password",
                                     loginProtocol: .imap, clientIP: "192.0.2.6", at: Fixture.t0)
            try await store.recordLogins(lastUses: [], events: [allowed, refused])
            #expect(try await store.succeeded(accountID: alice.id, clientIP: "192.0.2.5", since: Fixture.t0.addingTimeInterval(-1)))
            #expect(try await !store.succeeded(accountID: alice.id, clientIP: "192.0.2.6", since: Fixture.t0.addingTimeInterval(-1)))
            #expect(try await !store.succeeded(accountID: alice.id, clientIP: "192.0.2.5", since: Fixture.t0.addingTimeInterval(1)))
            #expect(try await !store.succeeded(accountID: "someone-else", clientIP: "192.0.2.5", since: Fixture.t0.addingTimeInterval(-1)))
            // An app password's success earns nothing; a completed sign-in does.
            let app = AuditEvent(accountID: alice.id, kind: .protocolLogin, result: .allow, loginProtocol: .smtp, credential: "app_password",
                                 clientIP: "192.0.2.7", at: Fixture.t0)
            let pending = AuditEvent(accountID: alice.id, kind: .signIn, result: .secondFactorRequired, clientIP: "192.0.2.8", at: Fixture.t0)
            let signedIn = AuditEvent(accountID: alice.id, kind: .signIn, result: .allow, clientIP: "192.0.2.9", at: Fixture.t0)
            try await store.recordLogins(lastUses: [], events: [app, pending, signedIn])
            #expect(try await !store.succeeded(accountID: alice.id, clientIP: "192.0.2.7", since: Fixture.t0.addingTimeInterval(-1)))
            #expect(try await !store.succeeded(accountID: alice.id, clientIP: "192.0.2.8", since: Fixture.t0.addingTimeInterval(-1)))
            #expect(try await store.succeeded(accountID: alice.id, clientIP: "192.0.2.9", since: Fixture.t0.addingTimeInterval(-1)))
        }
    }

    @Test("at most one live reset link; a recent open one blocks another; a link can be ended", arguments: StoreKind.allCases)
    func oneLiveResetLink(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            func reset(at offset: TimeInterval) -> PasswordReset {
                PasswordReset(tokenDigest: Data(Secrets.randomBytes(32)), accountID: alice.id, createdAt: Fixture.t0.addingTimeInterval(offset),
                              expiresAt: Fixture.t0.addingTimeInterval(offset + 1800))
            }
            let first = reset(at: 0), second = reset(at: 60), third = reset(at: 700)
            func save(_ r: PasswordReset) async throws -> Bool {
                try await store.savePasswordReset(r, unlessOpenSince: r.createdAt.addingTimeInterval(-600), audit: Fixture.audit(alice.id, .passwordResetRequested))
            }
            #expect(try await save(first))
            #expect(try await !save(second), "the first link was sent a minute ago and is still open")
            #expect(try await store.passwordReset(tokenDigest: second.tokenDigest, now: Fixture.t0.addingTimeInterval(61)) == nil)
            #expect(try await store.passwordReset(tokenDigest: first.tokenDigest, now: Fixture.t0.addingTimeInterval(61)) != nil)
            #expect(try await save(third), "ten minutes later a new link replaces it")
            #expect(try await store.passwordReset(tokenDigest: first.tokenDigest, now: Fixture.t0.addingTimeInterval(701)) == nil, "only one live link")
            #expect(try await store.passwordReset(tokenDigest: third.tokenDigest, now: Fixture.t0.addingTimeInterval(701)) != nil)
            try await store.endPasswordReset(tokenDigest: third.tokenDigest, at: Fixture.t0.addingTimeInterval(702))
            #expect(try await store.passwordReset(tokenDigest: third.tokenDigest, now: Fixture.t0.addingTimeInterval(703)) == nil)
            #expect(try await !store.completePasswordReset(tokenDigest: third.tokenDigest, accountID: alice.id, newPasswordHash: "x",
                                                            revokeAppPasswords: false, now: Fixture.t0.addingTimeInterval(704),
                                                            audit: Fixture.audit(alice.id, .passwordReset)), "an ended link completes nothing")
        }
    }

    @Test("concurrent reset requests for one account: exactly one link is saved", arguments: StoreKind.allCases)
    func concurrentResetRequests(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            let digests = (0..<8).map { _ in Data(Secrets.randomBytes(32)) }
            let saved = try await withThrowingTaskGroup(of: Bool.self) { group in
                for digest in digests {
                    group.addTask {
                        let reset = PasswordReset(tokenDigest: digest, accountID: alice.id, createdAt: Fixture.t0, expiresAt: Fixture.t0.addingTimeInterval(1800))
                        return try await store.savePasswordReset(reset, unlessOpenSince: Fixture.t0.addingTimeInterval(-600),
                                                                 audit: Fixture.audit(alice.id, .passwordResetRequested))
                    }
                }
                var count = 0
                for try await won in group where won { count += 1 }
                return count
            }
            #expect(saved == 1)
            var live = 0
            for digest in digests where try await store.passwordReset(tokenDigest: digest, now: Fixture.t0) != nil { live += 1 }
            #expect(live == 1)
        }
    }

    @Test("a counter gives back a reserved attempt, never below zero, and old counters are pruned", arguments: StoreKind.allCases)
    func counterRefundAndPrune(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let t0 = Fixture.t0
            #expect(try await store.addFailure(key: "2fa:a", window: 3600, now: t0) == 1)
            #expect(try await store.addFailure(key: "2fa:a", window: 3600, now: t0) == 2)
            try await store.removeFailure(key: "2fa:a", window: 3600, now: t0)
            #expect(try await store.failures(key: "2fa:a", window: 3600, now: t0) == 1)
            try await store.removeFailure(key: "2fa:a", window: 3600, now: t0)
            try await store.removeFailure(key: "2fa:a", window: 3600, now: t0)
            #expect(try await store.failures(key: "2fa:a", window: 3600, now: t0) == 0, "never below zero")
            try await store.removeFailure(key: "2fa:none", window: 3600, now: t0)
            #expect(try await store.addFailure(key: "2fa:b", window: 3600, now: t0.addingTimeInterval(7200)) == 1)
            #expect(try await store.pruneThrottleCounters(before: t0.addingTimeInterval(3600)) == 1)
            #expect(try await store.failures(key: "2fa:b", window: 3600, now: t0.addingTimeInterval(7201)) == 1, "a current counter stays")
        }
    }
}
