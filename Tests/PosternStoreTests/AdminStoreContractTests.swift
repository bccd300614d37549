import Foundation
import PosternCore
import Testing
@testable import PosternSQL

/// The operator's console's reads and writes: part of the contract every
/// store meets. Every window is measured from an injected `now`.
@Suite("Store contract: administrators, the admin log, the overview")
struct AdminStoreContractTests {
    static let now = Fixture.t0.addingTimeInterval(200 * 86_400)
    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86_400

    static func login(_ account: Account, _ result: AuditEvent.Outcome, credential: String = "account_password", proto: LoginProtocol = .imap,
                      ip: String = "198.51.100.23", reason: String? = nil, ago: TimeInterval, kind: AuditEvent.Kind = .protocolLogin) -> AuditEvent {
        AuditEvent(accountID: account.id, kind: kind, result: result, reason: reason, loginProtocol: kind == .protocolLogin ? proto : nil,
                   credential: kind == .protocolLogin ? credential : nil, clientIP: ip, at: now.addingTimeInterval(-ago))
    }

    static func adminEvent(_ account: Account, _ action: AdminAction, at: Date, kind: AuditEvent.Kind = .adminGranted) -> AuditEvent {
        var event = AuditEvent(accountID: account.id, kind: kind, result: .ok, at: at).byAdministrator(true)
        event.adminLog = AdminLogEntry(at: at, adminID: nil, adminUsername: AdminLogEntry.commandLine, action: action, targetID: account.id,
                                       targetUsername: account.username, detail: "d", clientIP: "192.0.2.9")
        return event
    }

