import Foundation

/// An account name: an email-style address such as `alice@example.org`.
///
/// Mail servers pass usernames as clients typed them, so names are compared
/// case-insensitively: the canonical form is Unicode NFC, lower-cased, with
/// surrounding white space removed.
public struct Username: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public static let maximumLength = 254

    /// Fails with `PosternError.invalidUsername` unless `raw` is `local@domain`
    /// with no white space or control characters, at most 254 bytes.
    public init(_ raw: String) throws(PosternError) {
        guard let value = Username.canonical(raw) else { throw .invalidUsername }
        self.value = value
    }

    /// The domain of a canonical username (after the last "@").
    public static func domain(of username: String) -> String {
        username.split(separator: "@").last.map(String.init) ?? username
    }

    /// The canonical form, or nil when `raw` is not a valid username.
    public static func canonical(_ raw: String) -> String? {
        if let ascii = canonicalASCII(raw) { return ascii }
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        let value = trimmed.precomposedStringWithCanonicalMapping.lowercased()
        guard !value.isEmpty, value.utf8.count <= maximumLength else { return nil }
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        for scalar in value.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .format || scalar == ":" {
                return nil
            }
        }
        // The domain needs at least one label and no empty ones.
        let domain = parts[1]
        guard !domain.hasPrefix("."), !domain.hasSuffix("."), !domain.contains("..") else { return nil }
        return value
    }

    /// The common case without Unicode tables: printable ASCII with no space
    /// or colon, where normalising is the identity and lower-casing is ASCII's.
    /// Nil when the name is not such (the full rules then decide); the same
    /// answer as the full rules otherwise.
    static func canonicalASCII(_ raw: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        var ats = 0
        for byte in raw.utf8 {
            guard byte > 0x20, byte < 0x7F, byte != UInt8(ascii: ":") else { return nil }
            if byte == UInt8(ascii: "@") { ats += 1 }
            bytes.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
        }
        guard ats == 1, bytes.count <= maximumLength, let at = bytes.firstIndex(of: UInt8(ascii: "@")),
              at > 0, at < bytes.count - 1 else { return nil }
        let domain = bytes[(at + 1)...]
        guard domain.first != UInt8(ascii: "."), domain.last != UInt8(ascii: "."),
              !zip(domain, domain.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A name as a mail or chat server passed it, with `defaultDomain` added
    /// when it has no domain of its own (`alice` → `alice@example.org`).
    public static func qualified(_ raw: String, defaultDomain: String?) -> String {
        guard let defaultDomain, !raw.contains("@") else { return raw }
        return raw + "@" + defaultDomain
    }

    public var description: String { value }
}
