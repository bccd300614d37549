import Foundation

// What the operator's console reads and writes: the admin log, the overview
// of a rollout, and the list of users. The rules are in `AdminService`.

/// Something an administrator did to an account (or the command line did).
public enum AdminAction: String, Sendable, CaseIterable, Codable {
    case disable
    case enable
    case resetMFA = "reset_mfa"
    case revokeAppPassword = "revoke_app_password"
    case revokeAppPasswords = "revoke_app_passwords"
    case endSessions = "end_sessions"
    case sendReset = "send_reset"
    case grantAdmin = "grant_admin"
    case revokeAdmin = "revoke_admin"

    /// How the admin log and the confirmation page say it.
    public var phrase: String {
        switch self {
        case .disable: "disable the account"
        case .enable: "enable the account"
        case .resetMFA: "remove every second factor"
        case .revokeAppPassword: "revoke an app password"
        case .revokeAppPasswords: "revoke every app password"
        case .endSessions: "end every portal and API session"
        case .sendReset: "send a password-reset email"
        case .grantAdmin: "make an administrator"
        case .revokeAdmin: "remove the administrator role"
        }
    }
}

/// One line of the admin log: who did what to whom, when, from where. It is
/// written in the transaction of the change it records (`AuditEvent.adminLog`).
public struct AdminLogEntry: Sendable, Equatable {
    public var id: String
    public var at: Date
    /// The administrator's account; nil for the command line.
    public var adminID: String?
    /// The administrator's name, or "command line".
    public var adminUsername: String
    public var action: AdminAction
    public var targetID: String?
    public var targetUsername: String?
    /// What exactly (an app password's name), never a secret.
    public var detail: String?
    public var clientIP: String?

    public init(id: String? = nil, at: Date, adminID: String?, adminUsername: String, action: AdminAction, targetID: String?,
                targetUsername: String?, detail: String? = nil, clientIP: String? = nil) {
        self.id = id ?? Secrets.newTimeOrderedIdentifier(at: at)
        self.at = at
        self.adminID = adminID
        self.adminUsername = adminUsername
        self.action = action
        self.targetID = targetID
        self.targetUsername = targetUsername
        self.detail = detail
        self.clientIP = clientIP
    }

    /// The name the command line is logged under.
    public static let commandLine = "command line"
}

/// What an MFA rollout needs to know, read by `AdminStore.adminOverview`.
public struct AdminOverview: Sendable, Equatable {
    public struct Domain: Sendable, Equatable {
        public var domain: String
        public var accounts: Int
        public var withMFA: Int
        public init(domain: String, accounts: Int, withMFA: Int) {
            self.domain = domain
            self.accounts = accounts
            self.withMFA = withMFA
        }
    }

    /// A client still logging in with the account password: the people to
    /// help before MFA is required.
    public struct AccountPasswordClient: Sendable, Equatable {
        public var username: String
        public var loginProtocol: LoginProtocol
        public var clientIP: String?
        public var lastAt: Date
        public var logins: Int
        public init(username: String, loginProtocol: LoginProtocol, clientIP: String?, lastAt: Date, logins: Int) {
            self.username = username
            self.loginProtocol = loginProtocol
            self.clientIP = clientIP
            self.lastAt = lastAt
            self.logins = logins
        }
    }

    public struct StaleAppPassword: Sendable, Equatable {
        public var username: String
        public var id: String
        public var name: String
        public var createdAt: Date
        /// Nil: never used.
        public var lastUsedAt: Date?
        public init(username: String, id: String, name: String, createdAt: Date, lastUsedAt: Date?) {
            self.username = username
            self.id = id
            self.name = name
            self.createdAt = createdAt
            self.lastUsedAt = lastUsedAt
        }
    }

    public struct ReasonCount: Sendable, Equatable {
        public var reason: String
        public var count: Int
        public init(reason: String, count: Int) {
            self.reason = reason
            self.count = count
        }
    }

    /// Protocol logins and portal/API sign-ins in one hour.
    public struct Hour: Sendable, Equatable {
        public var start: Date
        public var allowed: Int
        public var refused: Int
        public init(start: Date, allowed: Int, refused: Int) {
            self.start = start
            self.allowed = allowed
            self.refused = refused
        }
    }

    /// Accounts, and those with a second factor, at the end of a day.
    public struct Day: Sendable, Equatable {
        public var end: Date
        public var accounts: Int
        public var withMFA: Int
        public init(end: Date, accounts: Int, withMFA: Int) {
            self.end = end
            self.accounts = accounts
            self.withMFA = withMFA
        }
    }

