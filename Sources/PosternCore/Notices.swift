import Foundation

/// A security notification for an account's owner, written to the outbox in
/// the same transaction as the event that causes it.
///
/// The content is sealed (AES-GCM under the secret-box key, bound to the
/// notice id): a password-reset link is a secret until it is sent, and the
/// outbox holds it only sealed.
public struct Notice: Sendable, Equatable {
    public var id: String
    public var recipient: String
    public var sealed: Data
    /// When set, the store sends this notice only if no notice with the same
    /// key was ever written (decided in the database, so once across instances).
    public var onceKey: String?

    public init(id: String, recipient: String, sealed: Data, onceKey: String?) {
        self.id = id
        self.recipient = recipient
        self.sealed = sealed
        self.onceKey = onceKey
    }
}

/// What a notice says.
public struct NoticeContent: Codable, Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String
}

/// A message in the outbox, as the delivery service sees it.
public struct OutboxMessage: Sendable, Equatable {
    public var id: String
    public var recipient: String
    /// Nil once the message has been sent (the content is not kept).
    public var sealed: Data?
    public var createdAt: Date
    public var attempts: Int
    public var nextAttemptAt: Date
    public var sentAt: Date?
    public var lastError: String?

    public init(id: String, recipient: String, sealed: Data?, createdAt: Date, attempts: Int = 0, nextAttemptAt: Date,
                sentAt: Date? = nil, lastError: String? = nil) {
        self.id = id
        self.recipient = recipient
        self.sealed = sealed
        self.createdAt = createdAt
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.sentAt = sentAt
        self.lastError = lastError
    }

    /// The stable Message-ID: the same on every attempt, so a receiving
    /// server or client can tell a retry from a new message.
    public func messageID(domain: String) -> String { "<\(id)@\(domain)>" }
}

/// Composes the notices Postern sends. Every message says what happened,
/// when, from where and with which client, and what to do if it was not the
/// owner, with a link to the portal page that fixes it.
public struct NoticeComposer: Sendable {
    public let keys: KeyRing
    public let publicURL: String
    public let productName: String

    public init(keys: KeyRing, publicURL: String, productName: String = "Postern") {
        self.keys = keys
        self.publicURL = publicURL
        self.productName = productName
    }

    public func seal(_ content: NoticeContent, id: String) throws -> Data {
        try keys.seal(Array(JSONEncoder().encode(content)), accountID: "notice:" + id)
    }

    public func open(_ sealed: Data, id: String) throws -> NoticeContent {
        try JSONDecoder().decode(NoticeContent.self, from: Data(keys.open(sealed, accountID: "notice:" + id)))
    }

    /// Builds a notice; nil only if sealing failed (never expected).
    func notice(to recipient: String, subject: String, lines: [String], action: (label: String, path: String),
                onceKey: String? = nil) -> Notice? {
        let id = Secrets.newIdentifier()
        let url = publicURL + action.path
        let text = lines.joined(separator: "\n\n") + "\n\n\(action.label):\n\(url)\n\n— \(productName)\n"
        let html = """
            <!doctype html><html><body style="font-family:sans-serif;line-height:1.5">\
            \(lines.map { "<p>\(Self.escape($0))</p>" }.joined())\
            <p><a href="\(Self.escape(url))">\(Self.escape(action.label))</a></p>\
            <p style="color:#666">— \(Self.escape(productName))</p></body></html>
            """
        guard let sealed = try? seal(NoticeContent(subject: subject, text: text, html: html), id: id) else { return nil }
        return Notice(id: id, recipient: recipient, sealed: sealed, onceKey: onceKey)
    }

    static func escape(_ text: String) -> String { HTMLEscaping.escape(text) }

