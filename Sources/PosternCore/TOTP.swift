import Crypto
import Foundation

/// One-time passwords per RFC 4226 (HOTP) and RFC 6238 (TOTP).
public enum OneTimePassword {
    public enum Algorithm: String, Sendable { case sha1 = "SHA1", sha256 = "SHA256", sha512 = "SHA512" }

    /// The RFC 4226 value for `counter`, as a zero-padded string of `digits`.
    public static func hotp(key: [UInt8], counter: UInt64, digits: Int = 6, algorithm: Algorithm = .sha1) -> String {
        precondition((6...9).contains(digits), "HOTP digits must be 6 to 9")
        let message = withUnsafeBytes(of: counter.bigEndian) { Array($0) }
        let symmetricKey = SymmetricKey(data: key)
        let mac: [UInt8]
        switch algorithm {
        case .sha1: mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: symmetricKey))
        case .sha256: mac = Array(HMAC<SHA256>.authenticationCode(for: message, using: symmetricKey))
        case .sha512: mac = Array(HMAC<SHA512>.authenticationCode(for: message, using: symmetricKey))
        }
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary = (UInt32(mac[offset] & 0x7F) << 24)
            | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    /// The TOTP time step that contains `date`.
    public static func timeStep(at date: Date, period: Int = 30) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(period)).rounded(.down))
    }

    public static func totp(key: [UInt8], at date: Date, digits: Int = 6, period: Int = 30, algorithm: Algorithm = .sha1) -> String {
        hotp(key: key, counter: UInt64(max(0, timeStep(at: date, period: period))), digits: digits, algorithm: algorithm)
    }
}

/// Checks a submitted TOTP code: SHA-1, 6 digits, 30-second steps, one step of
/// drift either side, and never a step at or before the last one accepted.
///
/// The verifier only finds the step a code belongs to. Making that step "used"
/// is the store's job, done atomically (`TOTPStore.consumeTOTPStep`), so that two
/// requests carrying the same code cannot both succeed.
public struct TOTPVerifier: Sendable {
    public var digits = 6
    public var period = 30
    public var drift: Int64 = 1

    public init() {}

    /// The step `code` matches, or nil. Spaces in the code are ignored; anything
    /// but `digits` ASCII digits is refused. Every candidate step is compared, in
    /// constant time, so the answer's timing does not tell which step matched.
    public func matchingStep(code: String, key: [UInt8], at date: Date, after lastAcceptedStep: Int64?) -> Int64? {
        let cleaned = code.filter { $0 != " " }
        guard cleaned.utf8.count == digits, cleaned.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        let current = OneTimePassword.timeStep(at: date, period: period)
        var matched: Int64?
        for step in (current - drift)...(current + drift) where step >= 0 {
            let expected = OneTimePassword.hotp(key: key, counter: UInt64(step), digits: digits)
            let equal = Secrets.constantTimeEquals(expected, cleaned)
            if equal, matched == nil, step > (lastAcceptedStep ?? -1) { matched = step }
        }
        return matched
    }
}

/// Builds the `otpauth://totp/` URI that authenticator apps scan.
public enum OTPAuthURI {
    public static func make(secret: [UInt8], account: String, issuer: String, digits: Int = 6, period: Int = 30) -> String {
        // RFC 3986 unreserved characters only; everything else is %-encoded as UTF-8.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~@")
        let label = "\(issuer):\(account)".addingPercentEncoding(withAllowedCharacters: allowed.union(CharacterSet(charactersIn: ":")))!
        let issuerParam = issuer.addingPercentEncoding(withAllowedCharacters: allowed)!
        return "otpauth://totp/\(label)?secret=\(Base32.encode(secret))&issuer=\(issuerParam)&algorithm=SHA1&digits=\(digits)&period=\(period)"
    }
}
