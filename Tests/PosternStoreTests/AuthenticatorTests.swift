import Foundation
import PosternCore
import Synchronization
import Testing
@testable import PosternSQL

/// A cheap scrypt that counts how often it runs.
final class CountingHasher: PasswordHasher {
    let inner: ScryptHasher
    let verifications = Atomic<Int>(0)

    init(logN: Int = 10) { inner = ScryptHasher(parameters: .init(logN: logN)) }
    var dummyHash: String { inner.dummyHash }
    var count: Int { verifications.load(ordering: .relaxed) }
    func hash(_ password: String) async throws -> String { try inner.hashNow(password) }
    func verify(_ password: String, against encoded: String) async throws -> Bool {
        verifications.add(1, ordering: .relaxed)
        return try inner.verifyNow(password, against: encoded)
    }
    func needsRehash(_ encoded: String) -> Bool { inner.needsRehash(encoded) }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var clock: Clock { Clock { self.time.withLock { $0 } } }
    func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var now: Date { time.withLock { $0 } }
}

/// The core's services wired to a real store.
struct CoreHarness {
    let test: TestStore
    let hasher: CountingHasher
    let keys = KeyRing(serverKey: Secrets.randomBytes(32))
    let recorder = LoginRecorder()
    let clock = TestClock()
    let accounts: AccountService
    let authenticator: ProtocolAuthenticator
    /// The one guard both services ask, as in a running Postern.
    let credentialGuard: CredentialGuard
    let notices: NoticeComposer

    init(kind: StoreKind = .sqlite, logN: Int = 10, policy: AccountPolicy = AccountPolicy(), throttle: ThrottlePolicy = ThrottlePolicy()) async throws {
        test = try await kind.make()
        hasher = CountingHasher(logN: logN)
        credentialGuard = CredentialGuard(store: test.store, keys: keys, throttle: LoginThrottle(policy: throttle))
        notices = NoticeComposer(keys: keys, publicURL: "https://mail.example.org", productName: "Postern")
        accounts = AccountService(store: test.store, hasher: hasher, keys: keys, passwordPolicy: .bundled(), policy: policy, clock: clock.clock,
                                  credentialGuard: credentialGuard, notices: notices)
        authenticator = ProtocolAuthenticator(store: test.store, hasher: hasher, keys: keys, cache: VerifiedPasswordCache(key: keys.passwordCacheKey),
                                              recorder: recorder, clock: clock.clock, credentialGuard: credentialGuard)
    }

    func login(_ username: String, _ password: String, _ proto: LoginProtocol = .imap, ip: String? = "192.0.2.10") async -> ProtocolLoginOutcome {
        await authenticator.authenticate(ProtocolLoginRequest(username: username, password: password, loginProtocol: proto, clientIP: ip))
    }

    /// The current code of the account's confirmed authenticator app.
    func code(for enrolment: TOTPEnrolment, offset: Int = 0) -> String {
        OneTimePassword.totp(key: Base32.decode(enrolment.secretBase32)!, at: clock.now.addingTimeInterval(Double(offset * 30)))
    }

    func enableTOTP(_ account: Account) async throws -> TOTPEnrolment {
        let enrolment = try await accounts.beginTOTP(account: account)
        try await accounts.confirmTOTP(account: account, code: code(for: enrolment))
        clock.advance(30)
        return enrolment
    }
}

@Suite("Protocol logins through the core and a real store")
struct AuthenticatorTests {
    static let password = "violet staple orbit"

