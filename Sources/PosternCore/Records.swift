import Foundation

/// A person's account.
public struct Account: Sendable, Equatable {
    public var id: String
    /// Canonical form (see `Username`).
    public var username: String
    /// A self-describing hash from a `PasswordHasher`.
    public var passwordHash: String
    public var disabled: Bool
    public var createdAt: Date
    /// True when the account has a confirmed second factor: an authenticator
    /// app or a security key. Recovery codes alone do not count.
    public var mfaEnabled: Bool
    /// May use the operator's console (with a second factor).
    public var isAdmin: Bool

    public init(id: String, username: String, passwordHash: String, disabled: Bool = false, createdAt: Date, mfaEnabled: Bool = false,
                isAdmin: Bool = false) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.disabled = disabled
        self.createdAt = createdAt
        self.mfaEnabled = mfaEnabled
        self.isAdmin = isAdmin
    }
}

/// An authenticator-app enrolment. `confirmedAt` is nil until the user has
/// proved the app works by entering a code; until then it does not count as MFA.
public struct TOTPFactor: Sendable, Equatable {
    public var accountID: String
    /// The secret, sealed with `KeyRing.seal`.
    public var sealedSecret: Data
    public var createdAt: Date
    public var confirmedAt: Date?
    /// The last accepted time step; codes at or before it are refused.
    public var lastStep: Int64?

    public init(accountID: String, sealedSecret: Data, createdAt: Date, confirmedAt: Date? = nil, lastStep: Int64? = nil) {
        self.accountID = accountID
        self.sealedSecret = sealedSecret
        self.createdAt = createdAt
        self.confirmedAt = confirmedAt
        self.lastStep = lastStep
    }
}

/// Where and how an app password was last used.
public struct LastUse: Sendable, Equatable {
    public var appPasswordID: String
    public var at: Date
    public var clientIP: String?
    public var loginProtocol: LoginProtocol

    public init(appPasswordID: String, at: Date, clientIP: String?, loginProtocol: LoginProtocol) {
        self.appPasswordID = appPasswordID
        self.at = at
        self.clientIP = clientIP
        self.loginProtocol = loginProtocol
    }
}

/// An application-specific password as stored: never the password itself.
public struct AppPasswordRecord: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var name: String
    /// `AppPasswordFormat.digest` of the password.
    public var digest: Data
    public var protocols: Set<LoginProtocol>
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUse: LastUse?

    public init(id: String, accountID: String, name: String, digest: Data, protocols: Set<LoginProtocol>,
                createdAt: Date, expiresAt: Date? = nil, revokedAt: Date? = nil, lastUse: LastUse? = nil) {
        self.id = id
        self.accountID = accountID
        self.name = name
        self.digest = digest
        self.protocols = protocols
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUse = lastUse
    }

    public func isExpired(at now: Date) -> Bool { expiresAt.map { $0 <= now } ?? false }
}

/// A signed-in API or portal session. The store keeps only the token's digest.
public struct Session: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A bearer token for the JSON API.
        case api
        /// A browser session behind a cookie: also ends after idle time.
        case portal
    }

    public enum Stage: String, Sendable {
        /// Fully signed in.
        case full
        /// Password checked; waiting for the second factor. Grants nothing else.
        case secondFactor = "second_factor"
    }

    public var tokenDigest: Data
    public var accountID: String
    public var kind: Kind
    public var stage: Stage
    public var createdAt: Date
    public var expiresAt: Date
    /// When the user last proved who they are (password, plus a code with MFA).
    public var authenticatedAt: Date
    /// The last request seen, for the idle timeout of portal sessions.
    public var lastSeenAt: Date
    /// Wrong second-factor codes entered against this session.
    public var failures: Int

    public init(tokenDigest: Data, accountID: String, kind: Kind = .api, stage: Stage = .full, createdAt: Date, expiresAt: Date,
                authenticatedAt: Date, lastSeenAt: Date? = nil, failures: Int = 0) {
        self.tokenDigest = tokenDigest
        self.accountID = accountID
        self.kind = kind
        self.stage = stage
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.authenticatedAt = authenticatedAt
        self.lastSeenAt = lastSeenAt ?? createdAt
        self.failures = failures
    }
}

