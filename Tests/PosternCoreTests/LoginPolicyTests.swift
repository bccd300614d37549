import Foundation
import Testing
@testable import PosternCore

@Suite("Protocol-login rules")
struct LoginPolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func account(disabled: Bool = false, mfa: Bool = false) -> LoginFacts.AccountFacts {
        .init(id: "acct", username: "alice@example.org", disabled: disabled, mfaEnabled: mfa)
    }

    func app(revoked: Bool = false, expires: Date? = nil, protocols: Set<LoginProtocol> = Set(LoginProtocol.allCases), owner: String = "acct") -> AppPasswordRecord {
        AppPasswordRecord(id: "app1", accountID: owner, name: "Phone", digest: Data([1]), protocols: protocols,
                          createdAt: now.addingTimeInterval(-100), expiresAt: expires, revokedAt: revoked ? now : nil)
    }

    func decide(_ account: LoginFacts.AccountFacts?, app: AppPasswordRecord? = nil, matched: Bool = false, over proto: LoginProtocol = .imap) -> LoginDecision {
        LoginPolicy.decide(LoginFacts(account: account, appPassword: app, accountPasswordMatched: matched, loginProtocol: proto, now: now))
    }

    @Test("an unknown user is denied")
    func unknownUser() {
        #expect(decide(nil, matched: true) == .deny(.unknownUser))
        #expect(decide(nil, app: app()) == .deny(.unknownUser))
    }

    @Test("a valid app password is allowed, with or without MFA")
    func appPasswordAllowed() {
        let allowed = LoginDecision.allow(accountID: "acct", username: "alice@example.org", credential: .appPassword(id: "app1"))
        #expect(decide(account(), app: app()) == allowed)
        #expect(decide(account(mfa: true), app: app()) == allowed)
    }

    @Test("a revoked, expired or out-of-scope app password is denied")
    func appPasswordRefusals() {
        #expect(decide(account(), app: app(revoked: true)) == .deny(.appPasswordRevoked))
        #expect(decide(account(), app: app(expires: now)) == .deny(.appPasswordExpired))
        #expect(decide(account(), app: app(expires: now.addingTimeInterval(-1))) == .deny(.appPasswordExpired))
        #expect(decide(account(), app: app(expires: now.addingTimeInterval(60))) != .deny(.appPasswordExpired))
        #expect(decide(account(), app: app(protocols: [.imap]), over: .smtp) == .deny(.protocolNotInScope))
        #expect(decide(account(), app: app(protocols: [.imap, .smtp]), over: .smtp)
                == .allow(accountID: "acct", username: "alice@example.org", credential: .appPassword(id: "app1")))
    }

    @Test("a disabled account is denied whatever the credential")
    func disabled() {
        #expect(decide(account(disabled: true), app: app()) == .deny(.accountDisabled))
        #expect(decide(account(disabled: true), matched: true) == .deny(.accountDisabled))
    }

    @Test("an app password of another account never counts")
    func foreignAppPassword() {
        #expect(decide(account(), app: app(owner: "other")) == .deny(.wrongPassword))
    }

    @Test("the account password works only without MFA")
    func accountPassword() {
        #expect(decide(account(), matched: true) == .allow(accountID: "acct", username: "alice@example.org", credential: .accountPassword))
        #expect(decide(account(mfa: true), matched: true) == .deny(.appPasswordRequired))
        #expect(decide(account(), matched: false) == .deny(.wrongPassword))
        #expect(decide(account(mfa: true), matched: false) == .deny(.wrongPassword))
    }
}

@Suite("App-password format")
struct AppPasswordFormatTests {
    @Test("generates 12 characters of a-z0-9, all of them in use")
    func generation() {
        var seen = Set<Character>()
        var passwords = Set<String>()
        for _ in 0..<2000 {
            let password = AppPasswordFormat.generate()
            #expect(password.count == 12)
            #expect(password.allSatisfy { AppPasswordFormat.alphabet.contains($0) })
            seen.formUnion(password)
            passwords.insert(password)
        }
        #expect(seen.count == 36)
        #expect(passwords.count == 2000)
    }

    @Test("normalises spaces and case", arguments: [
        ("ABCD efgh 1234", "abcdefgh1234"), ("abcdefgh1234", "abcdefgh1234"), ("  abcd  efgh  ijkl ", "abcdefghijkl"),
    ])
    func normalise(input: String, expected: String) {
        #expect(AppPasswordFormat.normalise(input) == expected)
    }

    @Test("refuses what cannot be an app password", arguments: [
        "abcdefgh123", "abcdefgh12345", "abcd-efgh-1234", "abcdéfgh1234", "abcd\tefgh1234", "", "ａbcdefgh1234",
    ])
    func refuse(input: String) {
        #expect(AppPasswordFormat.normalise(input) == nil)
    }

    @Test("groups for display")
    func grouped() {
        #expect(AppPasswordFormat.grouped("abcdefghijkl") == "abcd efgh ijkl")
    }

    @Test("the digest depends on the key, the account and the password")
    func digest() {
        let keys = KeyRing(serverKey: Array(repeating: 1, count: 32))
        let other = KeyRing(serverKey: Array(repeating: 2, count: 32))
        let base = AppPasswordFormat.digest(normalised: "abcdefghijkl", accountID: "a", keys: keys)
        #expect(base.count == 32)
        #expect(base == AppPasswordFormat.digest(normalised: "abcdefghijkl", accountID: "a", keys: keys))
        #expect(base != AppPasswordFormat.digest(normalised: "abcdefghijkl", accountID: "b", keys: keys))
        #expect(base != AppPasswordFormat.digest(normalised: "abcdefghijkm", accountID: "a", keys: keys))
        #expect(base != AppPasswordFormat.digest(normalised: "abcdefghijkl", accountID: "a", keys: other))
    }

