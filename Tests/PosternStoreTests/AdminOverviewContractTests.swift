import Foundation
import PosternCore
import Testing
@testable import PosternSQL

/// The rollout overview's queries, on every store, with every window
/// measured from an injected `now`: what falls just inside a window is
/// counted and what falls just outside is not.
@Suite("Store contract: the rollout overview")
struct AdminOverviewContractTests {
    typealias T = AdminStoreContractTests
    static var now: Date { T.now }
    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86_400

    static func make(_ store: any PosternStore, _ name: String, createdDaysAgo: Double = 100) async throws -> Account {
        var account = Fixture.account(name)
        account.createdAt = now.addingTimeInterval(-createdDaysAgo * day)
        try await store.createAccount(account, audit: Fixture.audit(account.id))
        return account
    }

    @Test("clients on account passwords: allowed account-password logins in the window, grouped by protocol and address",
          arguments: StoreKind.allCases)
    func accountPasswordClients(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let tb = try await Self.make(store, "thunderbird@example.org")
            let other = try await Self.make(store, "other@example.org")
            try await store.recordLogins(lastUses: [], events: [
                T.login(tb, .allow, ago: 2 * Self.hour), T.login(tb, .allow, ago: 3 * Self.day),
                T.login(tb, .allow, proto: .smtp, ip: "198.51.100.24", ago: 6 * Self.day),
                T.login(tb, .allow, proto: .pop3, ago: 8 * Self.day),  // only in the 30-day window
                T.login(tb, .allow, proto: .xmpp, ago: 31 * Self.day),  // in neither
                T.login(other, .allow, credential: "app_password", ago: Self.hour),  // an app password: fine already
                T.login(other, .deny, reason: "app_password_required", ago: Self.hour),  // refused: not a working client
            ])
            let week = try await store.adminOverview(now: Self.now, days: 7)
            #expect(week.accountPasswordClients.map(\.loginProtocol) == [.imap, .smtp])
            let imap = try #require(week.accountPasswordClients.first)
            #expect(imap.username == "thunderbird@example.org" && imap.clientIP == "198.51.100.23" && imap.logins == 2)
            #expect(imap.lastAt == Self.now.addingTimeInterval(-2 * Self.hour))
            #expect(week.accountPasswordClients[1].clientIP == "198.51.100.24")
            let month = try await store.adminOverview(now: Self.now, days: 30)
            #expect(month.accountPasswordClients.map(\.loginProtocol) == [.imap, .smtp, .pop3])
        }
    }

    @Test("stale app passwords: active ones unused (or never used) for more than 90 days", arguments: StoreKind.allCases)
    func stale(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let ann = try await Self.make(store, "ann@example.org")
            func app(_ name: String, createdDaysAgo: Double, usedDaysAgo: Double? = nil, expiresInDays: Double? = nil) async throws -> AppPasswordRecord {
                var record = Fixture.appPassword(ann, name: name, expiresAt: expiresInDays.map { Self.now.addingTimeInterval($0 * Self.day) })
                record.createdAt = Self.now.addingTimeInterval(-createdDaysAgo * Self.day)
                try await store.createAppPassword(record, limit: 50, audit: Fixture.audit(ann.id))
                if let usedDaysAgo {
                    try await store.recordLogins(lastUses: [LastUse(appPasswordID: record.id, at: Self.now.addingTimeInterval(-usedDaysAgo * Self.day),
                                                                    clientIP: "192.0.2.1", loginProtocol: .imap)], events: [])
                }
                return record
            }
            let never = try await app("Never used", createdDaysAgo: 100)
            let old = try await app("Old phone", createdDaysAgo: 150, usedDaysAgo: 91)
            _ = try await app("Laptop", createdDaysAgo: 150, usedDaysAgo: 10)
            _ = try await app("New", createdDaysAgo: 89)
            _ = try await app("Expired", createdDaysAgo: 100, expiresInDays: -1)
            let revoked = try await app("Revoked", createdDaysAgo: 100)
            _ = try await store.revokeAppPassword(accountID: ann.id, id: revoked.id, at: Self.now, audit: Fixture.audit(ann.id))
            let stale = try await store.adminOverview(now: Self.now, days: 7).staleAppPasswords
            #expect(stale.map(\.id) == [never.id, old.id], "the longest unused first (creation counts as a use)")
            #expect(stale[0].lastUsedAt == nil && stale[1].lastUsedAt == Self.now.addingTimeInterval(-91 * Self.day))
            #expect(stale.allSatisfy { $0.username == "ann@example.org" })
        }
    }

    @Test("refusals of the last 24 hours by reason; logins per hour over 7 days", arguments: StoreKind.allCases)
    func refusalsAndHours(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let ann = try await Self.make(store, "ann@example.org")
            try await store.recordLogins(lastUses: [], events: [
                T.login(ann, .deny, reason: "wrong_password", ago: 60), T.login(ann, .deny, reason: "wrong_password", ago: 23 * Self.hour),
                T.login(ann, .deny, reason: "app_password_required", ago: 2 * Self.hour),
                T.login(ann, .deny, reason: "invalid_password:sign_in", ago: 2 * Self.hour, kind: .signIn),
                T.login(ann, .deny, reason: "wrong_password", ago: 25 * Self.hour),  // outside the day
                T.login(ann, .allow, ago: 60), T.login(ann, .allow, ago: 60, kind: .signIn),
                T.login(ann, .allow, ago: 170 * Self.hour),  // before the chart's first hour
                AuditEvent(accountID: ann.id, kind: .passwordChanged, result: .deny, reason: "not a login", at: Self.now),
            ])
            let overview = try await store.adminOverview(now: Self.now, days: 7)
            #expect(overview.refusals == [AdminOverview.ReasonCount(reason: "wrong_password", count: 2),
                                          AdminOverview.ReasonCount(reason: "app_password_required", count: 1),
                                          AdminOverview.ReasonCount(reason: "invalid_password:sign_in", count: 1)])
            #expect(overview.hours.count == 168)
            #expect(overview.hours.last?.start == Date(timeIntervalSince1970: (Self.now.timeIntervalSince1970 / 3600).rounded(.down) * 3600))
            #expect(zip(overview.hours, overview.hours.dropFirst()).allSatisfy { $1.start.timeIntervalSince($0.start) == 3600 })
            #expect(overview.hours.reduce(0) { $0 + $1.allowed } == 2)
            #expect(overview.hours.reduce(0) { $0 + $1.refused } == 5)
            let lastHour = try #require(overview.hours.first { $0.start <= Self.now.addingTimeInterval(-60) && Self.now.addingTimeInterval(-60) < $0.start.addingTimeInterval(3600) })
            #expect(lastHour.allowed == 2 && lastHour.refused >= 1)
        }
    }

    @Test("adoption by domain now, and over 30 days from when accounts and their first factors were made", arguments: StoreKind.allCases)
    func adoption(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            let ann = try await Self.make(store, "ann@example.org", createdDaysAgo: 40)
            _ = try await Self.make(store, "bob@example.org", createdDaysAgo: 40)
            let cy = try await Self.make(store, "cy@example.net", createdDaysAgo: 10.5)
            _ = try await store.savePendingTOTP(Fixture.totp(ann))
            _ = try await store.confirmTOTP(accountID: ann.id, sealedSecret: Fixture.pendingSecret, step: 1,
                                            at: Self.now.addingTimeInterval(-5.5 * Self.day), audit: Fixture.audit(ann.id))
            let key = SecurityKey(credentialID: Data(Secrets.randomBytes(16)), accountID: cy.id, name: "Key", publicKey: Data([1]), algorithm: -7,
                                  signCount: 0, createdAt: Self.now.addingTimeInterval(-2.5 * Self.day))
            try await store.addSecurityKey(key, audit: Fixture.audit(cy.id))
            let overview = try await store.adminOverview(now: Self.now, days: 7)
            #expect(overview.domains == [AdminOverview.Domain(domain: "example.org", accounts: 2, withMFA: 1),
                                         AdminOverview.Domain(domain: "example.net", accounts: 1, withMFA: 1)], "the largest first")
            #expect(overview.accounts == 3 && overview.accountsWithMFA == 2)
            let days = overview.adoption
            #expect(days.count == 30)
            #expect(days.last.map { $0.end > Self.now && $0.end.timeIntervalSince(Self.now) <= Self.day } == true)
            func at(_ daysAgo: Double) -> AdminOverview.Day? { days.first { $0.end > Self.now.addingTimeInterval(-daysAgo * Self.day) } }
            #expect(days.first?.accounts == 2 && days.first?.withMFA == 0)
            #expect(at(8)?.accounts == 3 && at(8)?.withMFA == 0)
            #expect(at(4)?.withMFA == 1)
            #expect(days.last?.accounts == 3 && days.last?.withMFA == 2)
        }
    }
}
