import Foundation

/// Why a protocol login was refused. Internal: recorded in the audit log and
/// in metrics, never shown to the client, which sees one generic message.
public enum DenialReason: String, Sendable, CaseIterable {
    case unknownUser = "unknown_user"
    case wrongPassword = "wrong_password"
    case accountDisabled = "account_disabled"
    case appPasswordRequired = "app_password_required"
    case appPasswordRevoked = "app_password_revoked"
    case appPasswordExpired = "app_password_expired"
    case protocolNotInScope = "protocol_not_in_scope"
    /// The source is being paced, or the name is over its hourly cap and the
    /// source never signed in with the account password: refused without
    /// checking the password.
    case throttled = "throttled"
}

/// The credential a protocol login was allowed with.
public enum LoginCredential: Sendable, Equatable {
    case appPassword(id: String)
    case accountPassword

    public var kind: String {
        switch self {
        case .appPassword: "app_password"
        case .accountPassword: "account_password"
        }
    }
}

public enum LoginDecision: Sendable, Equatable {
    case allow(accountID: String, username: String, credential: LoginCredential)
    case deny(DenialReason)
}

/// What is known about one protocol login once the lookups are done.
public struct LoginFacts: Sendable {
    public struct AccountFacts: Sendable {
        public var id: String
        public var username: String
        public var disabled: Bool
        public var mfaEnabled: Bool
        public init(id: String, username: String, disabled: Bool, mfaEnabled: Bool) {
            self.id = id
            self.username = username
            self.disabled = disabled
            self.mfaEnabled = mfaEnabled
        }
    }

    public var account: AccountFacts?
    /// The app password the given password matched, if any.
    public var appPassword: AppPasswordRecord?
    /// True when the given password matched the account password.
    public var accountPasswordMatched: Bool
    /// True when the guard refused to let the account password be checked.
    public var accountPasswordBlocked: Bool = false
    public var loginProtocol: LoginProtocol
    public var now: Date

    public init(account: AccountFacts?, appPassword: AppPasswordRecord?, accountPasswordMatched: Bool,
                loginProtocol: LoginProtocol, now: Date) {
        self.account = account
        self.appPassword = appPassword
        self.accountPasswordMatched = accountPasswordMatched
        self.loginProtocol = loginProtocol
        self.now = now
    }
}

/// The rules for protocol logins (IMAP, POP3, SMTP, XMPP). A pure function of
/// the facts: no lookups, no clock, no side effects.
public enum LoginPolicy {
    public static func decide(_ facts: LoginFacts) -> LoginDecision {
        // Refused before the password was checked: the same for a name with
        // no account, so a refusal never says whether one exists.
        if facts.appPassword == nil, facts.accountPasswordBlocked { return .deny(.throttled) }
        guard let account = facts.account else { return .deny(.unknownUser) }
        if let app = facts.appPassword, app.accountID == account.id {
            if account.disabled { return .deny(.accountDisabled) }
            if app.revokedAt != nil { return .deny(.appPasswordRevoked) }
            if app.isExpired(at: facts.now) { return .deny(.appPasswordExpired) }
            if !app.protocols.contains(facts.loginProtocol) { return .deny(.protocolNotInScope) }
            return .allow(accountID: account.id, username: account.username, credential: .appPassword(id: app.id))
        }
        guard facts.accountPasswordMatched else { return .deny(.wrongPassword) }
        if account.disabled { return .deny(.accountDisabled) }
        if account.mfaEnabled { return .deny(.appPasswordRequired) }
        return .allow(accountID: account.id, username: account.username, credential: .accountPassword)
    }
}