    @Test("every rule, end to end")
    func rules() async throws {
        let h = try await CoreHarness()
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
        try await h.accounts.setDisabled(username: "alice@example.org", true)
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
        #expect(logins.contains { $0.result == "deny" && $0.reason == "app_password_required" && $0.clientIP == "198.51.100.5" })
        #expect(logins.contains { $0.result == "allow" && $0.credential == "app_password" && $0.appPasswordID == issued.record.id })
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
    /// its own with POSTERN_TIMING=1, after the parallel suites.
    @Test("an unknown user and a wrong password take the same time: medians within 10%",
          .enabled(if: ProcessInfo.processInfo.environment["POSTERN_TIMING"] == "1"))
    func equalTiming() async throws {
        let h = try await CoreHarness(logN: 13)
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

    @Test("a store that cannot answer gives a temporary failure, never a denial")
    func storeDown() async throws {
        let h = try await CoreHarness()
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        await h.test.close()
        #expect(await h.login("alice@example.org", Self.password) == .temporaryFailure)
        #expect(await h.login("nobody@example.org", "abcdefghijkl") == .temporaryFailure)
    }
}

@Suite("Accounts, sessions and TOTP through the core and a real store")
struct AccountServiceTests {
    static let password = "violet staple orbit"

    @Test("sign-up rules")
    func signUp() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        await #expect(throws: PosternError.usernameTaken) {
            _ = try await h.accounts.createAccount(username: "ALICE@example.org", password: Self.password)
        }
        await #expect(throws: PosternError.invalidUsername) { _ = try await h.accounts.createAccount(username: "alice", password: Self.password) }
        await #expect(throws: PosternError.self) { _ = try await h.accounts.createAccount(username: "c@example.org", password: "password1") }

        let closed = try await CoreHarness(policy: AccountPolicy(signupOpen: false))
        defer { Task { await closed.test.close() } }
        await #expect(throws: PosternError.signupClosed) { _ = try await closed.accounts.createAccount(username: "d@example.org", password: Self.password) }
        _ = try await closed.accounts.createAccount(username: "d@example.org", password: Self.password, byAdministrator: true)
    }

