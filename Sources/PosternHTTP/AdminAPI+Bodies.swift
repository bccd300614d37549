import Foundation
import PosternCore

// The admin API's response bodies, JSON in snake_case. Optional fields are
// written as null rather than left out, so every documented key is always
// there. None of them has a field that could carry a secret or a digest.
extension AdminAPI {
    // MARK: - Overview

    struct OverviewBody: Encodable {
        let overview: AdminOverview

        enum CodingKeys: String, CodingKey {
            case accounts, accountsWithMfa, days, domains, accountPasswordClients, staleAppPasswords
            case refusals = "refusals_24h"
            case hourly, adoption, slowedSources
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(overview.accounts, forKey: .accounts)
            try c.encode(overview.accountsWithMFA, forKey: .accountsWithMfa)
            try c.encode(overview.days, forKey: .days)
            try c.encode(overview.domains.map(Domain.init), forKey: .domains)
            try c.encode(overview.accountPasswordClients.map(PasswordClient.init), forKey: .accountPasswordClients)
            try c.encode(overview.staleAppPasswords.map(StaleAppPassword.init), forKey: .staleAppPasswords)
            try c.encode(overview.refusals.map { Refusals(reason: $0.reason, count: $0.count) }, forKey: .refusals)
            try c.encode(overview.hours.map { Hour(start: $0.start, allowed: $0.allowed, refused: $0.refused) }, forKey: .hourly)
            try c.encode(overview.adoption.map { Day(end: $0.end, accounts: $0.accounts, accountsWithMfa: $0.withMFA) }, forKey: .adoption)
            try c.encode(overview.slowedSources.map { Slowed(source: $0.source, failures: $0.failures, until: $0.until) }, forKey: .slowedSources)
        }
    }

    struct Domain: Encodable {
        let domain: String
        let accounts: Int
        let accountsWithMfa: Int
        init(_ domain: AdminOverview.Domain) {
            self.domain = domain.domain
            accounts = domain.accounts
            accountsWithMfa = domain.withMFA
        }
    }

    struct PasswordClient: Encodable {
        let client: AdminOverview.AccountPasswordClient
        enum CodingKeys: String, CodingKey { case username, `protocol`, clientIp, lastAt, logins }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(client.username, forKey: .username)
            try c.encode(client.loginProtocol.rawValue, forKey: .protocol)
            try c.encode(client.clientIP, forKey: .clientIp)
            try c.encode(client.lastAt, forKey: .lastAt)
            try c.encode(client.logins, forKey: .logins)
        }
    }

    struct StaleAppPassword: Encodable {
        let stale: AdminOverview.StaleAppPassword
        enum CodingKeys: String, CodingKey { case username, id, name, createdAt, lastUsedAt }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(stale.username, forKey: .username)
            try c.encode(stale.id, forKey: .id)
            try c.encode(stale.name, forKey: .name)
            try c.encode(stale.createdAt, forKey: .createdAt)
            try c.encode(stale.lastUsedAt, forKey: .lastUsedAt)
        }
    }

    struct Refusals: Encodable {
        let reason: String
        let count: Int
    }

    struct Hour: Encodable {
        let start: Date
        let allowed: Int
        let refused: Int
    }

    struct Day: Encodable {
        let end: Date
        let accounts: Int
        let accountsWithMfa: Int
    }

    struct Slowed: Encodable {
        let source: String
        let failures: Int
        let until: Date
    }

    // MARK: - Users

    /// One account in the list, and the head of its page.
    struct UserSummary: Encodable {
        let summary: AdminUserSummary
        enum CodingKeys: String, CodingKey {
            case username, disabled, admin, mfaEnabled, appPasswords, lastSignInAt, lastProtocolLoginAt
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try encodeFields(&c)
            try c.encode(summary.appPasswords, forKey: .appPasswords)
        }
        /// Every field but `app_passwords`, which the user page replaces with the list.
        func encodeFields(_ c: inout KeyedEncodingContainer<CodingKeys>) throws {
            try c.encode(summary.username, forKey: .username)
            try c.encode(summary.disabled, forKey: .disabled)
            try c.encode(summary.isAdmin, forKey: .admin)
            try c.encode(summary.mfaEnabled, forKey: .mfaEnabled)
            try c.encode(summary.lastSignInAt, forKey: .lastSignInAt)
            try c.encode(summary.lastProtocolLoginAt, forKey: .lastProtocolLoginAt)
        }
    }

    struct UsersPage: Encodable {
        let users: [UserSummary]
        let nextCursor: String?
        enum CodingKeys: String, CodingKey { case users, nextCursor }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(users, forKey: .users)
            try c.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// One account's page: its factors by kind and name, its app passwords
    /// as the owner sees them (no digest), and its recent activity.
    struct UserDetail: Encodable {
        let detail: AdminUserDetail

        struct Factors: Encodable {
            let totp: Bool
            let securityKeys: [String]
            let unusedRecoveryCodes: Int
        }
        enum CodingKeys: String, CodingKey { case factors, appPasswords, activity }

        func encode(to encoder: any Encoder) throws {
            var summary = encoder.container(keyedBy: UserSummary.CodingKeys.self)
            try UserSummary(summary: detail.summary).encodeFields(&summary)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(Factors(totp: detail.hasTOTP, securityKeys: detail.securityKeys, unusedRecoveryCodes: detail.unusedRecoveryCodes),
                         forKey: .factors)
            try c.encode(detail.appPasswords.map(UserAPI.AppPasswordItem.init), forKey: .appPasswords)
            try c.encode(detail.activity.map(UserAPI.ActivityEvent.init), forKey: .activity)
        }
    }

    // MARK: - Admin log

    /// One admin-log line in a JSON page (downloads are `AdminLogExport`'s).
    struct LogEntry: Encodable {
        let entry: AdminLogEntry
        enum CodingKeys: String, CodingKey { case id, at, admin, action, target, detail, clientIp }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(entry.id, forKey: .id)
            try c.encode(entry.at, forKey: .at)
            try c.encode(entry.adminUsername, forKey: .admin)
            try c.encode(entry.action.rawValue, forKey: .action)
            try c.encode(entry.targetUsername, forKey: .target)
            try c.encode(entry.detail, forKey: .detail)
            try c.encode(entry.clientIP, forKey: .clientIp)
        }
    }

    struct LogPage: Encodable {
        let entries: [LogEntry]
        let nextCursor: String?
        enum CodingKeys: String, CodingKey { case entries, nextCursor }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(entries, forKey: .entries)
            try c.encode(nextCursor, forKey: .nextCursor)
        }
    }
}