    @Test("validates names and scopes")
    func namesAndScopes() throws {
        #expect(try AppPasswordFormat.validName("  Thunderbird on laptop ") == "Thunderbird on laptop")
        #expect(try AppPasswordFormat.validName(String(repeating: "é", count: 64)).count == 64)
        #expect(throws: PosternError.self) { try AppPasswordFormat.validName("   ") }
        #expect(throws: PosternError.self) { try AppPasswordFormat.validName(String(repeating: "x", count: 65)) }
        #expect(throws: PosternError.self) { try AppPasswordFormat.validName("bad\u{0}name") }
        #expect(try AppPasswordFormat.scope(nil) == Set(LoginProtocol.allCases))
        #expect(try AppPasswordFormat.scope([]) == Set(LoginProtocol.allCases))
        #expect(try AppPasswordFormat.scope(["IMAP", "smtp"]) == [.imap, .smtp])
        #expect(throws: PosternError.self) { try AppPasswordFormat.scope(["ftp"]) }
    }

    @Test("refuses a name where a mark joins a quote or angle bracket", arguments: [
        "\"\u{0301} onmouseover=x", "Phone'\u{0301}", "a<\u{0300}b", ">\u{20DD}", "x\"\u{0903}", "\"\u{FE0F}",
        "\"\u{200D}\u{0301}", "\u{0D4E}\"",
    ])
    func marksJoiningQuotes(name: String) {
        #expect(throws: PosternError.invalidAppPasswordName(
            "The name must not have an accent or other combining mark right after a quote or an angle bracket (\" ' < >).")) {
            try AppPasswordFormat.validName(name)
        }
        #expect(PosternError.invalidAppPasswordName("").code == "invalid_name")
    }

    @Test("keeps names with quotes, brackets and accents that stand apart", arguments: [
        "Bob's \"work\" <laptop>", "Café", "Cafe\u{0301}", "\" \u{0301}", "<é>", "日本語 'phone'", "👩\u{200D}💻 laptop",
    ])
    func quotesAndMarksApart(name: String) throws {
        #expect(try AppPasswordFormat.validName(name) == name.precomposedStringWithCanonicalMapping)
    }
}

@Suite("Usernames, passwords and addresses")
struct NormalisationTests {
    @Test("usernames compare case-insensitively in NFC", arguments: [
        ("Alice@Example.ORG", "alice@example.org"), (" bob@example.org ", "bob@example.org"),
        ("Jose\u{301}@example.org", "jos\u{e9}@example.org"), ("ÄRGER@example.org", "ärger@example.org"),
    ])
    func canonical(raw: String, expected: String) {
        #expect(Username.canonical(raw) == expected)
    }

    @Test("refuses malformed usernames", arguments: [
        "", "alice", "@example.org", "alice@", "a@b@c", "al ice@example.org", "alice@example..org", "alice@.example.org",
        "ali\u{0}ce@example.org", "alice\u{200B}@example.org", "ali:ce@example.org", String(repeating: "a", count: 250) + "@example.org",
    ])
    func malformed(raw: String) {
        #expect(Username.canonical(raw) == nil)
    }

    @Test("password length counts code points: 8 to 256")
    func lengths() throws {
        let policy = PasswordPolicy(commonPasswords: [])
        #expect(throws: PosternError.self) { try policy.check("short12") }
        try policy.check("🔑🔑🔑🔑🔑🔑🔑🔑")  // 8 code points, 32 bytes
        #expect(throws: PosternError.self) { try policy.check("🔑🔑🔑🔑🔑🔑🔑") }
        try policy.check(String(repeating: "x", count: 256))
        #expect(throws: PosternError.self) { try policy.check(String(repeating: "x", count: 257)) }
        try policy.check("no rules about digits or symbols")
    }

    @Test("the bundled list refuses common passwords, with a reason")
    func commonPasswords() throws {
        let policy = PasswordPolicy.bundled()
        #expect(policy.commonPasswordCount >= 10_000)
        for common in ["password", "12345678", "iloveyou", "PASSWORD1", "qwertyuiop"] {
            #expect(throws: PosternError.weakPassword("This password is on a list of commonly used passwords. Choose another.")) {
                try policy.check(common)
            }
        }
        try policy.check("violet staple orbit kettle")
        #expect(throws: PosternError.self) { try policy.check("alice@example.org", username: "alice@example.org") }
    }

    @Test("client addresses", arguments: [
        ("192.0.2.1", "192.0.2.1"), ("2001:DB8::1", "2001:db8::1"), ("::1", "::1"), ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80:0:0:0:0:0:0:1", "fe80:0:0:0:0:0:0:1"),
    ])
    func addresses(raw: String, expected: String) {
        #expect(ClientAddress.canonical(raw) == expected)
    }

    @Test("refuses what is not an address", arguments: ["256.1.1.1", "1.2.3", "01.2.3.4", "example.org", "1::2::3", "fe80::1%eth0", "12345::", ""])
    func badAddresses(raw: String) {
        #expect(ClientAddress.canonical(raw) == nil)
    }
}
