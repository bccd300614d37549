import Crypto
import Foundation

/// Why a WebAuthn response was refused. The message is for logs and tests;
/// users see a generic failure.
public enum WebAuthnError: Error, Equatable, Sendable {
    case malformed(String)
    case wrongType
    case wrongChallenge
    case wrongOrigin
    case crossOrigin
    case wrongRelyingParty
    case userNotPresent
    case userNotVerified
    case noCredentialData
    case unsupportedAlgorithm(Int)
    case invalidKey(String)
    case unsupportedAttestation(String)
    case badAttestationSignature
    case badSignature
    case counterWentBackwards(stored: UInt32, received: UInt32)
}

/// Authenticator data (WebAuthn §6.1).
public struct AuthenticatorData: Sendable {
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let userPresent = Flags(rawValue: 0x01)
        public static let userVerified = Flags(rawValue: 0x04)
        public static let backupEligible = Flags(rawValue: 0x08)
        public static let backedUp = Flags(rawValue: 0x10)
        public static let attestedCredentialData = Flags(rawValue: 0x40)
        public static let extensionData = Flags(rawValue: 0x80)
    }

    public let rpIDHash: [UInt8]
    public let flags: Flags
    public let signCount: UInt32
    public let aaguid: [UInt8]?
    public let credentialID: [UInt8]?
    /// The COSE key, as the bytes the authenticator sent.
    public let credentialPublicKey: [UInt8]?

    public init(_ bytes: [UInt8]) throws(WebAuthnError) {
        guard bytes.count >= 37 else { throw .malformed("authenticator data is shorter than 37 bytes") }
        rpIDHash = Array(bytes[0..<32])
        flags = Flags(rawValue: bytes[32])
        signCount = bytes[33..<37].reduce(0) { ($0 << 8) | UInt32($1) }
        var rest = Array(bytes[37...])
        if flags.contains(.attestedCredentialData) {
            guard rest.count >= 18 else { throw .malformed("attested credential data is truncated") }
            aaguid = Array(rest[0..<16])
            let length = Int(rest[16]) << 8 | Int(rest[17])
            guard length <= 1023, rest.count >= 18 + length else { throw .malformed("credential id is truncated or too long") }
            credentialID = Array(rest[18..<18 + length])
            var decoder = CBORDecoder(Array(rest[(18 + length)...]))
            do { _ = try decoder.decodeItem() } catch { throw .malformed("credential public key: \(error)") }
            credentialPublicKey = Array(rest[(18 + length)..<(18 + length + decoder.offset)])
            rest = Array(rest[(18 + length + decoder.offset)...])
        } else {
            aaguid = nil
            credentialID = nil
            credentialPublicKey = nil
        }
        if flags.contains(.extensionData) {
            var decoder = CBORDecoder(rest)
            do { _ = try decoder.decodeItem() } catch { throw .malformed("extensions: \(error)") }
            rest = Array(rest[decoder.offset...])
        }
        guard rest.isEmpty else { throw .malformed("authenticator data has trailing bytes") }
    }
}

/// A credential that passed registration: what the relying party stores.
public struct RegisteredCredential: Sendable, Equatable {
    public let id: [UInt8]
    public let publicKey: [UInt8]
    public let algorithm: Int
    public let signCount: UInt32
    public let aaguid: [UInt8]
    public let userVerified: Bool
    public let backupEligible: Bool
}

/// The relying party's checks (WebAuthn Level 2 §7.1 registration and §7.2
/// authentication). The caller supplies the challenge it issued (and must make
/// sure it is used once and fresh), and for authentication the stored key and
/// counter.
public struct RelyingParty: Sendable {
    public let id: String
    public let origin: String
    public var requireUserVerification = false
    public var allowedAlgorithms: Set<Int> = Set(COSEKey.Algorithm.allCases.map(\.rawValue))

    public init(id: String, origin: String) {
        self.id = id
        self.origin = origin
    }