    /// The window of `accountPasswordClients` (7 or 30 days).
    public var days: Int
    public var domains: [Domain]
    public var accountPasswordClients: [AccountPasswordClient]
    /// Active app passwords unused (or never used) for more than 90 days.
    public var staleAppPasswords: [StaleAppPassword]
    /// Refusals in the last 24 hours, by reason, most first.
    public var refusals: [ReasonCount]
    /// The last 7 days, hour by hour, oldest first (168 hours).
    public var hours: [Hour]
    /// The last 30 days, day by day, oldest first.
    public var adoption: [Day]
    /// Sources this instance is slowing down now (the pacing is per instance).
    public var slowedSources: [SlowedSource] = []

    /// `domains`: every domain; the overview keeps the largest `AdminOverviewQueries.rows`.
    public init(days: Int, domains: [Domain], accountPasswordClients: [AccountPasswordClient], staleAppPasswords: [StaleAppPassword],
                refusals: [ReasonCount], hours: [Hour], adoption: [Day]) {
        self.days = days
        self.domains = domains
        accounts = domains.reduce(0) { $0 + $1.accounts }
        accountsWithMFA = domains.reduce(0) { $0 + $1.withMFA }
        self.accountPasswordClients = accountPasswordClients
        self.staleAppPasswords = staleAppPasswords
        self.refusals = refusals
        self.hours = hours
        self.adoption = adoption
        self.domains = Array(domains.sorted { ($1.accounts, $0.domain) < ($0.accounts, $1.domain) }.prefix(AdminOverviewQueries.rows))
    }

    /// Every account, and those with a second factor (`domains` lists at
    /// most `AdminOverviewQueries.rows` of them, the largest first).
    public var accounts: Int = 0
    public var accountsWithMFA: Int = 0

    /// How long stale is.
    public static let staleAfter: TimeInterval = 90 * 86_400
}

/// A source the throttle is slowing down: an address or a network.
public struct SlowedSource: Sendable, Equatable {
    /// "203.0.113.7", "198.51.100.0/24", "2001:db8::/64"…
    public var source: String
    public var failures: Int
    /// No attempt from it is checked before this time.
    public var until: Date
    public init(source: String, failures: Int, until: Date) {
        self.source = source
        self.failures = failures
        self.until = until
    }
}

/// One account as the users list shows it.
public struct AdminUserSummary: Sendable, Equatable {
    public var id: String
    public var username: String
    public var disabled: Bool
    public var isAdmin: Bool
    public var mfaEnabled: Bool
    /// Active (not revoked) app passwords.
    public var appPasswords: Int
    public var lastSignInAt: Date?
    public var lastProtocolLoginAt: Date?
    public init(id: String, username: String, disabled: Bool, isAdmin: Bool, mfaEnabled: Bool, appPasswords: Int,
                lastSignInAt: Date?, lastProtocolLoginAt: Date?) {
        self.id = id
        self.username = username
        self.disabled = disabled
        self.isAdmin = isAdmin
        self.mfaEnabled = mfaEnabled
        self.appPasswords = appPasswords
        self.lastSignInAt = lastSignInAt
        self.lastProtocolLoginAt = lastProtocolLoginAt
    }
}

/// One account as the user page shows it: kinds and names of its factors,
/// never a secret.
public struct AdminUserDetail: Sendable {
    public var summary: AdminUserSummary
    public var hasTOTP: Bool
    public var securityKeys: [String]
    public var unusedRecoveryCodes: Int
    /// Active app passwords (digests are not secrets, but are not shown).
    public var appPasswords: [AppPasswordRecord]
    public var activity: [ActivityEntry]
}

/// What the console needs from persistence, besides the other stores.
public protocol AdminStore: Sendable {
    /// Sets or clears the administrator role. False when there is no such account.
    func setAdmin(accountID: String, _ admin: Bool, audit: AuditEvent) async throws -> Bool
    /// Ends every portal and API session of the account and writes `audit`,
    /// in one transaction. Returns how many.
    func endSessions(accountID: String, audit: AuditEvent) async throws -> Int
    /// A page of the admin log, newest first: entries strictly older than
    /// `before` (time, then id).
    func adminLog(before: AuditCursor?, limit: Int) async throws -> [AdminLogEntry]
    /// Accounts whose username contains `query` (case-insensitively; all
    /// when nil or empty), ordered by username, after `after`.
    func adminUsers(matching query: String?, after: String?, limit: Int) async throws -> [AdminUserSummary]
    /// One account's summary, or nil.
    func adminUser(id: String) async throws -> AdminUserSummary?
    /// The rollout overview as of `now`, with account-password clients of
    /// the last `days` days.
    func adminOverview(now: Date, days: Int) async throws -> AdminOverview
}
