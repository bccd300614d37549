import Foundation
import PosternCore
import Testing

/// The console's rules in the core: who may see and change, and what every
/// change leaves behind (the owner's mail, the owner's activity, the admin log).
@Suite("Admin service")
struct AdminServiceTests {
    static let password = "violet staple orbit"

    struct Setup {
        let h: CoreHarness
        let admin: AdminService
        let boss: Account
        let enrolment: TOTPEnrolment
        let user: Account
        var actor: AdminActor { AdminActor(boss, clientIP: "192.0.2.9") }
    }

    static func setup(kind: StoreKind = .memory) async throws -> Setup {
        let h = try await CoreHarness(kind: kind)
        let admin = AdminService(accounts: h.accounts, store: h.test.store)
        let created = try await h.accounts.createAccount(username: "boss@example.org", password: password, byAdministrator: true)
        let user = try await h.accounts.createAccount(username: "tb@example.org", password: password, byAdministrator: true)
        let enrolment = try await h.enableTOTP(created)
        try await admin.perform(.grantAdmin, on: created.username, by: .commandLine)
        return Setup(h: h, admin: admin, boss: try await h.accounts.account(username: created.username), enrolment: enrolment, user: user)
    }

    static func subjects(_ h: CoreHarness, to recipient: String) async throws -> [String] {
        try await h.test.store.pendingOutbox(limit: 200).filter { $0.recipient == recipient }.compactMap { message in
            message.sealed.flatMap { try? h.notices.open($0, id: message.id).subject }
        }
    }

    @Test("only administrators with a second factor see anything; changes need a recent sign-in")
    func whoMay() async throws {
        let s = try await Self.setup()
        #expect(throws: PosternError.forbidden) { try s.admin.authorize(s.user) }
        let plain = try await s.h.accounts.createAccount(username: "new@example.org", password: Self.password, byAdministrator: true)
        await #expect(throws: PosternError.self, "whoever set up the first factor would own the console") {
            try await s.admin.perform(.grantAdmin, on: plain.username, by: s.actor)
        }
        #expect(try await s.h.accounts.account(username: plain.username).isAdmin == false)
        var newAdmin = plain
        newAdmin.isAdmin = true  // as a crash or a hand-edited row could leave it
        #expect(throws: PosternError.mfaSetupRequired) { try s.admin.authorize(newAdmin) }
        try s.admin.authorize(s.boss)

