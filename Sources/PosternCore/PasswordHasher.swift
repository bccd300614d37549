import Crypto
import CryptoExtras
import Foundation
import Synchronization

/// Turns account passwords into stored hashes and checks them.
///
/// A stored hash is self-describing (algorithm, parameters and salt travel with
/// it), so old hashes keep verifying after the configured parameters change,
/// and `needsRehash` tells when one should be replaced at the next successful
/// sign-in.
///
/// Implementations are slow on purpose. Callers must not run them on an event
/// loop; the server wraps its hasher in a bounded worker pool.
public protocol PasswordHasher: Sendable {
    /// A new stored hash for `password`, with a fresh random salt.
    func hash(_ password: String) async throws -> String
    /// True when `password` matches `encoded`. False for a wrong password and
    /// for an `encoded` string this hasher does not understand.
    func verify(_ password: String, against encoded: String) async throws -> Bool
    /// True when `encoded` was made with other parameters or another algorithm.
    func needsRehash(_ encoded: String) -> Bool
    /// A hash of a random password, made with the current parameters. Verifying
    /// against it costs the same as a real check: used for unknown users.
    var dummyHash: String { get }
}

/// scrypt (RFC 7914), stored as `$scrypt$ln=17,r=8,p=1$<salt>$<key>` with
/// base64url salt and key. OWASP's recommended parameters are the default.
public struct ScryptHasher: PasswordHasher {
    public struct Parameters: Sendable, Equatable {
        /// log2 of N, the CPU/memory cost.
        public var logN: Int
        public var r: Int
        public var p: Int

        public init(logN: Int = 17, r: Int = 8, p: Int = 1) {
            self.logN = logN
            self.r = r
            self.p = p
        }

        public static let owasp = Parameters()

        var memoryBytes: Int { 128 * r * (1 << logN) * p + 1024 * 1024 }
    }

    public let parameters: Parameters
    private let dummy = LazyDummy()
    static let saltBytes = 16
    static let keyBytes = 32

    public init(parameters: Parameters = .owasp) {
        precondition((10...22).contains(parameters.logN) && (1...32).contains(parameters.r) && (1...16).contains(parameters.p),
                     "scrypt parameters out of range")
        self.parameters = parameters
    }

    /// Made on first use, so commands that never check a password never pay for it.
    public var dummyHash: String {
        dummy.value.withLock { value in
            if let value { return value }
            let made = (try? Self.makeHash(Secrets.randomString(length: 24, alphabet: Array("abcdefghijklmnop")), parameters: parameters)) ?? ""
            value = made
            return made
        }
    }

    private final class LazyDummy: Sendable {
        let value = Mutex<String?>(nil)
    }

    public func hash(_ password: String) async throws -> String {
        try hashNow(password)
    }

    public func verify(_ password: String, against encoded: String) async throws -> Bool {
        try verifyNow(password, against: encoded)
    }

    /// The synchronous work, for callers that run it on a thread of their own.
    public func hashNow(_ password: String) throws -> String {
        try Self.makeHash(password, parameters: parameters)
    }

    public func verifyNow(_ password: String, against encoded: String) throws -> Bool {
        guard let parsed = Self.parse(encoded) else { return false }
        let key = try Self.derive(password, salt: parsed.salt, parameters: parsed.parameters, count: parsed.key.count)
        return Secrets.constantTimeEquals(key, parsed.key)
    }

    public func needsRehash(_ encoded: String) -> Bool {
        guard let parsed = Self.parse(encoded) else { return true }
        return parsed.parameters != parameters
    }

    static func makeHash(_ password: String, parameters: Parameters) throws -> String {
        let salt = Secrets.randomBytes(saltBytes)
        let key = try derive(password, salt: salt, parameters: parameters, count: keyBytes)
        return "$scrypt$ln=\(parameters.logN),r=\(parameters.r),p=\(parameters.p)$\(Base64URL.encode(salt))$\(Base64URL.encode(key))"
    }

    static func derive(_ password: String, salt: [UInt8], parameters: Parameters, count: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: count,
            rounds: 1 << parameters.logN, blockSize: parameters.r, parallelism: parameters.p,
            maxMemory: parameters.memoryBytes)
        return key.withUnsafeBytes { Array($0) }
    }

    static func parse(_ encoded: String) -> (parameters: Parameters, salt: [UInt8], key: [UInt8])? {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == "scrypt" else { return nil }
        var values: [String: Int] = [:]
        for pair in fields[2].split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let number = Int(kv[1]) else { return nil }
            values[String(kv[0])] = number
        }
        guard let logN = values["ln"], let r = values["r"], let p = values["p"],
              (10...22).contains(logN), (1...32).contains(r), (1...16).contains(p),
              let salt = Base64URL.decode(String(fields[3])), let key = Base64URL.decode(String(fields[4])),
              salt.count >= 8, (16...64).contains(key.count)
        else { return nil }
        return (Parameters(logN: logN, r: r, p: p), Array(salt), Array(key))
    }
}