    @Test("the role is set with its event and admin-log line; the log pages newest first; a failed write leaves no line",
          arguments: StoreKind.allCases)
    func roleAndLog(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            for offset in 0..<5 {
                let granted = try await store.setAdmin(accountID: alice.id, offset % 2 == 0,
                                                       audit: Self.adminEvent(alice, offset % 2 == 0 ? .grantAdmin : .revokeAdmin,
                                                                              at: Fixture.t0.addingTimeInterval(Double(offset))))
                #expect(granted)
            }
            #expect(try await store.account(id: alice.id)?.isAdmin == true)
            #expect(try await store.account(username: alice.username)?.isAdmin == true)
            #expect(try await store.setAdmin(accountID: "nobody", true, audit: Self.adminEvent(alice, .grantAdmin, at: Fixture.t0)) == false)

            let first = try await store.adminLog(before: nil, limit: 3)
            #expect(first.map(\.action) == [.grantAdmin, .revokeAdmin, .grantAdmin])
            #expect(first[0].at == Fixture.t0.addingTimeInterval(4) && first[0].targetUsername == alice.username && first[0].clientIP == "192.0.2.9")
            #expect(first[0].adminUsername == AdminLogEntry.commandLine && first[0].adminID == nil && first[0].detail == "d")
            let rest = try await store.adminLog(before: AuditCursor(at: first[2].at, id: first[2].id), limit: 3)
            #expect(rest.count == 2 && Set(rest.map(\.id)).isDisjoint(with: first.map(\.id)))

            let events = try await store.auditEvents(accountID: alice.id, before: nil, kinds: [.adminGranted], limit: 10)
            #expect(events.count == 5 && events.allSatisfy(\.byAdministrator))
            #expect(try await store.auditEvents(accountID: alice.id, before: nil, kinds: [.protocolLogin], limit: 1).first?.byAdministrator == false)

            // The same audit id again: the write fails, and takes its line with it.
            var clash = Self.adminEvent(alice, .revokeAdmin, at: Fixture.t0.addingTimeInterval(9))
            clash.id = events[0].id
            await #expect(throws: StoreError.self) { _ = try await store.setAdmin(accountID: alice.id, false, audit: clash) }
            #expect(try await store.adminLog(before: nil, limit: 10).count == 5)
            #expect(try await store.account(id: alice.id)?.isAdmin == true)
        }
    }

    @Test("ending sessions removes every one of the account's, writes the event, and leaves others'", arguments: StoreKind.allCases)
    func endSessions(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let alice = Fixture.account()
            let bob = Fixture.account("bob@example.org")
            try await store.createAccount(alice, audit: Fixture.audit(alice.id))
            try await store.createAccount(bob, audit: Fixture.audit(bob.id))
            for owner in [alice, alice, bob] {
                let session = Session(tokenDigest: Data(Secrets.randomBytes(32)), accountID: owner.id, createdAt: Fixture.t0,
                                      expiresAt: Fixture.t0.addingTimeInterval(3600), authenticatedAt: Fixture.t0)
                try await store.createSession(session, audit: Fixture.audit(owner.id, .signIn))
            }
            #expect(try await store.endSessions(accountID: alice.id, audit: Self.adminEvent(alice, .endSessions, at: Fixture.t0,
                                                                                          kind: .sessionsRevoked)) == 2)
            #expect(try await store.deleteSessions(accountID: bob.id, keeping: nil) == 1, "bob's session was kept")
            #expect(try await store.adminLog(before: nil, limit: 5).map(\.action) == [.endSessions])
            #expect(try await store.auditEvents(accountID: alice.id, before: nil, kinds: [.sessionsRevoked], limit: 5).count == 1)
        }
    }

    @Test("users: matched by any part of the name (wildcards are text), paged by name, with their summary", arguments: StoreKind.allCases)
    func users(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            var made: [Account] = []
            for name in ["ann@example.org", "bob@example.org", "cy@example.net", "d_n@example.org", "eve@other.test"] {
                let account = Fixture.account(name)
                try await store.createAccount(account, audit: Fixture.audit(account.id))
                made.append(account)
            }
            #expect(try await store.adminUsers(matching: "example.org", after: nil, limit: 10).map(\.username)
                    == ["ann@example.org", "bob@example.org", "d_n@example.org"])
            #expect(try await store.adminUsers(matching: "EXAMPLE.NET", after: nil, limit: 10).map(\.username) == ["cy@example.net"])
            #expect(try await store.adminUsers(matching: "_", after: nil, limit: 10).map(\.username) == ["d_n@example.org"])
            #expect(try await store.adminUsers(matching: "%", after: nil, limit: 10).isEmpty)
            let first = try await store.adminUsers(matching: nil, after: nil, limit: 2)
            let second = try await store.adminUsers(matching: "", after: first.last?.username, limit: 2)
            #expect(first.map(\.username) + second.map(\.username) == ["ann@example.org", "bob@example.org", "cy@example.net", "d_n@example.org"])

            let ann = made[0]
            let phone = Fixture.appPassword(ann)
            try await store.createAppPassword(phone, limit: 10, audit: Fixture.audit(ann.id))
            let tablet = Fixture.appPassword(ann, name: "Tablet")
            try await store.createAppPassword(tablet, limit: 10, audit: Fixture.audit(ann.id))
            _ = try await store.revokeAppPassword(accountID: ann.id, id: tablet.id, at: Fixture.t0, audit: Fixture.audit(ann.id))
            _ = try await store.savePendingTOTP(Fixture.totp(ann))
            _ = try await store.confirmTOTP(accountID: ann.id, sealedSecret: Fixture.pendingSecret, step: 1, at: Fixture.t0, audit: Fixture.audit(ann.id))
            _ = try await store.setDisabled(accountID: ann.id, true, audit: Fixture.audit(ann.id))
            _ = try await store.setAdmin(accountID: ann.id, true, audit: Fixture.audit(ann.id))
            try await store.recordLogins(lastUses: [], events: [
                Self.login(ann, .allow, ago: 5 * Self.hour, kind: .signIn), Self.login(ann, .allow, ago: 9 * Self.hour, kind: .signIn),
                Self.login(ann, .deny, ago: Self.hour, kind: .signIn),
                Self.login(ann, .allow, ago: 3 * Self.hour), Self.login(ann, .deny, ago: 2 * Self.hour),
            ])
            let summary = try #require(try await store.adminUser(id: ann.id))
            #expect(summary.username == "ann@example.org" && summary.disabled && summary.isAdmin && summary.mfaEnabled)
            #expect(summary.appPasswords == 1, "the revoked one is not counted")
            #expect(summary.lastSignInAt == Self.now.addingTimeInterval(-5 * Self.hour), "the newest allowed sign-in")
            #expect(summary.lastProtocolLoginAt == Self.now.addingTimeInterval(-3 * Self.hour))
            let bob = try #require(try await store.adminUser(id: made[1].id))
            #expect(!bob.isAdmin && !bob.mfaEnabled && bob.appPasswords == 0 && bob.lastSignInAt == nil && bob.lastProtocolLoginAt == nil)
            #expect(try await store.adminUser(id: "nobody") == nil)
        }
    }
}