    static func when(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    static func place(_ ip: String?) -> String { ip.map { "from \($0)" } ?? "from an address the server did not pass on" }

    static let notYou = "If this was not you, sign in and secure your account now: change your password and review your app passwords and second factors."

    // MARK: - The notices

    /// A client logged in with an app password: the first time ever, or the
    /// first time from this network (IPv4 /24, IPv6 /48). Once per app
    /// password and network.
    public func appPasswordUsed(recipient: String, appName: String, appID: String, loginProtocol: LoginProtocol,
                                clientIP: String?, network: String, firstUse: Bool, at: Date) -> Notice? {
        let what = firstUse
            ? "The app password \u{201C}\(appName)\u{201D} was used for the first time to access your account."
            : "The app password \u{201C}\(appName)\u{201D} accessed your account from a new network."
        return notice(to: recipient, subject: firstUse ? "A third-party application accessed your account" : "An app password was used from a new network",
                      lines: [what, "When: \(Self.when(at)). Protocol: \(loginProtocol.rawValue.uppercased()). Address: \(clientIP ?? "not passed on by the server").",
                              "If you don't recognise this, revoke the app password: only that client loses access."],
                      action: ("Revoke \u{201C}\(appName)\u{201D} (after signing in)", "/security/app-passwords/\(appID)/revoke"),
                      onceKey: "app-net:\(appID):\(network)")
    }

    /// A mail or chat client gave the account password while MFA is on.
    /// Once per client address and day.
    public func accountPasswordRefused(recipient: String, accountID: String, loginProtocol: LoginProtocol, clientIP: String?, at: Date) -> Notice? {
        let day = Int(at.timeIntervalSince1970 / 86_400)
        return notice(to: recipient, subject: "Your mail client is using your account password",
                      lines: ["A \(loginProtocol.rawValue.uppercased()) client tried to log in \(Self.place(clientIP)) at \(Self.when(at)) with your account password. Because two-factor authentication is on, the account password does not work for mail and chat clients, so the login was refused.",
                              "This is probably why your mail or chat app stopped working. Create an app password for it and enter that instead of your account password."],
                      action: ("Create an app password", "/security"),
                      onceKey: "mfa-password:\(accountID):\(clientIP ?? "-"):\(day)")
    }

    /// A revoked or expired app password keeps being tried from one address.
    public func staleClient(recipient: String, appName: String, appID: String, loginProtocol: LoginProtocol, clientIP: String?, at: Date) -> Notice? {
        notice(to: recipient, subject: "A client is still using a revoked app password",
               lines: ["A \(loginProtocol.rawValue.uppercased()) client \(Self.place(clientIP)) is still trying the app password \u{201C}\(appName)\u{201D}, which no longer works (last seen \(Self.when(at))). It was refused; it does not count against your account.",
                       "Give that client a new app password, or remove the account from it."],
               action: ("Manage app passwords", "/security"),
               onceKey: "stale:\(appID):\(clientIP ?? "-")")
    }

    /// Open connections could not be closed on a server after every retry.
    /// Once per order.
    public func sessionsNotEnded(recipient: String, server: String, orderID: String, at: Date) -> Notice? {
        notice(to: recipient, subject: "Open connections could not be closed",
               lines: ["After a change to your account at \(Self.when(at)), we could not close open connections on \(server); they end when the app next reconnects.",
                       "New logins with the revoked credentials are already refused."],
               action: ("Review your account's security", "/security"),
               onceKey: "sessions-not-ended:\(orderID)")
    }

    /// Someone got past the first step (the password, or a reset link) but
    /// kept failing the second. Once an hour per account.
    public func secondFactorFailures(recipient: String, accountID: String, addresses: [String], at: Date) -> Notice? {
        let hour = Int(at.timeIntervalSince1970 / 3600)
        let places = addresses.isEmpty ? "an address the server did not see" : addresses.joined(separator: ", ")
        return notice(to: recipient, subject: "Someone entered your password but failed the second step",
                      lines: ["Someone entered your password correctly (or opened a password-reset link sent to you) but then gave wrong codes for your second factor, most recently at \(Self.when(at)).",
                              "Addresses used: \(places).",
                              "Your account is still protected by your second factor. If this was not you, your password is known to someone else: change it now, and check your app passwords."],
                      action: ("Change your password", "/security"),
                      onceKey: "2fa-failures:\(accountID):\(hour)")
    }

    public enum Change: Sendable, Equatable {
        case appPasswordCreated(name: String)
        /// Made by opening a device-setup link: the notice names both ends,
        /// since whoever opened the link need not be whoever asked for it.
        case appPasswordCreatedByLink(name: String, askedFrom: String?)
        case appPasswordRevoked(name: String)
        case allAppPasswordsRevoked(count: Int)
        case totpEnabled, totpDisabled
        case securityKeyAdded(name: String), securityKeyRemoved
        case recoveryCodesGenerated
        case recoveryCodeUsed(remaining: Int)
        case passwordChanged, passwordReset
    }

    /// A change to the account's credentials, made in the portal or the API.
    public func change(_ change: Change, recipient: String, clientIP: String?, at: Date) -> Notice? {
        let subject: String
        let what: String
        switch change {
        case .appPasswordCreated(let name): (subject, what) = ("New app password created", "A new app password \u{201C}\(name)\u{201D} was created for your account.")
        case .appPasswordCreatedByLink(let name, let askedFrom):
            (subject, what) = ("New app password created",
                               "A new app password \u{201C}\(name)\u{201D} was created for your account, set up through a device link opened \(Self.place(clientIP)) (asked \(Self.place(askedFrom))).")
        case .appPasswordRevoked(let name): (subject, what) = ("App password revoked", "The app password \u{201C}\(name)\u{201D} was revoked. The client using it can no longer log in.")
        case .allAppPasswordsRevoked(let count): (subject, what) = ("All app passwords revoked", "All \(count) app passwords of your account were revoked.")
        case .totpEnabled: (subject, what) = ("Two-factor authentication turned on", "An authenticator app was set up for your account. Mail and chat clients now need app passwords.")
        case .totpDisabled: (subject, what) = ("Authenticator app removed", "The authenticator app was removed from your account.")
        case .securityKeyAdded(let name): (subject, what) = ("Security key added", "The security key \u{201C}\(name)\u{201D} was added to your account.")
        case .securityKeyRemoved: (subject, what) = ("Security key removed", "A security key was removed from your account.")
        case .recoveryCodesGenerated: (subject, what) = ("New recovery codes", "A new set of recovery codes was generated; the old codes no longer work.")
        case .recoveryCodeUsed(let remaining): (subject, what) = ("A recovery code was used", "A recovery code was used to sign in. \(remaining) unused code\(remaining == 1 ? "" : "s") remain\(remaining == 1 ? "s" : "").")
        case .passwordChanged: (subject, what) = ("Your password was changed", "The password of your account was changed. Your other sessions were signed out.")
        case .passwordReset: (subject, what) = ("Your password was reset", "The password of your account was reset by email. All sessions were signed out.")
        }
        return notice(to: recipient, subject: subject, lines: [what, "When: \(Self.when(at)), \(Self.place(clientIP)).", Self.notYou],
                      action: ("Review your account's security", "/security"))
    }

    /// What an administrator did to the account (the console or the command
    /// line). A reset email is its own notice; the others say what changed.
    public func administrator(_ action: AdminAction, detail: String?, recipient: String, at: Date) -> Notice? {
        let (subject, what): (String, String) = switch action {
        case .disable: ("Your account was disabled", "An administrator disabled your account. Mail, chat and the portal refuse it until it is enabled again.")
        case .enable: ("Your account was enabled", "An administrator enabled your account again.")
        case .resetMFA: ("Two-factor authentication was removed", "An administrator removed the authenticator app, security keys and recovery codes of your account. Set up two-factor authentication again.")
        case .revokeAppPassword: ("App password revoked", "An administrator revoked the app password \u{201C}\(detail ?? "?")\u{201D}. The client using it can no longer log in.")
        case .revokeAppPasswords: ("All app passwords revoked", "An administrator revoked every app password of your account. Your mail and chat clients need new ones.")
        case .endSessions: ("You were signed out", "An administrator ended every portal and API session of your account.")
        case .sendReset: ("Password reset sent", "An administrator sent you a password-reset email.")
        case .grantAdmin: ("You are now an administrator", "Your account was made an administrator of this server. The console needs two-step sign-in.")
        case .revokeAdmin: ("Administrator role removed", "Your account is no longer an administrator of this server.")
        }
        return notice(to: recipient, subject: subject, lines: [what, "When: \(Self.when(at)), by an administrator of this server.", Self.notYou],
                      action: ("Review your account's security", "/security"))
    }

    /// The password-reset email. The link holds the token; the outbox holds it sealed.
    /// `byAdministrator`: an administrator sent it; it says so, without their address.
    public func passwordResetLink(recipient: String, token: String, validFor: TimeInterval, clientIP: String?, at: Date,
                                  byAdministrator: Bool = false) -> Notice? {
        let who = byAdministrator
            ? "An administrator of this server sent you a link to reset the password of \(recipient) at \(Self.when(at))."
            : "Someone (hopefully you) asked to reset the password of \(recipient) at \(Self.when(at)), \(Self.place(clientIP))."
        return notice(to: recipient, subject: "Reset your password",
               lines: [who,
                       "The link below works once, for \(Int(validFor / 60)) minutes. If your account uses two-factor authentication you will also need your authenticator app, a security key or a recovery code.",
                       "If you did not ask for this, ignore this message: your password stays as it is."],
               action: ("Set a new password", "/reset?token=\(token)"))
    }
}
