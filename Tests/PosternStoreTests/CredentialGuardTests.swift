import Foundation
@testable import PosternCore
import Testing

/// The guard over every door, through the core and a store (in memory; the
/// two tests that lean most on the shared counters and the audit log run on
/// every `StoreKind`), with an injected clock.
@Suite("One guard over every credential check")
struct CredentialGuardTests {
    static let password = "violet staple orbit"

    /// A code the authenticator does not show now, nor a step either side.
    func wrongCode(_ h: CoreHarness, _ enrolment: TOTPEnrolment) -> String {
        let valid = Set((-1...1).map { h.code(for: enrolment, offset: $0) })
        var candidate = 0
        while valid.contains(String(format: "%06d", candidate)) { candidate += 1 }
        return String(format: "%06d", candidate)
    }

    /// Alice with an authenticator app and recovery codes.
    func alice(_ h: CoreHarness) async throws -> (Account, TOTPEnrolment, [String]) {
        var account = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let enrolment = try await h.enableTOTP(account)
        let codes = try await h.accounts.generateRecoveryCodes(account: account)
        account = try await h.accounts.account(username: "alice@example.org")
        return (account, enrolment, codes)
    }

    func signedInSession(_ h: CoreHarness, ip: String = "192.0.2.10") async throws -> Session {
        let account = try await h.accounts.account(username: "alice@example.org")
        return try await h.accounts.openSession(account: account, kind: .portal, stage: .full, lifetime: 3600, clientIP: ip, reason: "test").session
    }

    func resetToken(_ h: CoreHarness) async throws -> String? {
        for message in try await h.test.store.pendingOutbox(limit: 100) {
            guard let sealed = message.sealed, let content = try? h.notices.open(sealed, id: message.id),
                  let range = content.text.range(of: "/reset?token=") else { continue }
            return String(content.text[range.upperBound...].prefix { !$0.isWhitespace })
        }
        return nil
    }

    func subjects(_ h: CoreHarness) async throws -> [String] {
        try await h.test.store.pendingOutbox(limit: 200).compactMap { message in
            message.sealed.flatMap { try? h.notices.open($0, id: message.id).subject }
        }
    }