/// One entry of the audit log: a decision or a change, with its internal
/// reason. Never holds a secret.
public struct AuditEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case protocolLogin = "protocol_login"
        case signIn = "sign_in"
        case signOut = "sign_out"
        case accountCreated = "account_created"
        case passwordChanged = "password_changed"
        case totpEnabled = "totp_enabled"
        case totpDisabled = "totp_disabled"
        case appPasswordCreated = "app_password_created"
        case appPasswordRevoked = "app_password_revoked"
        case accountDisabled = "account_disabled"
        case accountEnabled = "account_enabled"
        case mfaReset = "mfa_reset"
        case securityKeyAdded = "security_key_added"
        case securityKeyRemoved = "security_key_removed"
        case recoveryCodesGenerated = "recovery_codes_generated"
        case recoveryCodeUsed = "recovery_code_used"
        case passwordResetRequested = "password_reset_requested"
        case passwordReset = "password_reset"
        /// An attempt to end open sessions on a mail or chat server.
        case sessionsEnded = "sessions_ended"
        case adminGranted = "admin_granted"
        case adminRevoked = "admin_revoked"
        /// Every portal and API session ended by an administrator.
        case sessionsRevoked = "sessions_revoked"
    }

    /// How the recorded attempt or change ended.
    public enum Outcome: String, Sendable, Codable {
        /// A change that was made.
        case ok
        /// A login or sign-in that was let in.
        case allow
        /// A login, sign-in or proof that was refused.
        case deny
        /// A sign-in whose password was right, waiting for its second factor.
        case secondFactorRequired = "second_factor_required"
        /// An attempt (to end open sessions) that failed and will be tried again.
        case retrying
        /// An attempt that failed for the last time.
        case failed
    }

    public var id: String
    public var accountID: String?
    public var kind: Kind
    public var result: Outcome
    /// The internal reason (`DenialReason` raw value, or a short note).
    public var reason: String?
    public var loginProtocol: LoginProtocol?
    /// "app_password" or "account_password" for protocol logins.
    public var credential: String?
    public var appPasswordID: String?
    public var clientIP: String?
    public var at: Date
    /// Notifications written to the outbox in the same transaction as the event.
    public var notices: [Notice] = []
    /// Orders to end open sessions, queued in the same transaction as the
    /// event (an order whose once-key was used before is dropped).
    public var terminations: [TerminationTask] = []
    /// Made by an administrator (the console or the command line), not the owner.
    public var byAdministrator = false
    /// The admin log's line for the change, written in the same transaction.
    public var adminLog: AdminLogEntry?
    /// Cancels the account's device-setup links that are still waiting, in
    /// the same transaction: set on changes after which a link asked for
    /// earlier must not mint a password (a new password, a reset, every
    /// session ended, the account disabled, its factors reset).
    public var cancelsDeviceSetups = false

    public init(id: String? = nil, accountID: String?, kind: Kind, result: Outcome, reason: String? = nil,
                loginProtocol: LoginProtocol? = nil, credential: String? = nil, appPasswordID: String? = nil,
                clientIP: String? = nil, at: Date) {
        self.id = id ?? Secrets.newTimeOrderedIdentifier(at: at)
        self.accountID = accountID
        self.kind = kind
        self.result = result
        self.reason = reason
        self.loginProtocol = loginProtocol
        self.credential = credential
        self.appPasswordID = appPasswordID
        self.clientIP = clientIP
        self.at = at
    }
}

extension AuditEvent {
    /// The event, marked as made by an administrator or not.
    public func byAdministrator(_ flag: Bool) -> AuditEvent {
        var event = self
        event.byAdministrator = flag
        return event
    }
}

/// A registered security key or platform authenticator (WebAuthn).
public struct SecurityKey: Sendable, Equatable {
    /// The credential id the authenticator chose.
    public var credentialID: Data
    public var accountID: String
    public var name: String
    /// The COSE public key, as registered.
    public var publicKey: Data
    public var algorithm: Int
    public var signCount: UInt32
    public var createdAt: Date
    public var lastUsedAt: Date?

    public init(credentialID: Data, accountID: String, name: String, publicKey: Data, algorithm: Int, signCount: UInt32,
                createdAt: Date, lastUsedAt: Date? = nil) {
        self.credentialID = credentialID
        self.accountID = accountID
        self.name = name
        self.publicKey = publicKey
        self.algorithm = algorithm
        self.signCount = signCount
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
    }
}

/// A WebAuthn challenge the server issued: single use, short-lived.
public struct Challenge: Sendable, Equatable {
    public enum Purpose: String, Sendable { case registration, authentication }

    public var id: String
    public var accountID: String
    public var purpose: Purpose
    public var bytes: Data
    public var expiresAt: Date

    public init(id: String, accountID: String, purpose: Purpose, bytes: Data, expiresAt: Date) {
        self.id = id
        self.accountID = accountID
        self.purpose = purpose
        self.bytes = bytes
        self.expiresAt = expiresAt
    }
}

/// One recovery code as stored: a salted keyed hash, never the code.
public struct RecoveryCodeRecord: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var salt: Data
    public var hash: Data
    public var usedAt: Date?

    public init(id: String, accountID: String, salt: Data, hash: Data, usedAt: Date? = nil) {
        self.id = id
        self.accountID = accountID
        self.salt = salt
        self.hash = hash
        self.usedAt = usedAt
    }
}

/// A password-reset request: only the token's digest is stored.
public struct PasswordReset: Sendable, Equatable {
    public var tokenDigest: Data
    public var accountID: String
    public var createdAt: Date
    public var expiresAt: Date
    public var usedAt: Date?

    public init(tokenDigest: Data, accountID: String, createdAt: Date, expiresAt: Date, usedAt: Date? = nil) {
        self.tokenDigest = tokenDigest
        self.accountID = accountID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}