        let (_, session) = try await s.h.accounts.signIn(username: s.boss.username, password: Self.password,
                                                         otp: s.h.code(for: s.enrolment), clientIP: nil)
        try s.admin.authorizeChange(s.boss, session: session)
        s.h.clock.advance(11 * 60)
        #expect(throws: PosternError.reauthenticationRequired) { try s.admin.authorizeChange(s.boss, session: session) }
        var disabled = s.boss
        disabled.disabled = true
        #expect(throws: PosternError.forbidden) { try s.admin.authorize(disabled) }
    }

    @Test("every action mails the owner, shows in their activity as an administrator's, and writes the admin log", arguments: StoreKind.allCases)
    func actions(kind: StoreKind) async throws {
        let s = try await Self.setup(kind: kind)
        let user = s.user.username
        let phone = try await s.h.accounts.createAppPassword(account: s.user, name: "Phone", protocols: nil, expiresAt: nil)
        _ = try await s.h.accounts.createAppPassword(account: s.user, name: "Laptop", protocols: nil, expiresAt: nil)
        _ = try await s.h.enableTOTP(s.user)
        let before = try await Self.subjects(s.h, to: user).count

        try await s.admin.perform(.revokeAppPassword, on: user, appPasswordID: phone.record.id, by: s.actor)
        s.h.clock.advance(1)
        await #expect(throws: PosternError.notFound) { try await s.admin.perform(.revokeAppPassword, on: user, appPasswordID: "nope", by: s.actor) }
        try await s.admin.perform(.revokeAppPasswords, on: user, by: s.actor)
        s.h.clock.advance(1)
        try await s.admin.perform(.endSessions, on: user, by: s.actor)
        s.h.clock.advance(1)
        try await s.admin.perform(.sendReset, on: user, by: s.actor)
        s.h.clock.advance(1)
        await #expect(throws: PosternError.self, "a second link within 10 minutes is refused") {
            try await s.admin.perform(.sendReset, on: user, by: s.actor)
        s.h.clock.advance(1)
        }
        try await s.admin.perform(.resetMFA, on: user, by: s.actor)
        s.h.clock.advance(1)
        try await s.admin.perform(.disable, on: user, by: s.actor)
        s.h.clock.advance(1)
        #expect(await s.h.login(user, Self.password) == .decided(.deny(.accountDisabled)), "a disabled account is refused")
        try await s.admin.perform(.enable, on: user, by: s.actor)
        s.h.clock.advance(1)

        let log = try await s.admin.log(before: nil).entries
        #expect(log.prefix(7).map(\.action) == [.enable, .disable, .resetMFA, .sendReset, .endSessions, .revokeAppPasswords, .revokeAppPassword])
        #expect(log.prefix(7).allSatisfy { $0.adminUsername == "boss@example.org" && $0.adminID == s.boss.id && $0.clientIP == "192.0.2.9" })
        #expect(log.prefix(7).allSatisfy { $0.targetUsername == user })
        #expect(log[6].detail == "Phone")
        #expect(log.last?.action == .grantAdmin && log.last?.adminUsername == AdminLogEntry.commandLine)

        let mails = try await Self.subjects(s.h, to: user).dropFirst(before)
        #expect(Array(mails) == ["App password revoked", "All app passwords revoked", "You were signed out", "Reset your password",
                                 "Two-factor authentication was removed", "Your account was disabled", "Your account was enabled"])
        let activity = try await s.h.accounts.activity(account: s.user, before: nil, categories: [.change], limit: 50).entries.map(\.summary)
        for text in ["revoked app password \u{201C}Phone\u{201D} by an administrator", "revoked all app passwords by an administrator",
                     "every portal and API session ended by an administrator", "password-reset email sent by an administrator",
                     "second factors removed by an administrator", "account disabled by an administrator", "account enabled by an administrator"] {
            #expect(activity.contains(text), "\(text)")
        }
        await s.h.test.close()
    }

    @Test("the role goes with the factors: reset-mfa removes it; an administrator cannot turn off their last factor")
    func roleNeedsFactor() async throws {
        let s = try await Self.setup()
        await #expect(throws: PosternError.adminNeedsFactor) {
            try await s.h.accounts.disableTOTP(account: s.boss, password: Self.password, code: s.h.code(for: s.enrolment))
        }
        #expect(try await s.h.accounts.account(username: s.boss.username).mfaEnabled)
        let other = try await s.h.accounts.createAccount(username: "second@example.org", password: Self.password, byAdministrator: true)
        _ = try await s.h.enableTOTP(other)
        try await s.admin.perform(.grantAdmin, on: other.username, by: s.actor)
        s.h.clock.advance(1)
        try await s.admin.perform(.resetMFA, on: other.username, by: s.actor)
        let after = try await s.h.accounts.account(username: other.username)
        #expect(!after.isAdmin && !after.mfaEnabled)
        #expect(Set(try await s.admin.log(before: nil).entries.prefix(2).map(\.action)) == [.revokeAdmin, .resetMFA])
    }

    @Test("an administrator cannot lock themselves out here; unknown users are not found")
    func selfAndMissing() async throws {
        let s = try await Self.setup()
        for action in [AdminAction.disable, .resetMFA, .revokeAdmin, .endSessions] {
            await #expect(throws: PosternError.self) { try await s.admin.perform(action, on: s.boss.username, by: s.actor) }
        }
        #expect(try await s.h.accounts.account(username: s.boss.username).isAdmin)
        #expect(try await s.h.accounts.account(username: s.boss.username).mfaEnabled)
        await #expect(throws: PosternError.notFound) { try await s.admin.perform(.disable, on: "ghost@example.org", by: s.actor) }
        await #expect(throws: PosternError.notFound) { _ = try await s.admin.user(username: "ghost@example.org") }
        await #expect(throws: PosternError.self) { _ = try await s.admin.overview(days: 8) }
        await #expect(throws: PosternError.self) { _ = try await s.admin.users(query: String(repeating: "a", count: 300), after: nil) }
        await #expect(throws: PosternError.self) { _ = try await s.admin.users(query: "a\u{0}b", after: nil) }
        await #expect(throws: PosternError.self) { _ = try await s.admin.users(query: nil, after: "a\u{0}") }
    }

    @Test("the user page shows factors by kind and name, and the overview lists the throttle's slowed sources")
    func userAndOverview() async throws {
        let s = try await Self.setup()
        let detail = try await s.admin.user(username: s.boss.username)
        #expect(detail.hasTOTP && detail.securityKeys.isEmpty && detail.summary.isAdmin)
        #expect(detail.activity.contains { $0.summary == "made an administrator" })
        for _ in 0..<8 { _ = await s.h.login(s.user.username, "wrong password", ip: "203.0.113.7") }
        let overview = try await s.admin.overview(days: 7)
        #expect(overview.slowedSources.contains { $0.source == "203.0.113.7" && $0.failures >= 6 })
        #expect(overview.slowedSources.allSatisfy { !$0.source.contains("example.org") }, "names are never listed")
    }
}
