import Foundation
@testable import PosternCore
import Testing

/// Device-setup links through the core: who may make one, what opening it
/// makes and tells the owner, and every change that ends a waiting link.
@Suite("Device-setup links in the core")
struct DeviceSetupServiceTests {
    static let password = "violet staple orbit"

    struct Signed {
        let h: CoreHarness
        let alice: Account
        let session: Session
    }

    static func signedIn(kind: StoreKind = .memory, policy: AccountPolicy = AccountPolicy()) async throws -> Signed {
        let h = try await CoreHarness(kind: kind, policy: policy)
        let alice = try await h.accounts.createAccount(username: "alice@example.org", password: password)
        let (_, session) = try await h.accounts.signIn(username: alice.username, password: password, otp: nil, clientIP: nil)
        return Signed(h: h, alice: alice, session: session)
    }

    static func link(_ s: Signed, name: String = "iPhone", from ip: String = "198.51.100.1") async throws -> IssuedDeviceSetup {
        try await RequestOrigin.$clientIP.withValue(ip) {
            try await s.h.accounts.createDeviceSetup(account: s.alice, session: s.session, kind: .apple, name: name, protocols: nil)
        }
    }

    static func texts(_ h: CoreHarness) async throws -> [String] {
        try await h.test.store.pendingOutbox(limit: 200).compactMap { message in
            message.sealed.flatMap { try? h.notices.open($0, id: message.id).text }
        }
    }

    @Test("a link makes its app password when opened, once, and the notice names both addresses", arguments: StoreKind.allCases)
    func redeem(kind: StoreKind) async throws {
        let s = try await Self.signedIn(kind: kind)
        defer { Task { await s.h.test.close() } }
        let issued = try await Self.link(s)
        #expect(issued.token.count == 43 && DeviceSetupToken.isWellFormed(issued.token))
        #expect(issued.setup.protocols == [.imap, .smtp] && issued.setup.createdFrom == "198.51.100.1")
        #expect(issued.setup.expiresAt == s.h.clock.now.addingTimeInterval(600))
        #expect(try await s.h.accounts.listAppPasswords(account: s.alice).isEmpty, "nothing exists before the link is opened")

        s.h.clock.advance(30)
        let redeemed = try await s.h.accounts.redeemDeviceSetup(token: issued.token, clientIP: "203.0.113.5")
        #expect(redeemed.account.id == s.alice.id && redeemed.setup.usedFrom == "203.0.113.5")
        #expect(redeemed.appPassword.record.name == "iPhone" && redeemed.appPassword.record.protocols == [.imap, .smtp])
        #expect(await s.h.login(s.alice.username, redeemed.appPassword.password)
            == .decided(.allow(accountID: s.alice.id, username: s.alice.username, credential: .appPassword(id: redeemed.appPassword.record.id))))
        await #expect(throws: PosternError.deviceSetupGone) { _ = try await s.h.accounts.redeemDeviceSetup(token: issued.token, clientIP: nil) }

