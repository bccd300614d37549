import Crypto
import Foundation

/// A one-time link that sets up one device: opened on the phone, it makes a
/// fresh app password and hands it over inside a configuration profile.
///
/// The link carries a 256-bit token; the store keeps only its keyed digest.
/// Nothing is made when the link is created: the app password exists only
/// once the link is opened, so a link never opened leaves nothing behind.
public struct DeviceSetup: Sendable, Equatable {
    /// The client the link is for. Only `apple` gets a link today (the
    /// others take an app password typed in by hand), but the kind is kept
    /// so the list can say what each link was for.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case apple, thunderbird, outlook, other

        /// The protocols an app password for this client needs, when the
        /// owner does not choose: mail clients read and send mail; "other"
        /// is anything, so it gets every protocol like an app password does.
        public var defaultProtocols: Set<LoginProtocol> {
            switch self {
            case .apple, .thunderbird, .outlook: [.imap, .smtp]
            case .other: Set(LoginProtocol.allCases)
            }
        }
    }

    /// Where a link stands at a moment, for the list.
    public enum State: String, Sendable, Codable {
        case pending, used, expired, cancelled
    }

    public var id: String
    public var accountID: String
    public var kind: Kind
    /// The device's name; the app password is named after it.
    public var name: String
    /// The scope the app password gets.
    public var protocols: Set<LoginProtocol>
    /// `HMAC-SHA256(K_setup, token)`: all the store keeps of the token.
    public var tokenDigest: Data
    public var createdAt: Date
    public var expiresAt: Date
    /// The address the link was asked for from.
    public var createdFrom: String?
    public var usedAt: Date?
    /// The address the link was opened from.
    public var usedFrom: String?
    /// The app password the link made, once used.
    public var appPasswordID: String?
    public var cancelledAt: Date?

    public init(id: String, accountID: String, kind: Kind, name: String, protocols: Set<LoginProtocol>, tokenDigest: Data,
                createdAt: Date, expiresAt: Date, createdFrom: String?, usedAt: Date? = nil, usedFrom: String? = nil,
                appPasswordID: String? = nil, cancelledAt: Date? = nil) {
        self.id = id
        self.accountID = accountID
        self.kind = kind
        self.name = name
        self.protocols = protocols
        self.tokenDigest = tokenDigest
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.createdFrom = createdFrom
        self.usedAt = usedAt
        self.usedFrom = usedFrom
        self.appPasswordID = appPasswordID
        self.cancelledAt = cancelledAt
    }

    /// Used wins over cancelled and expired: a used link made a password,
    /// and that is what the owner needs to see.
    public func state(at now: Date) -> State {
        if usedAt != nil { return .used }
        if cancelledAt != nil { return .cancelled }
        return now < expiresAt ? .pending : .expired
    }
}

/// The link's token: its shape, and the digest the store keeps.
public enum DeviceSetupToken {
    /// 32 bytes from the system CSPRNG in base64url without padding.
    public static let length = 43

    public static func generate() -> String {
        Base64URL.encode(Secrets.randomBytes(32))
    }

    /// Whether `text` could be a token at all: exactly 43 base64url
    /// characters. Anything else is refused before the store is asked.
    public static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"): true
            default: false
            }
        }
    }

    /// Keyed rather than a plain hash, like app passwords: the database
    /// alone cannot tell which token a row belongs to.
    public static func digest(_ token: String, keys: KeyRing) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: keys.deviceSetupKey))
    }
}

/// A link just made: the record, and the token that goes into its URL
/// (shown once, never stored).
public struct IssuedDeviceSetup: Sendable {
    public var setup: DeviceSetup
    public var token: String
}

/// What opening a link gives: the new app password (its only showing), the
/// link as now used, and the account it belongs to.
public struct RedeemedDeviceSetup: Sendable {
    public var appPassword: IssuedAppPassword
    public var setup: DeviceSetup
    public var account: Account
}

/// A link as the owner's list shows it: the record and where it stands.
public struct ListedDeviceSetup: Sendable, Equatable {
    public var setup: DeviceSetup
    public var state: DeviceSetup.State
}
