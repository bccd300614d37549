import Foundation

/// The account's security events as its owner reads them: the portal's
/// Activity page, `GET /api/v1/activity` and `postern activity` all show
/// these same entries.
public struct ActivityEntry: Sendable, Equatable {
    public enum Category: String, Sendable, CaseIterable {
        case signIn = "sign_in"
        case protocolLogin = "protocol_login"
        case change = "change"
    }

    public var id: String
    public var at: Date
    public var category: Category
    public var kind: String
    public var result: String
    /// Plain language, e.g. "refused: account password used over IMAP while
    /// MFA is on; use an app password".
    public var summary: String
    public var clientIP: String?
    public var loginProtocol: String?
    public var appPasswordID: String?
}

public enum Activity {

    public static func kinds(_ category: ActivityEntry.Category) -> Set<AuditEvent.Kind> {
        switch category {
        case .signIn: [.signIn, .signOut]
        case .protocolLogin: [.protocolLogin]
        case .change:
            [.accountCreated, .passwordChanged, .passwordReset, .passwordResetRequested, .totpEnabled, .totpDisabled,
             .appPasswordCreated, .appPasswordRevoked, .accountDisabled, .accountEnabled, .mfaReset, .securityKeyAdded,
             .securityKeyRemoved, .recoveryCodesGenerated, .recoveryCodeUsed, .sessionsEnded, .adminGranted, .adminRevoked, .sessionsRevoked]
        }
    }

    /// `appNames` maps app-password ids to their names, to say which client it was.
    public static func entry(_ event: AuditEvent, appNames: [String: String]) -> ActivityEntry {
        let category: ActivityEntry.Category = switch event.kind {
        case .signIn, .signOut: .signIn
        case .protocolLogin: .protocolLogin
        default: .change
        }
        return ActivityEntry(id: event.id, at: event.at, category: category, kind: event.kind.rawValue, result: event.result.rawValue,
                             summary: summary(event, appNames: appNames), clientIP: event.clientIP,
                             loginProtocol: event.loginProtocol?.rawValue, appPasswordID: event.appPasswordID)
    }

    static func summary(_ event: AuditEvent, appNames: [String: String]) -> String {
        let proto = event.loginProtocol?.rawValue.uppercased() ?? "a protocol"
        let app = event.appPasswordID.map { "app password \u{201C}\(appNames[$0] ?? event.reason ?? "?")\u{201D}" }
        switch event.kind {
        case .protocolLogin:
            if event.result == .allow {
                return "allowed: \(proto) login with " + (app ?? "the account password")
            }
            switch DenialReason(rawValue: event.reason ?? "") {
            case .appPasswordRequired: return "refused: account password used over \(proto) while MFA is on; use an app password"
            case .appPasswordRevoked: return "refused: \(proto) login with the revoked \(app ?? "app password"); give that client a new one"
            case .appPasswordExpired: return "refused: \(proto) login with the expired \(app ?? "app password")"
            case .protocolNotInScope: return "refused: the \(app ?? "app password") is not allowed for \(proto)"
            case .wrongPassword: return "refused: wrong password over \(proto)"
            case .accountDisabled: return "refused: \(proto) login while the account is disabled"
            case .throttled: return "refused: too many wrong passwords for this account from unknown places; \(proto) login not checked"
            case .unknownUser, .none: return "refused: \(proto) login"
            }
        case .signIn:
            switch event.result {
            case .allow: return "signed in to the portal"
            case .secondFactorRequired: return "password accepted; waiting for the second factor"
            default: return signInRefusal(event.reason)
            }
        case .signOut: return "signed out"
        case .accountCreated: return "account created"
        case .passwordChanged: return "password changed"
        case .passwordResetRequested:
            return event.byAdministrator ? "password-reset email sent by an administrator" : "password reset requested by email"
        case .passwordReset: return "password reset by email; all sessions ended"
        case .totpEnabled: return "authenticator app turned on"
        case .totpDisabled: return "authenticator app turned off"
        case .appPasswordCreated: return "created " + (app ?? "an app password")
        case .appPasswordRevoked:
            let what = event.reason == "all" ? "revoked all app passwords" : "revoked " + (app ?? "an app password")
            return event.byAdministrator ? what + " by an administrator" : what
        case .accountDisabled: return "account disabled by an administrator"
        case .accountEnabled: return "account enabled by an administrator"
        case .mfaReset: return "second factors removed by an administrator"
        case .securityKeyAdded: return "security key \u{201C}\(event.reason ?? "?")\u{201D} added"
        case .securityKeyRemoved: return "security key removed"
        case .recoveryCodesGenerated: return "new recovery codes generated"
        case .recoveryCodeUsed: return "a recovery code was used"
        case .sessionsEnded: return event.reason ?? "open connections ended"
        case .adminGranted: return "made an administrator"
        case .adminRevoked: return "administrator role removed"
        case .sessionsRevoked: return "every portal and API session ended by an administrator"
        }
    }
}

extension Activity {
    /// What a refused sign-in, re-authentication or second step says, from
    /// its reason (`what:door`).
    static func signInRefusal(_ reason: String?) -> String {
        let parts = (reason ?? "").split(separator: ":", maxSplits: 1).map(String.init)
        let door: String = switch CredentialDoor(rawValue: parts.count > 1 ? parts[1] : "") {
        case .signIn: "at sign-in"
        case .secondStep: "at the second step of a sign-in"
        case .reauthentication: "when confirming it's you"
        case .passwordChange: "when changing the password"
        case .totpOff: "when turning the authenticator app off"
        case .resetCompletion: "on a password-reset link"
        case .protocolLogin, .none: ""
        }
        let what: String = switch parts.first {
        case "invalid_second_factor": "wrong second factor"
        case "second_factor_locked": "authenticator code refused: too many wrong codes this hour"
        case "invalid_password": "wrong password"
        case "invalid_credentials": "wrong password"
        default: "sign-in refused"
        }
        return door.isEmpty ? what : "\(what) \(door)"
    }
}

extension AccountService {
    /// A page of the account's activity, newest first, optionally of some
    /// categories. Returns the entries and the cursor of the next page.
    public func activity(account: Account, before: AuditCursor?, categories: Set<ActivityEntry.Category>?, limit: Int)
        async throws -> (entries: [ActivityEntry], next: AuditCursor?) {
        let kinds = categories.map { Set($0.flatMap(Activity.kinds)) }
        let page = max(1, min(limit, 200))
        let events = try await store.auditEvents(accountID: account.id, before: before, kinds: kinds, limit: page)
        var names: [String: String] = [:]
        for app in try await store.listAppPasswords(accountID: account.id) { names[app.id] = app.name }
        let next = events.count == page ? events.last.map { AuditCursor(at: $0.at, id: $0.id) } : nil
        return (events.map { Activity.entry($0, appNames: names) }, next)
    }
}
