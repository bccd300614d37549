import Crypto
import Foundation

/// A protocol that a mail or chat server asks about.
public enum LoginProtocol: String, Sendable, CaseIterable, Codable, Hashable {
    case imap, pop3, smtp, xmpp, other

    /// Maps a server's service name ("imap", "submission", "pop", "c2s"…) to a
    /// protocol, or nil when it is unknown.
    public init?(serviceName: String) {
        switch serviceName.lowercased() {
        case "imap", "imaps": self = .imap
        case "pop3", "pop", "pop3s": self = .pop3
        case "smtp", "smtps", "submission", "submissions", "smtpd": self = .smtp
        case "xmpp", "c2s", "jabber": self = .xmpp
        case "other": self = .other
        default: return nil
        }
    }
}

/// Application-specific passwords: generation, normalisation and the keyed
/// digest that is all the store ever keeps.
public enum AppPasswordFormat {
    public static let length = 12
    public static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    public static let maximumNameLength = 64

    /// A new password: 12 characters of `a-z0-9` from the system CSPRNG
    /// (about 62 bits).
    public static func generate() -> String {
        Secrets.randomString(length: length, alphabet: alphabet)
    }

    /// `abcd efgh ijkl`: how the password is shown to a person.
    public static func grouped(_ password: String) -> String {
        var out = ""
        for (index, character) in password.enumerated() {
            if index > 0, index % 4 == 0 { out.append(" ") }
            out.append(character)
        }
        return out
    }

    /// The canonical form of user input, or nil if it cannot be an app
    /// password: spaces removed, lower-cased, then exactly 12 of `a-z0-9`.
    public static func normalise(_ input: String) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        for byte in input.utf8 {
            switch byte {
            case UInt8(ascii: " "): continue
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): out.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): out.append(byte + 32)
            default: return nil
            }
            if out.count > length { return nil }
        }
        return out.count == length ? String(decoding: out, as: UTF8.self) : nil
    }

    /// `HMAC-SHA256(key, accountID ‖ 0x00 ‖ normalised)`: the only form stored.
    /// The separator keeps account id and password from running together.
    public static func digest(normalised: String, accountID: String, keys: KeyRing) -> Data {
        var message = Data(accountID.utf8)
        message.append(0)
        message.append(contentsOf: normalised.utf8)
        return Data(HMAC<SHA256>.authenticationCode(for: message, using: keys.appPasswordKey))
    }

    /// Checks an app-password (or security-key) name: 1–64 characters after
    /// trimming, no control characters, and no `"`, `'`, `<` or `>` joined with
    /// other code points into one character — a combining mark (Unicode
    /// categories Mn, Mc, Me) right after it, or anything else that extends it.
    /// Such a pair looks like one character to a person but is a bare quote or
    /// bracket to an HTML parser. Returns the trimmed name.
    public static func validName(_ raw: String) throws(PosternError) -> String {
        let name = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        if name.isEmpty { throw .invalidAppPasswordName("Give the app password a name, such as \u{201C}Thunderbird on laptop\u{201D}.") }
        if name.count > maximumNameLength { throw .invalidAppPasswordName("Use a name of at most \(maximumNameLength) characters.") }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format && $0 != "\u{200D}" }) {
            throw .invalidAppPasswordName("The name must not contain control characters.")
        }
        let guarded: Set<Unicode.Scalar> = ["\"", "'", "<", ">"]
        if name.contains(where: { $0.unicodeScalars.count > 1 && $0.unicodeScalars.contains(where: guarded.contains) }) {
            throw .invalidAppPasswordName(
                "The name must not have an accent or other combining mark right after a quote or an angle bracket (\" ' < >).")
        }
        return name
    }

    /// Parses a protocol scope. nil or empty means every protocol.
    public static func scope(_ raw: [String]?) throws(PosternError) -> Set<LoginProtocol> {
        guard let raw, !raw.isEmpty else { return Set(LoginProtocol.allCases) }
        var out = Set<LoginProtocol>()
        for name in raw {
            guard let value = LoginProtocol(rawValue: name.lowercased()) else {
                throw .invalidProtocols("Unknown protocol \u{201C}\(name.prefix(32))\u{201D}. Use imap, pop3, smtp, xmpp or other.")
            }
            out.insert(value)
        }
        return out
    }
}