    @Test("sign-in: generic refusals; with MFA a code is required and used once")
    func signIn() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let (token, _) = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: nil, clientIP: nil)
        #expect(try await h.accounts.resolveSession(token: token)?.1.id == alice.id)
        for (user, pass) in [("alice@example.org", "wrong password"), ("nobody@example.org", Self.password)] {
            await #expect(throws: PosternError.invalidCredentials) { _ = try await h.accounts.signIn(username: user, password: pass, otp: nil, clientIP: nil) }
        }
        let issued = try await h.accounts.createAppPassword(account: alice, name: "Phone", protocols: nil, expiresAt: nil)
        await #expect(throws: PosternError.invalidCredentials, "an app password never signs in to the API") {
            _ = try await h.accounts.signIn(username: "alice@example.org", password: issued.password, otp: nil, clientIP: nil)
        }

        let enrolment = try await h.enableTOTP(alice)
        await #expect(throws: PosternError.otpRequired) { _ = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: nil, clientIP: nil) }
        await #expect(throws: PosternError.otpRequired) { _ = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: "000000", clientIP: nil) }
        let code = h.code(for: enrolment)
        _ = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: code, clientIP: nil)
        await #expect(throws: PosternError.otpRequired, "the same code twice is a replay") {
            _ = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: code, clientIP: nil)
        }
        await #expect(throws: PosternError.otpRequired, "the previous step is now also spent") {
            _ = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: h.code(for: enrolment, offset: -1), clientIP: nil)
        }
        _ = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: h.code(for: enrolment, offset: 1), clientIP: nil)

        try await h.accounts.setDisabled(username: "alice@example.org", true)
        #expect(try await h.accounts.resolveSession(token: token) == nil, "disabling ends sessions")
    }

    @Test("two sign-ins racing with one code: exactly one succeeds")
    func concurrentCode() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let enrolment = try await h.enableTOTP(alice)
        let code = h.code(for: enrolment)
        let successes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { (try? await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: code, clientIP: nil)) != nil }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        #expect(successes == 1)
    }

    @Test("TOTP enrolment: confirm with a code, disable with password and code")
    func totpLifecycle() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        var alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let enrolment = try await h.accounts.beginTOTP(account: alice)
        #expect(Base32.decode(enrolment.secretBase32)?.count == 20, "160-bit secret")
        #expect(enrolment.otpauthURI.hasPrefix("otpauth://totp/Postern:alice@example.org?secret=\(enrolment.secretBase32)&issuer=Postern"))
        await #expect(throws: PosternError.invalidCode) { try await h.accounts.confirmTOTP(account: alice, code: "123") }
        #expect(try await h.accounts.account(username: "alice@example.org").mfaEnabled == false)
        try await h.accounts.confirmTOTP(account: alice, code: h.code(for: enrolment))
        alice = try await h.accounts.account(username: "alice@example.org")
        #expect(alice.mfaEnabled)
        await #expect(throws: PosternError.totpAlreadyEnabled) { _ = try await h.accounts.beginTOTP(account: alice) }
        h.clock.advance(30)
        await #expect(throws: PosternError.invalidCredentials) { try await h.accounts.disableTOTP(account: alice, password: "nope nope nope", code: h.code(for: enrolment)) }
        await #expect(throws: PosternError.invalidCode) { try await h.accounts.disableTOTP(account: alice, password: Self.password, code: "000000") }
        try await h.accounts.disableTOTP(account: alice, password: Self.password, code: h.code(for: enrolment))
        #expect(try await h.accounts.account(username: "alice@example.org").mfaEnabled == false)
        let stored = try await h.test.store.totpFactor(accountID: alice.id)
        #expect(stored == nil)
    }

    @Test("an administrator's MFA reset removes the app, the keys and the recovery codes")
    func resetMFA() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        _ = try await h.enableTOTP(alice)
        try await h.test.store.addSecurityKey(SecurityKey(credentialID: Data([1]), accountID: alice.id, name: "Key", publicKey: Data([2]), algorithm: -7,
                                                          signCount: 0, createdAt: h.clock.now), audit: AuditEvent(accountID: alice.id, kind: .securityKeyAdded, result: "ok", at: h.clock.now))
        _ = try await h.accounts.generateRecoveryCodes(account: alice)
        try await h.accounts.resetMFA(username: "alice@example.org")
        #expect(try await h.accounts.account(username: "alice@example.org").mfaEnabled == false)
        #expect(try await h.accounts.secondFactorMethods(account: alice).isEmpty)
    }

    @Test("the TOTP secret is stored sealed, never in the clear")
    func sealedAtRest() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let enrolment = try await h.accounts.beginTOTP(account: alice)
        let sealed = try #require(try await h.test.store.totpFactor(accountID: alice.id)).sealedSecret
        let secret = Base32.decode(enrolment.secretBase32)!
        #expect(sealed.range(of: Data(secret)) == nil)
        #expect(try h.keys.open(sealed, accountID: alice.id) == secret)
    }

    @Test("app passwords: returned once, limit, unique names, stored only as a keyed digest")
    func appPasswords() async throws {
        let h = try await CoreHarness(policy: AccountPolicy(appPasswordLimit: 2))
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let one = try await h.accounts.createAppPassword(account: alice, name: "One", protocols: nil, expiresAt: nil)
        #expect(one.password.count == 12)
        #expect(one.record.digest == AppPasswordFormat.digest(normalised: one.password, accountID: alice.id, keys: h.keys))
        await #expect(throws: PosternError.appPasswordNameTaken) { _ = try await h.accounts.createAppPassword(account: alice, name: "One", protocols: nil, expiresAt: nil) }
        _ = try await h.accounts.createAppPassword(account: alice, name: "Two", protocols: nil, expiresAt: nil)
        await #expect(throws: PosternError.appPasswordLimit(2)) { _ = try await h.accounts.createAppPassword(account: alice, name: "Three", protocols: nil, expiresAt: nil) }
        await #expect(throws: PosternError.invalidExpiry) {
            _ = try await h.accounts.createAppPassword(account: alice, name: "Past", protocols: nil, expiresAt: h.clock.now.addingTimeInterval(-1))
        }
        try await h.accounts.revokeAllAppPasswords(account: alice)
        #expect(try await h.accounts.listAppPasswords(account: alice).isEmpty)
        await #expect(throws: PosternError.notFound) { try await h.accounts.revokeAppPassword(account: alice, id: one.record.id) }
    }

    @Test("changing the password needs the current one and ends other sessions")
    func changePassword() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let (keep, keepSession) = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: nil, clientIP: nil)
        let (other, _) = try await h.accounts.signIn(username: "alice@example.org", password: Self.password, otp: nil, clientIP: nil)
        await #expect(throws: PosternError.invalidCredentials) {
            try await h.accounts.changePassword(account: alice, current: "not current", new: "a whole new phrase", keepingSession: nil)
        }
        await #expect(throws: PosternError.self) {
            try await h.accounts.changePassword(account: alice, current: Self.password, new: "password", keepingSession: nil)
        }
        try await h.accounts.changePassword(account: alice, current: Self.password, new: "a whole new phrase", keepingSession: keepSession.tokenDigest)
        #expect(try await h.accounts.resolveSession(token: keep) != nil)
        #expect(try await h.accounts.resolveSession(token: other) == nil)
        _ = try await h.accounts.signIn(username: "alice@example.org", password: "a whole new phrase", otp: nil, clientIP: nil)
    }
}
