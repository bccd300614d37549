import Foundation

// Ending open sessions: which user's sessions, from which addresses, on which
// servers, after a change that must end them. Pure rules over facts; the
// drivers that reach the servers live in PosternApp.

/// Why open sessions must end.
public enum TerminationCause: String, Sendable, Equatable, CaseIterable {
    case appPasswordRevoked = "app_password_revoked"
    case allAppPasswordsRevoked = "all_app_passwords_revoked"
    case accountDisabled = "account_disabled"
    case passwordReset = "password_reset"
    case mfaReset = "mfa_reset"
}

/// A server Postern can tell to end sessions, as the rules see it.
public struct TerminationTarget: Sendable, Equatable {
    /// The driver's name, as in the config: `dovecot`, `ejabberd`, `prosody`.
    public var server: String
    /// The logins its sessions come from.
    public var protocols: Set<LoginProtocol>
    /// Whether it can end only the sessions from given addresses.
    public var endsByAddress: Bool
    /// Where its sessions arrive from when a proxy sits in front (nginx's
    /// mail proxy): the server sees the proxy's address, not the client's.
    public var proxyAddresses: [String]

    public init(server: String, protocols: Set<LoginProtocol>, endsByAddress: Bool, proxyAddresses: [String] = []) {
        self.server = server
        self.protocols = protocols
        self.endsByAddress = endsByAddress
        self.proxyAddresses = proxyAddresses
    }
}

/// One server's order to end one user's sessions: a row of the terminations
/// queue, written in the same transaction as the change that caused it.
public struct TerminationTask: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Waiting for its first or next attempt.
        case pending
        /// The server ended the sessions.
        case done
        /// The last attempt failed; nothing more is tried.
        case failed
    }

    public var id: String
    /// Written once per key: a second order with the same key is dropped.
    public var onceKey: String
    public var server: String
    public var accountID: String
    public var username: String
    /// Only sessions from these addresses; empty means all of the user's.
    public var addresses: [String]
    public var cause: TerminationCause
    public var createdAt: Date
    public var attempts: Int
    public var nextAttemptAt: Date
    public var state: State
    public var lastError: String?

    public init(id: String = Secrets.newIdentifier(), onceKey: String, server: String, accountID: String, username: String,
                addresses: [String], cause: TerminationCause, createdAt: Date, attempts: Int = 0, nextAttemptAt: Date? = nil,
                state: State = .pending, lastError: String? = nil) {
        self.id = id
        self.onceKey = onceKey
        self.server = server
        self.accountID = accountID
        self.username = username
        self.addresses = addresses
        self.cause = cause
        self.createdAt = createdAt
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt ?? createdAt
        self.state = state
        self.lastError = lastError
    }
}

/// How one attempt ended, as the store records it.
public enum TerminationAttempt: Sendable, Equatable {
    case done
    /// Failed; try again at this time.
    case retry(at: Date, error: String)
    /// Failed for the last time.
    case failed(error: String)
}

public enum SessionTermination {
    /// The orders a change makes, one per server that may hold a session it
    /// must end. `revoked` is the one app password revoked for
    /// `.appPasswordRevoked` (its scope picks the servers, its last-used
    /// address the sessions); every other cause ends all of the user's
    /// sessions everywhere. `key` makes the orders unique (the app
    /// password's id, or the change's event id).
    public static func orders(cause: TerminationCause, account: Account, revoked: AppPasswordRecord?, targets: [TerminationTarget],
                              key: String, at: Date) -> [TerminationTask] {
        targets.compactMap { target in
            var addresses: [String] = []
            if cause == .appPasswordRevoked, let revoked {
                guard !target.protocols.isDisjoint(with: revoked.protocols) else { return nil }
                if target.endsByAddress, let ip = revoked.lastUse?.clientIP {
                    addresses = [ip] + target.proxyAddresses.filter { $0 != ip }
                }
            }
            return TerminationTask(onceKey: "\(cause.rawValue):\(key)@\(target.server)", server: target.server,
                                   accountID: account.id, username: account.username, addresses: addresses, cause: cause, createdAt: at)
        }
    }

    /// When to try again after `attempts` failures: `base` doubled each time,
    /// at most an hour; nil once `maximumAttempts` have failed.
    public static func nextAttempt(after attempts: Int, base: TimeInterval, maximumAttempts: Int, now: Date) -> Date? {
        guard attempts < maximumAttempts else { return nil }
        return now.addingTimeInterval(RetryBackoff.delay(afterAttempt: attempts, base: base))
    }

    /// What the account's activity says about one attempt, such as
    /// "dovecot: ended 2 IMAP sessions from 203.0.113.7". `ended` counts the
    /// sessions per protocol when the server said (nil when it did not).
    public static func summary(server: String, addresses: [String], ended: [String: Int]?, error: String?, final: Bool) -> String {
        let from = addresses.isEmpty ? "" : " from " + addresses.joined(separator: ", ")
        if let error {
            return final
                ? "\(server): could not close open connections\(from) (\(error)); they end when the app next reconnects"
                : "\(server): could not close open connections\(from) yet (\(error)); will try again"
        }
        guard let ended else { return "\(server): asked to end the sessions\(from)" }
        let total = ended.values.reduce(0, +)
        if total == 0 { return "\(server): no open sessions\(from)" }
        let parts = ended.sorted { $0.key < $1.key }.filter { $0.value > 0 }.map { name, count in
            "\(count) \(name.uppercased()) session\(count == 1 ? "" : "s")"
        }
        return "\(server): ended \(parts.joined(separator: " and "))\(from)"
    }
}