    /// §7.1, steps 5–24 less the attestation trust path: accepts `none` and
    /// `packed` self attestation.
    public func verifyRegistration(clientDataJSON: [UInt8], attestationObject: [UInt8], challenge: [UInt8]) throws(WebAuthnError) -> RegisteredCredential {
        try checkClientData(clientDataJSON, type: "webauthn.create", challenge: challenge)
        let object: CBOR
        do { object = try CBORDecoder.decode(attestationObject) } catch { throw .malformed("attestation object: \(error)") }
        guard let format = object["fmt"]?.textString, let statement = object["attStmt"], case .map = statement,
              let rawAuthData = object["authData"]?.byteString
        else { throw .malformed("attestation object needs fmt, attStmt and authData") }
        let authData = try AuthenticatorData(rawAuthData)
        try checkAuthenticatorData(authData)
        guard authData.flags.contains(.attestedCredentialData), let credentialID = authData.credentialID,
              let keyBytes = authData.credentialPublicKey, let aaguid = authData.aaguid, !credentialID.isEmpty
        else { throw .noCredentialData }
        let key = try COSEKey(bytes: keyBytes)
        guard allowedAlgorithms.contains(key.algorithm.rawValue) else { throw .unsupportedAlgorithm(key.algorithm.rawValue) }

        switch format {
        case "none":
            guard case .map(let pairs) = statement, pairs.isEmpty else { throw .malformed("a none attestation statement is empty") }
        case "packed":
            guard statement["x5c"] == nil else { throw .unsupportedAttestation("packed with a certificate chain") }
            guard statement["alg"]?.int == key.algorithm.rawValue, let signature = statement["sig"]?.byteString else {
                throw .badAttestationSignature
            }
            guard key.verify(signature: signature, data: rawAuthData + Array(SHA256.hash(data: clientDataJSON))) else {
                throw .badAttestationSignature
            }
        default:
            throw .unsupportedAttestation(format)
        }
        return RegisteredCredential(id: credentialID, publicKey: keyBytes, algorithm: key.algorithm.rawValue, signCount: authData.signCount,
                                    aaguid: aaguid, userVerified: authData.flags.contains(.userVerified),
                                    backupEligible: authData.flags.contains(.backupEligible))
    }

    /// §7.2, steps 11–21. Returns the new signature counter to store.
    public func verifyAuthentication(clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8], challenge: [UInt8],
                                     publicKey: [UInt8], storedSignCount: UInt32) throws(WebAuthnError) -> UInt32 {
        try checkClientData(clientDataJSON, type: "webauthn.get", challenge: challenge)
        let authData = try AuthenticatorData(authenticatorData)
        try checkAuthenticatorData(authData)
        let key = try COSEKey(bytes: publicKey)
        guard key.verify(signature: signature, data: authenticatorData + Array(SHA256.hash(data: clientDataJSON))) else {
            throw .badSignature
        }
        // A counter that does not grow signals a cloned authenticator, unless
        // both are zero (the authenticator keeps no counter).
        if authData.signCount != 0 || storedSignCount != 0 {
            guard authData.signCount > storedSignCount else {
                throw .counterWentBackwards(stored: storedSignCount, received: authData.signCount)
            }
        }
        return authData.signCount
    }

    func checkClientData(_ json: [UInt8], type: String, challenge: [UInt8]) throws(WebAuthnError) {
        guard json.count <= 16 * 1024,
              let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw .malformed("clientDataJSON is not a JSON object")
        }
        guard object["type"] as? String == type else { throw .wrongType }
        guard let given = object["challenge"] as? String, let decoded = base64URLDecode(given),
              decoded.count == challenge.count, zip(decoded, challenge).allSatisfy({ $0 == $1 })
        else { throw .wrongChallenge }
        guard object["origin"] as? String == origin else { throw .wrongOrigin }
        if let cross = object["crossOrigin"] as? Bool, cross { throw .crossOrigin }
    }

    func checkAuthenticatorData(_ authData: AuthenticatorData) throws(WebAuthnError) {
        guard authData.rpIDHash == Array(SHA256.hash(data: Data(id.utf8))) else { throw .wrongRelyingParty }
        guard authData.flags.contains(.userPresent) else { throw .userNotPresent }
        if requireUserVerification, !authData.flags.contains(.userVerified) { throw .userNotVerified }
    }
}

func base64URLDecode(_ text: String) -> [UInt8]? {
    guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    if base64.count % 4 == 1 { return nil }
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    return Data(base64Encoded: base64).map { Array($0) }
}
