import Crypto
import Foundation

/// Randomness and comparisons for secrets. All randomness comes from the
/// system CSPRNG (`SystemRandomNumberGenerator`, which reads getrandom(2)).
public enum Secrets {
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
        }
        return Array(bytes.prefix(count))
    }

    /// A string of `length` characters drawn uniformly from `alphabet`.
    public static func randomString(length: Int, alphabet: [Character]) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// An identifier of the same shape as `newIdentifier()` whose first six
    /// bytes are the time in milliseconds (big-endian) and the other ten
    /// random: records made close together get ids that share a prefix, so a
    /// busy table's primary-key index grows at a few pages rather than at a
    /// random page per row. For records whose time is no secret (audit events).
    public static func newTimeOrderedIdentifier(at date: Date) -> String {
        let millis = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded()))
        var bytes = (0..<6).map { UInt8(truncatingIfNeeded: millis >> (8 * (5 - $0))) }
        bytes += randomBytes(10)
        return Base32.encode(bytes).lowercased()
    }

    /// An opaque identifier: 16 random bytes, lower-case base32 (26 characters).
    public static func newIdentifier() -> String {
        Base32.encode(randomBytes(16)).lowercased()
    }

    /// A bearer token: 32 random bytes in base64url.
    public static func newToken() -> String {
        Base64URL.encode(randomBytes(32))
    }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        constantTimeEquals(Array(a.utf8), Array(b.utf8))
    }

    /// Compares two secrets of any lengths. Hashing both first makes the time
    /// independent of the lengths too.
    public static func digestEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        constantTimeEquals(Array(SHA256.hash(data: a)), Array(SHA256.hash(data: b)))
    }

    /// SHA-256 of a token, as stored in place of the token itself.
    public static func tokenDigest(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }
}

/// base64url without padding (RFC 4648 §5). Foundation has only standard base64.
public enum Base64URL {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            return nil
        }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let remainder = base64.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: base64)
    }
}
