import Crypto
import CryptoExtras
import Foundation

/// A credential public key in COSE form (RFC 9052/9053), for the algorithms a
/// relying party here accepts: ES256 (required), EdDSA (Ed25519) and RS256.
public enum COSEKey: Sendable {
    case es256(P256.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)
    case rs256(_RSA.Signing.PublicKey)

    public enum Algorithm: Int, Sendable, CaseIterable {
        case es256 = -7
        case edDSA = -8
        case rs256 = -257
    }

    public var algorithm: Algorithm {
        switch self {
        case .es256: .es256
        case .ed25519: .edDSA
        case .rs256: .rs256
        }
    }

    /// Parses a COSE_Key map, refusing anything but the three supported key
    /// types with exactly the right parameters.
    public init(cbor: CBOR) throws(WebAuthnError) {
        guard let kty = cbor[1]?.int, let alg = cbor[3]?.int else { throw .invalidKey("kty and alg are required") }
        switch (kty, alg) {
        case (2, Algorithm.es256.rawValue):
            guard cbor[-1]?.int == 1, let x = cbor[-2]?.byteString, let y = cbor[-3]?.byteString, x.count == 32, y.count == 32,
                  let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y)
            else { throw .invalidKey("ES256 needs a P-256 point") }
            self = .es256(key)
        case (1, Algorithm.edDSA.rawValue):
            guard cbor[-1]?.int == 6, let x = cbor[-2]?.byteString, x.count == 32,
                  let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x)
            else { throw .invalidKey("EdDSA needs an Ed25519 key") }
            self = .ed25519(key)
        case (3, Algorithm.rs256.rawValue):
            guard let n = cbor[-1]?.byteString, let e = cbor[-2]?.byteString, n.count >= 256, (1...8).contains(e.count),
                  let key = try? _RSA.Signing.PublicKey(n: n, e: e)
            else { throw .invalidKey("RS256 needs an RSA key of at least 2048 bits") }
            self = .rs256(key)
        default:
            throw .unsupportedAlgorithm(alg)
        }
    }

    public init(bytes: [UInt8]) throws(WebAuthnError) {
        let cbor: CBOR
        do { cbor = try CBORDecoder.decode(bytes) } catch { throw .malformed("credential public key: \(error)") }
        try self.init(cbor: cbor)
    }

    /// Checks `signature` over `data` with this key.
    public func verify(signature: [UInt8], data: [UInt8]) -> Bool {
        switch self {
        case .es256(let key):
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: data)
        case .ed25519(let key):
            return key.isValidSignature(signature, for: data)
        case .rs256(let key):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: data),
                                        padding: .insecurePKCS1v1_5)
        }
    }
}
