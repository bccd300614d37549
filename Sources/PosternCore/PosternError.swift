/// Errors the core reports to its callers. Each has a stable `code` (what API
/// clients match on) and a `message` a person can act on. Adapters map them to
/// their protocol; none carries a secret.
public enum PosternError: Error, Equatable, Sendable {
    case invalidUsername
    case weakPassword(String)
    case usernameTaken
    case signupClosed
    case invalidCredentials
    case otpRequired
    case invalidCode
    case totpAlreadyEnabled
    case totpNotPending
    case totpNotEnabled
    case invalidAppPasswordName(String)
    case appPasswordNameTaken
    case appPasswordLimit(Int)
    case invalidProtocols(String)
    case invalidExpiry
    case notFound
    case invalidRequest(String)
    case securityKeyRejected
    case securityKeyTaken
    case reauthenticationRequired
    case invalidResetToken
    /// Too many failed attempts; try again after this many seconds.
    case throttled(Int)
    /// Too many wrong second factors for the account this hour: codes from
    /// the authenticator app are refused; keys and recovery codes still work.
    case secondFactorLocked
    /// Only administrators may do this.
    case forbidden
    /// This needs a second factor set up first (an administrator's console).
    case mfaSetupRequired
    /// An administrator cannot remove their last second factor.
    case adminNeedsFactor
    /// The account has as many live device-setup links as it may.
    case deviceSetupLimit(Int)
    /// A device-setup link that is unknown, used, cancelled or expired.
    case deviceSetupGone

    /// For refusals that end by themselves, how many seconds until they do
    /// (an HTTP 429's `Retry-After`); nil for every other error.
    public var retryAfter: Int? {
        switch self {
        case .throttled(let seconds): seconds
        case .secondFactorLocked: 3600
        default: nil
        }
    }

    /// `throttled` with a wait in seconds, rounded up to at least one.
    public static func throttled(seconds: Double) -> PosternError {
        .throttled(max(1, Int(seconds.rounded(.up))))
    }

    public var code: String {
        switch self {
        case .invalidUsername: "invalid_username"
        case .weakPassword: "weak_password"
        case .usernameTaken: "username_taken"
        case .signupClosed: "signup_closed"
        case .invalidCredentials: "invalid_credentials"
        case .otpRequired: "otp_required"
        case .invalidCode: "invalid_code"
        case .totpAlreadyEnabled: "totp_already_enabled"
        case .totpNotPending: "totp_not_pending"
        case .totpNotEnabled: "totp_not_enabled"
        case .invalidAppPasswordName: "invalid_name"
        case .appPasswordNameTaken: "name_taken"
        case .appPasswordLimit: "app_password_limit"
        case .invalidProtocols: "invalid_protocols"
        case .invalidExpiry: "invalid_expires_at"
        case .notFound: "not_found"
        case .invalidRequest: "invalid_request"
        case .securityKeyRejected: "security_key_rejected"
        case .securityKeyTaken: "security_key_taken"
        case .reauthenticationRequired: "reauthentication_required"
        case .invalidResetToken: "invalid_reset_token"
        case .throttled: "too_many_attempts"
        case .secondFactorLocked: "second_factor_locked"
        case .forbidden: "forbidden"
        case .mfaSetupRequired: "mfa_setup_required"
        case .adminNeedsFactor: "admin_needs_second_factor"
        case .deviceSetupLimit: "device_setup_limit"
        case .deviceSetupGone: "device_setup_gone"
        }
    }

    public var message: String {
        switch self {
        case .invalidUsername: "The username must be an address like alice@example.org."
        case .weakPassword(let reason): reason
        case .usernameTaken: "That username is already taken."
        case .signupClosed: "Sign-up is closed on this server. Ask an administrator for an account."
        case .invalidCredentials: "The username or password is incorrect."
        case .otpRequired: "Enter the current code from your authenticator app."
        case .invalidCode: "That code is not valid. Enter the current code from your authenticator app."
        case .totpAlreadyEnabled: "An authenticator app is already set up. Turn it off first to set up another."
        case .totpNotPending: "Start setting up an authenticator app first."
        case .totpNotEnabled: "No authenticator app is set up."
        case .invalidAppPasswordName(let reason): reason
        case .appPasswordNameTaken: "You already have an app password with that name."
        case .appPasswordLimit(let limit): "You have reached the limit of \(limit) app passwords. Revoke one you no longer use."
        case .invalidProtocols(let reason): reason
        case .invalidExpiry: "expires_at must be a future date-time in ISO 8601 form, such as 2027-01-31T00:00:00Z."
        case .notFound: "Not found."
        case .invalidRequest(let reason): reason
        case .securityKeyRejected: "The security key's answer could not be verified. Try again."
        case .securityKeyTaken: "That security key is already registered."
        case .reauthenticationRequired: "This change needs a recent sign-in. Sign in again to confirm it's you."
        case .invalidResetToken: "This reset link is invalid, used or expired. Ask for a new one."
        case .throttled(let seconds): "Too many attempts. Wait \(seconds) second\(seconds == 1 ? "" : "s") and try again."
        case .secondFactorLocked:
            "Too many wrong codes for this account. Codes from the authenticator app are refused for up to an hour; use a security key or a recovery code."
        case .forbidden: "Only administrators may do this."
        case .mfaSetupRequired: "Set up two-step sign-in (an authenticator app or a security key) before using the administrator console."
        case .adminNeedsFactor: "Administrators keep a second factor. Add another authenticator app or security key first, or have the administrator role removed."
        case .deviceSetupLimit(let limit):
            "You have \(limit) setup links waiting to be opened. Open or cancel one first; each works for 10 minutes."
        case .deviceSetupGone: "This link was already used or has expired."
        }
    }
}

/// Errors a store reports. `unavailable` means "try again later" and must reach
/// protocol clients as a temporary failure, never as a denial.
public enum StoreError: Error, Equatable, Sendable {
    /// A uniqueness rule was violated; the associated value names it.
    case conflict(String)
    /// The database could not be reached or failed; retrying may succeed.
    case unavailable(String)
    /// The database refused the data itself (a byte it cannot store, a
    /// number out of range): retrying will not help, and the database is fine.
    case rejected(String)
}
