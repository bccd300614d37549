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

    /// The canonical form, or nil when `raw` is not a valid username.
    public static func canonical(_ raw: String) -> String? {
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

    /// A name as a mail or chat server passed it, with `defaultDomain` added
    /// when it has no domain of its own (`alice` → `alice@example.org`).
    public static func qualified(_ raw: String, defaultDomain: String?) -> String {
        guard let defaultDomain, !raw.contains("@") else { return raw }
        return raw + "@" + defaultDomain
    }

    public var description: String { value }
}
