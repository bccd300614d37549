import Foundation
import PosternCore

/// How the console names things: its paths, the actions a user page offers,
/// refusal reasons and durations in plain words.
enum AdminWording {
    /// The user page of `username` (encoded: a name may hold `/`, `?` or `#`).
    static func userPath(_ username: String) -> String {
        "/admin/users/" + PortalViews.component(username)
    }

    // MARK: - Actions

    /// The actions a user page offers, in the order it shows them. Granting
    /// and removing the administrator role stay with the command line.
    static let pageActions: [AdminAction] = [.disable, .enable, .resetMFA, .revokeAppPassword, .revokeAppPasswords, .endSessions, .sendReset]

    /// An action's path segment: `reset-mfa`, `revoke-app-password`…
    static func slug(_ action: AdminAction) -> String { action.rawValue.replacingOccurrences(of: "_", with: "-") }

    /// The page action a path segment names, or nil.
    static func action(slug: String) -> AdminAction? {
        pageActions.first { self.slug($0) == slug }
    }

    /// What the confirmation page says will happen, beyond the action's phrase.
    static func consequence(_ action: AdminAction) -> String {
        switch action {
        case .disable: "Every sign-in, mail and chat login is refused, and open sessions are ended, until the account is enabled again."
        case .enable: "The owner can sign in and use their app passwords again."
        case .resetMFA: "The authenticator app, every security key and the recovery codes are removed. Use this when the owner lost them; "
            + "they can sign in with the password alone and set up a new second factor."
        case .revokeAppPassword: "The app using it is signed out and can no longer log in. The owner's other apps are not affected."
        case .revokeAppPasswords: "Every mail and chat app signed in with an app password is signed out and will need a new one."
        case .endSessions: "The owner is signed out of the portal and every API session ends. Mail and chat apps are not affected."
        case .sendReset: "The owner gets an email with a link to choose a new password. You never see the link."
        case .grantAdmin, .revokeAdmin: ""
        }
    }

    /// The confirmation page's question: "Disable the account of bob@example.org?"
    static func question(_ action: AdminAction, _ target: String) -> String {
        let phrase = action.phrase.prefix(1).uppercased() + action.phrase.dropFirst()
        return action == .sendReset ? "\(phrase) to \(target)?" : "\(phrase) of \(target)?"
    }

    /// The button on the confirmation page.
    static func button(_ action: AdminAction) -> String {
        switch action {
        case .disable: "Disable the account"
        case .enable: "Enable the account"
        case .resetMFA: "Remove every second factor"
        case .revokeAppPassword: "Revoke the app password"
        case .revokeAppPasswords: "Revoke every app password"
        case .endSessions: "End every session"
        case .sendReset: "Send the email"
        case .grantAdmin, .revokeAdmin: "Confirm"
        }
    }

    /// The notice on the user page after the action (`?done=<slug>`).
    static func done(_ action: AdminAction) -> String {
        switch action {
        case .disable: "The account was disabled. Its logins are refused and its sessions were ended."
        case .enable: "The account was enabled."
        case .resetMFA: "Every second factor and the recovery codes were removed."
        case .revokeAppPassword: "The app password was revoked."
        case .revokeAppPasswords: "Every app password was revoked."
        case .endSessions: "Every portal and API session was ended."
        case .sendReset: "A password-reset email is on its way to the owner."
        case .grantAdmin, .revokeAdmin: "Done."
        }
    }

    /// Where a change posted to `path` (`/admin/users/NAME/ACTION`) is asked
    /// for again: its confirmation page, or the users list for a path that is
    /// no such change.
    static func confirmationPath(forChange path: String, app: String?) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[1] == "admin", parts[2] == "users", action(slug: String(parts[4])) != nil else { return "/admin/users" }
        var confirm = "/admin/users/\(parts[3])/confirm/\(parts[4])"
        if let app, !app.isEmpty { confirm += "?app=" + PortalViews.component(app) }
        return confirm
    }

    // MARK: - Plain words

    /// A refusal reason as the overview lists it. Protocol logins carry a
    /// `DenialReason`; portal and API sign-ins `what:door`.
    static func refusal(_ reason: String) -> String {
        if let denial = DenialReason(rawValue: reason) {
            return switch denial {
            case .unknownUser: "unknown user"
            case .wrongPassword: "wrong password (mail or chat)"
            case .accountDisabled: "account disabled"
            case .appPasswordRequired: "account password used while MFA is on"
            case .appPasswordRevoked: "revoked app password"
            case .appPasswordExpired: "expired app password"
            case .protocolNotInScope: "app password not allowed for that protocol"
            case .throttled: "throttled (too many failures)"
            }
        }
        let what = reason.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reason
        return switch what {
        case "invalid_credentials", "invalid_password": "wrong password (portal or API)"
        case "invalid_second_factor": "wrong second factor"
        case "second_factor_locked": "second factor locked (too many wrong codes)"
        default: reason
        }
    }

    /// "12 hours", "30 minutes", "0.25 seconds", "30 days".
    static func duration(_ seconds: TimeInterval) -> String {
        func plural(_ n: Double, _ unit: String) -> String {
            let number = n == n.rounded() ? String(Int(n)) : String(format: "%g", n)
            return "\(number) \(unit)\(n == 1 ? "" : "s")"
        }
        if seconds >= 86_400, seconds.truncatingRemainder(dividingBy: 86_400) == 0 { return plural(seconds / 86_400, "day") }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return plural(seconds / 3600, "hour") }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return plural(seconds / 60, "minute") }
        return plural(seconds, "second")
    }
}
