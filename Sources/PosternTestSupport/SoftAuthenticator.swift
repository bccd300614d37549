// PosternTestSupport: helpers for tests only. Not linked into the server.

import Crypto
import Foundation
import PosternWebAuthn

public func b64url(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// A software authenticator: its own key, CBOR and signatures.
public struct SoftAuthenticator {
    public enum Key { case p256(P256.Signing.PrivateKey), ed25519(Curve25519.Signing.PrivateKey) }

    public var key: Key = .p256(P256.Signing.PrivateKey())

    public init(key: Key = .p256(P256.Signing.PrivateKey())) { self.key = key }
    public var credentialID = Array((0..<32).map { UInt8($0) })
    public var counter: UInt32 = 0
    public var rpID = "example.org"
    public var origin = "https://example.org"

    public var coseKey: [UInt8] {
        switch key {
        case .p256(let k):
            let point = Array(k.publicKey.x963Representation)
            return CBOREncoder.encode(.map([(.int(1), .int(2)), (.int(3), .int(-7)), (.int(-1), .int(1)),
                                            (.int(-2), .bytes(Array(point[1...32]))), (.int(-3), .bytes(Array(point[33...64])))]))
        case .ed25519(let k):
            return CBOREncoder.encode(.map([(.int(1), .int(1)), (.int(3), .int(-8)), (.int(-1), .int(6)),
                                            (.int(-2), .bytes(Array(k.publicKey.rawRepresentation)))]))
        }
    }

    public func sign(_ data: [UInt8]) -> [UInt8] {
        switch key {
        case .p256(let k): Array(try! k.signature(for: data).derRepresentation)
        case .ed25519(let k): Array(try! k.signature(for: data))
        }
    }

    public func authData(flags: UInt8, withCredential: Bool) -> [UInt8] {
        var out = Array(SHA256.hash(data: Data(rpID.utf8))) + [flags] + withUnsafeBytes(of: counter.bigEndian) { Array($0) }
        if withCredential {
            out += [UInt8](repeating: 7, count: 16) + [UInt8(credentialID.count >> 8), UInt8(credentialID.count & 0xFF)] + credentialID + coseKey
        }
        return out
    }

    public func clientData(type: String, challenge: [UInt8], origin: String? = nil, crossOrigin: Bool = false) -> [UInt8] {
        Array(#"{"type":"\#(type)","challenge":"\#(b64url(challenge))","origin":"\#(origin ?? self.origin)","crossOrigin":\#(crossOrigin)}"#.utf8)
    }

    /// A registration response: (clientDataJSON, attestationObject).
    public func register(challenge: [UInt8], flags: UInt8 = 0x45, format: String = "none", clientData: [UInt8]? = nil) -> ([UInt8], [UInt8]) {
        let client = clientData ?? self.clientData(type: "webauthn.create", challenge: challenge)
        let auth = authData(flags: flags, withCredential: true)
        var statement = CBOR.map([])
        if format == "packed" {
            let alg: Int = if case .p256 = key { -7 } else { -8 }
            statement = .map([(.text("alg"), .int(alg)), (.text("sig"), .bytes(sign(auth + Array(SHA256.hash(data: client)))))])
        }
        return (client, CBOREncoder.encode(.map([(.text("fmt"), .text(format)), (.text("attStmt"), statement), (.text("authData"), .bytes(auth))])))
    }

    /// An authentication response: (clientDataJSON, authenticatorData, signature).
    public func assert(challenge: [UInt8], flags: UInt8 = 0x05, clientData: [UInt8]? = nil) -> ([UInt8], [UInt8], [UInt8]) {
        let client = clientData ?? self.clientData(type: "webauthn.get", challenge: challenge)
        let auth = authData(flags: flags, withCredential: false)
        return (client, auth, sign(auth + Array(SHA256.hash(data: client))))
    }
}
