import Foundation
import PosternCore
import Testing

@Suite("Accounts, sessions and TOTP through the core and a store")
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

    @Test("sign-in: generic refusals; with MFA a code is required and used once", arguments: StoreKind.allCases)
    func signIn(kind: StoreKind) async throws {
        let h = try await CoreHarness(kind: kind)
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

        try await AdminService(accounts: h.accounts, store: h.test.store).perform(.disable, on: "alice@example.org", by: .commandLine)
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
                                                          signCount: 0, createdAt: h.clock.now), audit: AuditEvent(accountID: alice.id, kind: .securityKeyAdded, result: .ok, at: h.clock.now))
        _ = try await h.accounts.generateRecoveryCodes(account: alice)
        try await AdminService(accounts: h.accounts, store: h.test.store).perform(.resetMFA, on: "alice@example.org", by: .commandLine)
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
