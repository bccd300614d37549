import Foundation
import PosternCore
import Testing

@Suite("Protocol logins through the core and a store")
struct AuthenticatorTests {
    static let password = "violet staple orbit"

    @Test("every rule, end to end; on the SQL stores also through the credential cache",
          arguments: StoreKind.allCases.map { ($0, false) } + StoreKind.sqlCases.map { ($0, true) })
    func rules(kind: StoreKind, cached: Bool) async throws {
        let h = try await CoreHarness(kind: kind, cached: cached)
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "Alice@Example.org", password: Self.password)
        let allowAccount = ProtocolLoginOutcome.decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .accountPassword))

        #expect(await h.login("alice@example.org", Self.password) == allowAccount)
        #expect(await h.login("ALICE@example.org", Self.password) == allowAccount, "usernames are case-insensitive")
        #expect(await h.login("alice@example.org", "wrong password!") == .decided(.deny(.wrongPassword)))
        #expect(await h.login("nobody@example.org", Self.password) == .decided(.deny(.unknownUser)))
        #expect(await h.login("not a username", Self.password) == .decided(.deny(.unknownUser)))

        let issued = try await h.accounts.createAppPassword(account: alice, name: "Thunderbird", protocols: ["imap", "smtp"], expiresAt: nil)
        let allowApp = ProtocolLoginOutcome.decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .appPassword(id: issued.record.id)))
        #expect(await h.login("alice@example.org", issued.password) == allowApp)
        #expect(await h.login("alice@example.org", AppPasswordFormat.grouped(issued.password).uppercased()) == allowApp)
        #expect(await h.login("alice@example.org", issued.password, .pop3) == .decided(.deny(.protocolNotInScope)))

        _ = try await h.enableTOTP(alice)
        #expect(await h.login("alice@example.org", Self.password) == .decided(.deny(.appPasswordRequired)))
        #expect(await h.login("alice@example.org", issued.password) == allowApp, "app passwords keep working with MFA")

        let bob = try await h.accounts.createAccount(username: "bob@example.org", password: "another fine secret")
        #expect(await h.login("bob@example.org", issued.password) == .decided(.deny(.wrongPassword)), "one account's app password is not another's")
        _ = bob

        try await h.accounts.revokeAppPassword(account: alice, id: issued.record.id)
        #expect(await h.login("alice@example.org", issued.password) == .decided(.deny(.appPasswordRevoked)), "revocation holds on the very next login")

        let expiring = try await h.accounts.createAppPassword(account: alice, name: "Temp", protocols: nil, expiresAt: h.clock.now.addingTimeInterval(60))
        #expect(await h.login("alice@example.org", expiring.password, .xmpp) != .decided(.deny(.appPasswordExpired)))
        h.clock.advance(61)
        #expect(await h.login("alice@example.org", expiring.password, .xmpp) == .decided(.deny(.appPasswordExpired)))

        let live = try await h.accounts.createAppPassword(account: alice, name: "Live", protocols: nil, expiresAt: nil)
        let allowLive = ProtocolLoginOutcome.decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .appPassword(id: live.record.id)))
        #expect(await h.login("alice@example.org", live.password) == allowLive)
        #expect(await h.login("alice@example.org", live.password) == allowLive)
        let hits = h.authenticator.credentials.lookups.hits
        #expect(cached ? hits >= 3 : hits == 0, "the cached runs answer repeated logins from memory")
        try await AdminService(accounts: h.accounts, store: h.test.store).perform(.disable, on: "alice@example.org", by: .commandLine)
        #expect(await h.login("alice@example.org", live.password) == .decided(.deny(.accountDisabled)))
        #expect(await h.login("alice@example.org", Self.password) == .decided(.deny(.accountDisabled)))
    }

    @Test("an unknown user costs one hash, like a wrong password; an app password costs none")
    func equalWork() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let issued = try await h.accounts.createAppPassword(account: alice, name: "Phone", protocols: nil, expiresAt: nil)
        var before = h.hasher.count
        _ = await h.login("nobody@example.org", "whatever it is")
        #expect(h.hasher.count == before + 1)
        before = h.hasher.count
        _ = await h.login("alice@example.org", "whatever it is")
        #expect(h.hasher.count == before + 1)
        before = h.hasher.count
        _ = await h.login("nobody@example.org", "abcdefghijkl")
        _ = await h.login("alice@example.org", "abcdefghijkl")
        #expect(h.hasher.count == before + 2, "an app-password-shaped miss still pays the hash")
        before = h.hasher.count
        _ = await h.login("alice@example.org", issued.password)
        #expect(h.hasher.count == before)
        before = h.hasher.count
        _ = await h.login("alice@example.org", String(repeating: "x", count: 5000))
        _ = await h.login("nobody@example.org", String(repeating: "x", count: 5000))
        #expect(h.hasher.count == before, "an over-long password is refused before hashing, for everyone")
    }

    @Test("a verified account password is cached briefly, and a password change ends that")
    func cache() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        _ = await h.login("alice@example.org", Self.password)
        let before = h.hasher.count
        for _ in 0..<5 { _ = await h.login("alice@example.org", Self.password) }
        #expect(h.hasher.count == before, "reconnects within the TTL pay no hash")
        _ = await h.login("alice@example.org", "not the password")
        #expect(h.hasher.count == before + 1, "a wrong password is never cached")

        try await h.accounts.changePassword(account: alice, current: Self.password, new: "brand new passphrase", keepingSession: nil)
        #expect(await h.login("alice@example.org", Self.password) == .decided(.deny(.wrongPassword)), "the old password stops at once")
        h.clock.advance(61)
        let fresh = h.hasher.count
        _ = await h.login("alice@example.org", "brand new passphrase")
        _ = await h.login("alice@example.org", "brand new passphrase")
        #expect(h.hasher.count == fresh + 1)
    }

    @Test("an outdated hash is replaced on a successful login")
    func rehash() async throws {
        let old = try await CoreHarness(logN: 10)
        defer { Task { await old.test.close() } }
        let alice = try await old.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let stronger = CountingHasher(logN: 11)
        let authenticator = ProtocolAuthenticator(store: old.test.store, hasher: stronger, keys: old.keys,
                                                  cache: VerifiedPasswordCache(key: old.keys.passwordCacheKey), recorder: old.recorder)
        let outcome = await authenticator.authenticate(ProtocolLoginRequest(username: "alice@example.org", password: Self.password, loginProtocol: .imap, clientIP: nil))
        #expect(outcome == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .accountPassword)))
        let stored = try await old.test.store.account(id: alice.id)!.passwordHash
        #expect(stored.hasPrefix("$scrypt$ln=11,"))
        #expect(try stronger.inner.verifyNow(Self.password, against: stored))
    }

    @Test("decisions are recorded with their reasons; last use keeps IP and protocol")
    func recording() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let issued = try await h.accounts.createAppPassword(account: alice, name: "Phone", protocols: nil, expiresAt: nil)
        _ = try await h.enableTOTP(alice)
        _ = await h.login("alice@example.org", issued.password, .smtp, ip: "198.51.100.4")
        _ = await h.login("alice@example.org", Self.password, .imap, ip: "198.51.100.5")
        try await h.recorder.flush(to: h.test.store)
        let record = try await h.accounts.listAppPasswords(account: alice).first
        #expect(record?.lastUse?.clientIP == "198.51.100.4")
        #expect(record?.lastUse?.loginProtocol == .smtp)
        let logins = try await h.accounts.activity(account: alice).filter { $0.kind == .protocolLogin }
        #expect(logins.count == 2)
        #expect(logins.contains { $0.result == .deny && $0.reason == "app_password_required" && $0.clientIP == "198.51.100.5" })
        #expect(logins.contains { $0.result == .allow && $0.credential == "app_password" && $0.appPasswordID == issued.record.id })
    }

    @Test("spraying: after 100 failures an hour the account password is refused from new sources unchecked; her phone and app passwords work")
    func spraying() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let app = try await h.accounts.createAppPassword(account: alice, name: "Phone", protocols: nil, expiresAt: nil)
        #expect(await h.login("alice@example.org", Self.password, ip: "192.0.2.50") != .decided(.deny(.wrongPassword)), "her phone, once")
        for i in 0..<100 { _ = await h.login("alice@example.org", "guess \(i)", ip: "10.0.\(i).1") }
        let before = h.hasher.count
        #expect(await h.login("alice@example.org", Self.password, ip: "203.0.113.7") == .decided(.deny(.throttled)))
        #expect(h.hasher.count == before, "the right password is not checked: no hash runs at all")
        #expect(await h.login("alice@example.org", Self.password, ip: "192.0.2.50")
                == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .accountPassword)))
        #expect(await h.login("alice@example.org", app.password, ip: "203.0.113.7")
                == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .appPassword(id: app.record.id))))
        h.clock.advance(3601)
        #expect(await h.login("alice@example.org", Self.password, ip: "203.0.113.7")
                == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .accountPassword)))
    }

    @Test("a stale client is recorded once and never counts toward the account's cap")
    func staleClient() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let app = try await h.accounts.createAppPassword(account: alice, name: "Old phone", protocols: nil, expiresAt: nil)
        try await h.accounts.revokeAppPassword(account: alice, id: app.record.id)
        var delays: [TimeInterval] = []
        for _ in 0..<150 {
            let (outcome, delay) = await h.authenticator.evaluate(ProtocolLoginRequest(username: "alice@example.org", password: app.password,
                                                                                      loginProtocol: .imap, clientIP: "192.0.2.77"))
            #expect(outcome == .decided(.deny(.appPasswordRevoked)))
            delays.append(delay)
        }
        #expect(delays.allSatisfy { $0 == 0 }, "a stale phone is not slowed like an attacker")
        #expect(await h.login("alice@example.org", Self.password, ip: "203.0.113.9")
                == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .accountPassword)), "and the account is not locked")
        try await h.recorder.flush(to: h.test.store)
        let stale = try await h.accounts.activity(account: alice).filter { $0.reason == "app_password_revoked" }
        #expect(stale.count == 1, "recorded once")
    }

    /// Compares times, so it runs alone: `scripts/test` runs it in a step of
    /// its own with POSTERN_TIMING=1, after the parallel suites. On SQLite, so
    /// the lookups cost what they cost in a running Postern.
    @Test("an unknown user and a wrong password take the same time: medians within 10%",
          .enabled(if: ProcessInfo.processInfo.environment["POSTERN_TIMING"] == "1"))
    func equalTiming() async throws {
        let h = try await CoreHarness(kind: .sqlite, logN: 13)
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        func sample(_ username: String) async -> Duration {
            let started = ContinuousClock.now
            _ = await h.authenticator.authenticate(ProtocolLoginRequest(username: username, password: "not the password",
                                                                        loginProtocol: .imap, clientIP: nil))
            return ContinuousClock.now - started
        }
        var known: [Duration] = [], unknown: [Duration] = []
        for round in 0..<31 {  // interleaved, so background load falls on both alike
            if round % 2 == 0 {
                known.append(await sample("alice@example.org"))
                unknown.append(await sample("nobody\(round)@example.org"))
            } else {
                unknown.append(await sample("nobody\(round)@example.org"))
                known.append(await sample("alice@example.org"))
            }
        }
        let medianKnown = known.sorted()[15], medianUnknown = unknown.sorted()[15]
        let ratio = Double(medianUnknown.components.attoseconds + medianUnknown.components.seconds * 1_000_000_000_000_000_000)
            / Double(medianKnown.components.attoseconds + medianKnown.components.seconds * 1_000_000_000_000_000_000)
        #expect(abs(ratio - 1) < 0.10, "median unknown \(medianUnknown) vs wrong password \(medianKnown)")
    }

    @Test("a store that cannot answer gives a temporary failure, never a denial", arguments: StoreKind.allCases)
    func storeDown(kind: StoreKind) async throws {
        let h = try await CoreHarness(kind: kind)
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        await h.test.close()
        #expect(await h.login("alice@example.org", Self.password) == .temporaryFailure)
        #expect(await h.login("nobody@example.org", "abcdefghijkl") == .temporaryFailure)
    }
}