    @Test("wrong second factors count per account across every door; past 10 an hour right codes are refused, keys and recovery codes still work",
          arguments: StoreKind.allCases)
    func secondFactorCapAcrossDoors(kind: StoreKind) async throws {
        let h = try await CoreHarness(kind: kind)
        defer { Task { await h.test.close() } }
        let (account, enrolment, recovery) = try await alice(h)
        let wrong = wrongCode(h, enrolment)
        // Ten wrong codes spread over five doors.
        for i in 0..<3 {
            let answer = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: wrong, recoveryCode: nil,
                                                           clientIP: "198.51.100.\(i)")
            guard case .secondFactorRequired = answer else { Issue.record("a wrong code signed in"); return }
        }
        for i in 0..<3 {
            guard case .secondFactorRequired(let token, _) = try await h.accounts.beginSignIn(username: "alice@example.org", password: Self.password,
                                                                                              clientIP: "198.51.100.1\(i)") else { return }
            await #expect(throws: PosternError.invalidCode) {
                try await h.accounts.completeSignIn(pendingToken: token, otp: wrong, clientIP: "198.51.100.1\(i)")
            }
        }
        let session = try await signedInSession(h)
        try await RequestOrigin.$clientIP.withValue("198.51.100.20") {
            for _ in 0..<2 {
                await #expect(throws: PosternError.invalidCode) {
                    try await h.accounts.reauthenticate(session: session, account: account, password: Self.password, otp: wrong)
                }
            }
            await #expect(throws: PosternError.invalidCode) {
                try await h.accounts.disableTOTP(account: account, password: Self.password, code: wrong)
            }
            await h.accounts.requestPasswordReset(username: "alice@example.org")
            let token = try #require(try await resetToken(h))
            await #expect(throws: PosternError.invalidCode) {
                try await h.accounts.completePasswordReset(token: token, newPassword: "a whole new passphrase", otp: wrong, recoveryCode: nil)
            }
        }
        // The eleventh: the right code is refused, at every door.
        h.clock.advance(30)
        let right = h.code(for: enrolment)
        await #expect(throws: PosternError.secondFactorLocked) {
            try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: right, recoveryCode: nil, clientIP: "192.0.2.10")
        }
        await #expect(throws: PosternError.secondFactorLocked) {
            try await RequestOrigin.$clientIP.withValue("192.0.2.10") {
                try await h.accounts.reauthenticate(session: session, account: account, password: Self.password, otp: right)
            }
        }
        // A recovery code still works.
        let signedIn = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: recovery[0],
                                                         clientIP: "192.0.2.10")
        guard case .signedIn = signedIn else { Issue.record("a recovery code was refused past the cap"); return }
        // A wrong recovery code counts too, and the window passes.
        _ = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: "aaaaa-aaaaa-aaaa",
                                              clientIP: "192.0.2.10")
        #expect(try await h.test.store.failures(key: GuardKey.secondFactor(accountID: account.id).storeKey, window: 3600, now: h.clock.now) == 13,
                "ten wrong, two refused unchecked, one right given back, one wrong recovery code")
        h.clock.advance(3601)
        let later = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: h.code(for: enrolment),
                                                      recoveryCode: nil, clientIP: "192.0.2.10")
        guard case .signedIn = later else { Issue.record("the right code still refused after the window"); return }
    }

    @Test("parallel guesses on one pending sign-in cannot pass the limit: each is counted before it is checked")
    func parallelGuesses() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let (_, enrolment, _) = try await alice(h)
        let wrong = wrongCode(h, enrolment)
        var pendingTokens: [String] = []
        for i in 0..<4 {
            guard case .secondFactorRequired(let token, _) = try await h.accounts.beginSignIn(username: "alice@example.org", password: Self.password,
                                                                                              clientIP: "192.0.2.\(i)") else { return }
            pendingTokens.append(token)
        }
        let tokens = pendingTokens
        let outcomes = await withTaskGroup(of: String.self) { group in
            for i in 0..<16 {
                group.addTask {
                    do {
                        _ = try await h.accounts.completeSignIn(pendingToken: tokens[i % 4], otp: wrong, clientIP: "192.0.2.\(i % 4)")
                        return "passed"
                    } catch let error as PosternError {
                        return error.code
                    } catch {
                        return "other"
                    }
                }
            }
            var all: [String] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(!outcomes.contains("passed"))
        // At most ten were checked (wrong code, or the pending sign-in used up its own five); the rest were refused unchecked.
        #expect(outcomes.filter { $0 == "invalid_code" }.count <= 10)
        #expect(outcomes.filter { $0 == "second_factor_locked" }.count >= 6)
    }

    @Test("a reset link dies after 5 wrong codes, even with the right code after")
    func resetLinkDies() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let (_, enrolment, _) = try await alice(h)
        await h.accounts.requestPasswordReset(username: "alice@example.org")
        let token = try #require(try await resetToken(h))
        let wrong = wrongCode(h, enrolment)
        for attempt in 1...5 {
            let expected: PosternError = attempt < 5 ? .invalidCode : .invalidResetToken
            await #expect(throws: expected) {
                try await h.accounts.completePasswordReset(token: token, newPassword: "a whole new passphrase", otp: wrong, recoveryCode: nil)
            }
        }
        h.clock.advance(30)
        await #expect(throws: PosternError.invalidResetToken) {
            try await h.accounts.completePasswordReset(token: token, newPassword: "a whole new passphrase", otp: h.code(for: enrolment), recoveryCode: nil)
        }
        #expect(try await h.accounts.passwordResetAccount(token: token) == nil, "the link is dead, not just refused")
    }

    @Test("the owner is told once an hour, from the third wrong second factor, with the addresses used")
    func ownerNotified() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let (_, enrolment, _) = try await alice(h)
        let wrong = wrongCode(h, enrolment)
        let subject = "Someone entered your password but failed the second step"
        for i in 0..<2 {
            _ = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: wrong, recoveryCode: nil, clientIP: "203.0.113.\(i)")
        }
        #expect(try await !subjects(h).contains(subject), "two mistakes are not worth an email")
        for i in 2..<6 {
            _ = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: wrong, recoveryCode: nil, clientIP: "203.0.113.\(i)")
        }
        #expect(try await subjects(h).filter { $0 == subject }.count == 1, "once per window")
        let message = try #require(try await h.test.store.pendingOutbox(limit: 200).first {
            $0.sealed.flatMap { try? h.notices.open($0, id: "").subject } == subject || (try? h.notices.open($0.sealed!, id: $0.id).subject) == subject
        })
        let text = try h.notices.open(message.sealed!, id: message.id).text
        #expect(text.contains("203.0.113.0") && text.contains("203.0.113.2"))
        h.clock.advance(3600)
        _ = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: wrong, recoveryCode: nil, clientIP: "203.0.113.9")
        #expect(try await subjects(h).filter { $0 == subject }.count == 1, "a new window needs its own third failure")
    }

    @Test("a paced source is refused before any hash, with the right password too; then gets one try per delay")
    func refusedBeforeHash() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        for i in 0..<5 {
            await #expect(throws: PosternError.invalidCredentials) {
                try await h.accounts.signInForAPI(username: "alice@example.org", password: "guess \(i)", otp: nil, recoveryCode: nil, clientIP: "203.0.113.7")
            }
        }
        await #expect(throws: PosternError.throttled(1)) {
            try await h.accounts.signInForAPI(username: "alice@example.org", password: "guess 5", otp: nil, recoveryCode: nil, clientIP: "203.0.113.7")
        }
        let before = h.hasher.count
        await #expect(throws: PosternError.throttled(1)) {
            try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: nil, clientIP: "203.0.113.7")
        }
        #expect(await h.login("alice@example.org", Self.password, ip: "203.0.113.7") == .decided(.deny(.throttled)), "the protocol door too")
        await #expect(throws: PosternError.throttled(1)) {
            try await h.accounts.signInForAPI(username: "nobody@example.org", password: Self.password, otp: nil, recoveryCode: nil, clientIP: "203.0.113.7")
        }
        #expect(h.hasher.count == before, "no hash ran for a paced source")
        h.clock.advance(1)
        let answer = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: nil,
                                                       clientIP: "203.0.113.7")
        guard case .signedIn = answer else { Issue.record("the next slot did not admit the right password"); return }
        #expect(h.hasher.count == before + 1)
    }

    @Test("names that exist and names that don't get the same answers and the same work, at sign-in and over protocols")
    func noExistenceSignal() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        func signIn(_ name: String, _ i: Int, _ net: Int) async -> String {
            do {
                _ = try await h.accounts.signInForAPI(username: name, password: "guess \(i)", otp: nil, recoveryCode: nil, clientIP: "10.\(net).\(i).1")
                return "signed in"
            } catch let error as PosternError {
                return "\(error)"
            } catch {
                return "other"
            }
        }
        var existing: [String] = [], missing: [String] = []
        var existingHashes = 0, missingHashes = 0
        for i in 0..<30 {
            var before = h.hasher.count
            existing.append(await signIn("alice@example.org", i, 1))
            existingHashes += h.hasher.count - before
            before = h.hasher.count
            missing.append(await signIn("nobody@example.org", i, 2))
            missingHashes += h.hasher.count - before
            h.clock.advance(0.1)
        }
        #expect(existing == missing)
        #expect(existing.contains { $0.hasPrefix("throttled") }, "a sprayed name is paced after 20 failures")
        #expect(existingHashes == missingHashes)
        var protocolExisting: [ProtocolLoginOutcome] = [], protocolMissing: [ProtocolLoginOutcome] = []
        for i in 0..<30 {
            protocolExisting.append(await h.login("alice@example.org", "guess \(i)", ip: "10.3.\(i).1"))
            protocolMissing.append(await h.login("nobody@example.org", "guess \(i)", ip: "10.4.\(i).1"))
            h.clock.advance(0.1)
        }
        let reasons = { (outcomes: [ProtocolLoginOutcome]) in outcomes.map { $0 == .decided(.deny(.throttled)) } }
        #expect(reasons(protocolExisting) == reasons(protocolMissing), "throttled at the same points")
    }

    @Test("the hourly cap holds across doors; an app password's success earns no standing for account-password attempts",
          arguments: StoreKind.allCases)
    func capAcrossDoorsAndKnownGood(kind: StoreKind) async throws {
        let h = try await CoreHarness(kind: kind)
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let smtp = try await h.accounts.createAppPassword(account: alice, name: "Scanner", protocols: ["smtp"], expiresAt: nil)
        #expect(await h.login("alice@example.org", smtp.password, .smtp, ip: "198.51.100.77")
                == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .appPassword(id: smtp.record.id))))
        try await h.recorder.flush(to: h.test.store)
        _ = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: nil, clientIP: "192.0.2.50")
        for i in 0..<100 {
            _ = await h.login("alice@example.org", "guess \(i)", ip: "10.9.\(i).1")
            h.clock.advance(8)
        }
        let before = h.hasher.count
        await #expect(throws: PosternError.self, "portal and API sign-in from a new source: capped by the protocol guesses") {
            try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: nil, clientIP: "203.0.113.5")
        }
        #expect(await h.login("alice@example.org", Self.password, .imap, ip: "198.51.100.77") == .decided(.deny(.throttled)),
                "the SMTP app password's address is no known-good source for the account password")
        #expect(h.hasher.count == before)
        let fromHome = try await h.accounts.signInForAPI(username: "alice@example.org", password: Self.password, otp: nil, recoveryCode: nil,
                                                         clientIP: "192.0.2.50")
        guard case .signedIn = fromHome else { Issue.record("her own address was refused"); return }
    }

    @Test("reset requests are bounded per name and per source, alike for names that exist and don't")
    func resetRequestsBounded() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        for name in ["alice@example.org", "nobody@example.org"] {
            for i in 0..<5 { try await h.accounts.admitPasswordReset(username: name, clientIP: "10.0.0.\(i)") }
            await #expect(throws: PosternError.throttled(3600)) { try await h.accounts.admitPasswordReset(username: name, clientIP: "10.0.1.1") }
        }
        for i in 0..<20 { try await h.accounts.admitPasswordReset(username: "user\(i)@example.org", clientIP: "203.0.113.8") }
        await #expect(throws: PosternError.throttled(3600)) { try await h.accounts.admitPasswordReset(username: "other@example.org", clientIP: "203.0.113.8") }
        // Many /64s of one /48 share the /48's allowance (eight times one source's).
        for i in 0..<160 { try await h.accounts.admitPasswordReset(username: "v6user\(i)@example.org", clientIP: "2001:db8:7:\(i)::1") }
        await #expect(throws: PosternError.throttled(3600)) {
            try await h.accounts.admitPasswordReset(username: "v6other@example.org", clientIP: "2001:db8:7:ffff::1")
        }
        h.clock.advance(3601)
        try await h.accounts.admitPasswordReset(username: "alice@example.org", clientIP: "203.0.113.8")
    }

    @Test("sign-up's \"name taken\" is paced per source")
    func signUpTaken() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        try await RequestOrigin.$clientIP.withValue("203.0.113.44") {
            for _ in 0..<6 {
                await #expect(throws: PosternError.usernameTaken) {
                    try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
                }
            }
            await #expect(throws: PosternError.throttled(1)) {
                try await h.accounts.createAccount(username: "bob@example.org", password: Self.password)
            }
        }
        _ = try await RequestOrigin.$clientIP.withValue("192.0.2.1") {
            try await h.accounts.createAccount(username: "bob@example.org", password: Self.password)
        }
    }

    @Test("a burst of parallel guesses from one source cannot pass the free allowance: each is counted when admitted")
    func parallelPasswordBurst() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let before = h.hasher.count
        let outcomes = await withTaskGroup(of: ProtocolLoginOutcome.self) { group in
            for i in 0..<40 { group.addTask { await h.login("alice@example.org", "guess \(i)", ip: "203.0.113.77") } }
            var all: [ProtocolLoginOutcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let hashed = h.hasher.count - before
        #expect(hashed <= 6, "five free and one paced slot were hashed, not \(hashed)")
        #expect(outcomes.filter { $0 == .decided(.deny(.throttled)) }.count >= 34)
    }

    @Test("overlong passwords ask the guard too: a paced source is refused, and nothing is hashed")
    func overlong() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        _ = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        let long = String(repeating: "x", count: 2000)
        var outcomes: [ProtocolLoginOutcome] = []
        for _ in 0..<8 { outcomes.append(await h.login("alice@example.org", long, ip: "203.0.113.78")) }
        #expect(outcomes.prefix(6).allSatisfy { $0 == .decided(.deny(.wrongPassword)) })
        #expect(outcomes.suffix(2).allSatisfy { $0 == .decided(.deny(.throttled)) })
        #expect(h.hasher.count == 0)
    }

    @Test("a source that signed in is known-good, but paced by its own guesses, and loses its standing after ten")
    func knownGoodPacedByItself() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        #expect(await h.login("alice@example.org", Self.password, ip: "198.51.100.20")
                == .decided(.allow(accountID: alice.id, username: "alice@example.org", credential: .accountPassword)))
        var refused = 0
        for i in 0..<30 where await h.login("alice@example.org", "guess \(i)", ip: "198.51.100.20") == .decided(.deny(.throttled)) { refused += 1 }
        #expect(refused > 0, "its own guessing paces it")
        h.clock.advance(60)
        for i in 0..<10 {
            _ = await h.login("alice@example.org", "more \(i)", ip: "198.51.100.20")
            h.clock.advance(10)
        }
        #expect(!h.credentialGuard.throttle.isKnownGood(accountID: alice.id, clientIP: "198.51.100.20", now: h.clock.now))
    }

    @Test("two concurrent removals of an account's last two keys with a stale session: one is refused")
    func lastKeyRace() async throws {
        let h = try await CoreHarness()
        defer { Task { await h.test.close() } }
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: Self.password)
        for i in 1...2 {
            try await h.test.store.addSecurityKey(SecurityKey(credentialID: Data([UInt8(i)]), accountID: alice.id, name: "Key \(i)", publicKey: Data([9]),
                                                              algorithm: -7, signCount: 0, createdAt: h.clock.now), audit: AuditEvent(accountID: alice.id,
                                                              kind: .securityKeyAdded, result: .ok, at: h.clock.now))
        }
        let session = try await signedInSession(h)
        h.clock.advance(11 * 60)
        let results = await withTaskGroup(of: String.self) { group in
            for i in 1...2 {
                group.addTask {
                    do {
                        try await h.accounts.removeSecurityKey(account: alice, session: session, credentialID: Data([UInt8(i)]))
                        return "removed"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            var all: [String] = []
            for await result in group { all.append(result) }
            return all.sorted()
        }
        #expect(results == ["reauthenticationRequired", "removed"])
        #expect(try await h.accounts.account(username: "alice@example.org").mfaEnabled)
    }
}