        let notice = try #require(try await Self.texts(s.h).first { $0.contains("device link") })
        #expect(notice.contains("opened from 203.0.113.5") && notice.contains("asked from 198.51.100.1"))
        let listed = try await s.h.accounts.listDeviceSetups(account: s.alice)
        #expect(listed.map(\.setup.id) == [issued.setup.id] && listed[0].setup.appPasswordID == redeemed.appPassword.record.id)
        #expect(listed[0].state == .used)
    }

    @Test("a taken name gets a number; the app-password limit leaves the link waiting")
    func namesAndLimit() async throws {
        let s = try await Self.signedIn(policy: AccountPolicy(appPasswordLimit: 3))
        defer { Task { await s.h.test.close() } }
        _ = try await s.h.accounts.createAppPassword(account: s.alice, name: "iPhone", protocols: nil, expiresAt: nil)
        let second = try await s.h.accounts.redeemDeviceSetup(token: try await Self.link(s).token, clientIP: nil)
        let third = try await s.h.accounts.redeemDeviceSetup(token: try await Self.link(s).token, clientIP: nil)
        #expect([second, third].map(\.appPassword.record.name) == ["iPhone (2)", "iPhone (3)"])
        let full = try await Self.link(s)
        await #expect(throws: PosternError.appPasswordLimit(3)) { _ = try await s.h.accounts.redeemDeviceSetup(token: full.token, clientIP: nil) }
        #expect(try await s.h.accounts.listDeviceSetups(account: s.alice).first { $0.setup.id == full.setup.id }?.state == .pending)
        let long = String(repeating: "x", count: 64)
        #expect(AccountService.freeName(long, taken: [long]).count == 64)
    }

    @Test("making a link needs a recent sign-in, an Apple device, a good name, and room")
    func creationRules() async throws {
        let s = try await Self.signedIn()
        defer { Task { await s.h.test.close() } }
        await #expect(throws: PosternError.self) {
            _ = try await s.h.accounts.createDeviceSetup(account: s.alice, session: s.session, kind: .thunderbird, name: "TB", protocols: nil)
        }
        await #expect(throws: PosternError.self) { _ = try await Self.link(s, name: " ") }
        await #expect(throws: PosternError.self, "a profile sets up mail: imap and smtp") {
            _ = try await s.h.accounts.createDeviceSetup(account: s.alice, session: s.session, kind: .apple, name: "Pad", protocols: ["imap", "xmpp"])
        }
        let chat = try await s.h.accounts.createDeviceSetup(account: s.alice, session: s.session, kind: .apple, name: "Pad",
                                                            protocols: ["imap", "smtp", "xmpp"])
        #expect(chat.setup.protocols == [.imap, .smtp, .xmpp])
        for index in 0..<4 { _ = try await Self.link(s, name: "Phone \(index)") }
        await #expect(throws: PosternError.deviceSetupLimit(5)) { _ = try await Self.link(s) }
        await #expect(throws: PosternError.invalidRequest("That is not a setup link.")) {
            _ = try await s.h.accounts.redeemDeviceSetup(token: "short", clientIP: nil)
        }
        await #expect(throws: PosternError.deviceSetupGone) {
            _ = try await s.h.accounts.redeemDeviceSetup(token: DeviceSetupToken.generate(), clientIP: nil)
        }
        s.h.clock.advance(11 * 60)
        await #expect(throws: PosternError.reauthenticationRequired) { _ = try await Self.link(s) }
    }

    @Test("a link expires after 10 minutes")
    func expiry() async throws {
        let s = try await Self.signedIn()
        defer { Task { await s.h.test.close() } }
        let early = try await Self.link(s)
        let late = try await Self.link(s)
        s.h.clock.advance(599)
        _ = try await s.h.accounts.redeemDeviceSetup(token: early.token, clientIP: nil)
        s.h.clock.advance(1)
        await #expect(throws: PosternError.deviceSetupGone) { _ = try await s.h.accounts.redeemDeviceSetup(token: late.token, clientIP: nil) }
        #expect(try await s.h.accounts.listDeviceSetups(account: s.alice).map(\.setup.id) == [early.setup.id], "an expired, unused link is not listed")
    }

    @Test("cancel, a password change, a reset, revoking every app password (owner or administrator), signing out everywhere, disabling and an MFA reset each end waiting links",
          arguments: ["cancel", "password change", "reset", "revoke all", "admin revoke all", "end sessions", "disable", "reset mfa"])
    func revocation(path: String) async throws {
        let s = try await Self.signedIn()
        defer { Task { await s.h.test.close() } }
        let admin = AdminService(accounts: s.h.accounts, store: s.h.test.store)
        let issued = try await Self.link(s)
        switch path {
        case "cancel":
            try await s.h.accounts.cancelDeviceSetup(account: s.alice, id: issued.setup.id)
            await #expect(throws: PosternError.notFound) { try await s.h.accounts.cancelDeviceSetup(account: s.alice, id: issued.setup.id) }
        case "password change":
            try await s.h.accounts.changePassword(account: s.alice, current: Self.password, new: "a whole new passphrase", keepingSession: nil)
        case "reset":
            await s.h.accounts.requestPasswordReset(username: s.alice.username)
            let token = try #require(try await Self.texts(s.h).compactMap { text in
                text.range(of: "/reset?token=").map { String(text[$0.upperBound...].prefix { !$0.isWhitespace }) }
            }.first)
            try await s.h.accounts.completePasswordReset(token: token, newPassword: "a whole new passphrase", otp: nil, recoveryCode: nil)
        case "revoke all": try await s.h.accounts.revokeAllAppPasswords(account: s.alice)
        case "admin revoke all": try await admin.perform(.revokeAppPasswords, on: s.alice.username, by: .commandLine)
        case "end sessions": try await admin.perform(.endSessions, on: s.alice.username, by: .commandLine)
        case "disable": try await admin.perform(.disable, on: s.alice.username, by: .commandLine)
        default: try await admin.perform(.resetMFA, on: s.alice.username, by: .commandLine)
        }
        await #expect(throws: PosternError.deviceSetupGone) { _ = try await s.h.accounts.redeemDeviceSetup(token: issued.token, clientIP: nil) }
        #expect(try await s.h.test.store.listAppPasswords(accountID: s.alice.id).isEmpty)
        #expect(try await s.h.test.store.deviceSetup(tokenDigest: issued.setup.tokenDigest)?.cancelledAt != nil)
    }
}
