import Crypto
import Foundation
import Testing
@testable import PosternWebAuthn
import PosternTestSupport

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}


/// W3C Web Authentication Level 3, §16.2 "ES256 Credential with No
/// Attestation" (RP ID example.org, origin https://example.org), as the
/// specification prints them.
enum W3CVector {
    static let relyingParty = RelyingParty(id: "example.org", origin: "https://example.org")
    static let registrationChallenge = hex("00c30fb78531c464d2b6771dab8d7b603c01162f2fa486bea70f283ae556e130")
    static let registrationClientData = hex(
        "7b2274797065223a22776562617574686e2e637265617465222c226368616c6c656e6765223a22414d4d507434557878475453746e63647134313759447742466938767049612d70"
        + "77386f4f755657345441222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73652c22657874726144617461"
        + "223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c"
        + "207375636820617320746869733a20426b5165446a646354427258426941774a544c453551227d")
    static let attestationObject = hex(
        "a363666d74646e6f6e656761747453746d74a068617574684461746158a4bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b559000000008446ccb9ab"
        + "1db374750b2367ff6f3a1f0020f91f391db4c9b2fde0ea70189cba3fb63f579ba6122b33ad94ff3ec330084be4a5010203262001215820afefa16f97ca9b2d23eb86ccb64098d20d"
        + "b90856062eb249c33a9b672f26df61225820930a56b87a2fca66334b03458abf879717c12cc68ed73290af2e2664796b9220")
    static let aaguid = hex("8446ccb9ab1db374750b2367ff6f3a1f")
    static let credentialID = hex("f91f391db4c9b2fde0ea70189cba3fb63f579ba6122b33ad94ff3ec330084be4")
    static let assertionChallenge = hex("39c0e7521417ba54d43e8dc95174f423dee9bf3cd804ff6d65c857c9abf4d408")
    static let assertionAuthData = hex("bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b51900000000")
    static let assertionClientData = hex(
        "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a224f63446e55685158756c5455506f334a5558543049393770767a7a59425039745a636858"
        + "79617630314167222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73657d")
    static let assertionSignature = hex(
        "3046022100f50a4e2e4409249c4a853ba361282f09841df4dd4547a13a87780218deffcd380221008480ac0f0b93538174f575bf11a1dd5d78c6e486013f937295ea13653e331e87")
}

@Suite("WebAuthn relying party")
struct WebAuthnTests {
    let rp = RelyingParty(id: "example.org", origin: "https://example.org")
    let challenge = Array((0..<32).map { UInt8(200 - $0) })

    @Test("the W3C Level 3 §16.2 registration verifies, and decodes to the published values")
    func w3cRegistration() throws {
        let credential = try W3CVector.relyingParty.verifyRegistration(
            clientDataJSON: W3CVector.registrationClientData, attestationObject: W3CVector.attestationObject,
            challenge: W3CVector.registrationChallenge)
        #expect(credential.id == W3CVector.credentialID)
        #expect(credential.aaguid == W3CVector.aaguid)
        #expect(credential.algorithm == -7)
        #expect(credential.signCount == 0)
        #expect(!credential.userVerified)
    }

    @Test("the W3C Level 3 §16.2 assertion verifies with the registered key, and only with its own challenge")
    func w3cAssertion() throws {
        let credential = try W3CVector.relyingParty.verifyRegistration(
            clientDataJSON: W3CVector.registrationClientData, attestationObject: W3CVector.attestationObject,
            challenge: W3CVector.registrationChallenge)
        let count = try W3CVector.relyingParty.verifyAuthentication(
            clientDataJSON: W3CVector.assertionClientData, authenticatorData: W3CVector.assertionAuthData,
            signature: W3CVector.assertionSignature, challenge: W3CVector.assertionChallenge,
            publicKey: credential.publicKey, storedSignCount: 0)
        #expect(count == 0)
        #expect(throws: WebAuthnError.wrongChallenge) {
            try W3CVector.relyingParty.verifyAuthentication(
                clientDataJSON: W3CVector.assertionClientData, authenticatorData: W3CVector.assertionAuthData,
                signature: W3CVector.assertionSignature, challenge: W3CVector.registrationChallenge,
                publicKey: credential.publicKey, storedSignCount: 0)
        }
        var tampered = W3CVector.assertionSignature
        tampered[tampered.count - 1] ^= 1
        #expect(throws: WebAuthnError.badSignature) {
            try W3CVector.relyingParty.verifyAuthentication(
                clientDataJSON: W3CVector.assertionClientData, authenticatorData: W3CVector.assertionAuthData,
                signature: tampered, challenge: W3CVector.assertionChallenge, publicKey: credential.publicKey, storedSignCount: 0)
        }
    }

    @Test("a software authenticator registers and signs in, with ES256 and EdDSA, none and packed self attestation")
    func roundTrip() throws {
        for key in [SoftAuthenticator.Key.p256(.init()), .ed25519(.init())] {
            for format in ["none", "packed"] {
                var device = SoftAuthenticator(key: key)
                let (client, attestation) = device.register(challenge: challenge, format: format)
                let credential = try rp.verifyRegistration(clientDataJSON: client, attestationObject: attestation, challenge: challenge)
                #expect(credential.id == device.credentialID && credential.userVerified)
                device.counter = 5
                let (c, a, s) = device.assert(challenge: challenge)
                #expect(try rp.verifyAuthentication(clientDataJSON: c, authenticatorData: a, signature: s, challenge: challenge,
                                                    publicKey: credential.publicKey, storedSignCount: 4) == 5)
            }
        }
    }

    @Test("registration refuses each altered field")
    func registrationRefusals() throws {
        let device = SoftAuthenticator()
        func refuse(_ expected: WebAuthnError, _ response: ([UInt8], [UInt8]), rp: RelyingParty? = nil) {
            #expect(throws: expected) {
                try (rp ?? self.rp).verifyRegistration(clientDataJSON: response.0, attestationObject: response.1, challenge: challenge)
            }
        }
        refuse(.wrongType, device.register(challenge: challenge, clientData: device.clientData(type: "webauthn.get", challenge: challenge)))
        refuse(.wrongChallenge, device.register(challenge: challenge, clientData: device.clientData(type: "webauthn.create", challenge: [1, 2, 3])))
        refuse(.wrongOrigin, device.register(challenge: challenge, clientData: device.clientData(type: "webauthn.create", challenge: challenge,
                                                                                                   origin: "https://evil.example")))
        refuse(.crossOrigin, device.register(challenge: challenge, clientData: device.clientData(type: "webauthn.create", challenge: challenge,
                                                                                                   crossOrigin: true)))
        var elsewhere = device
        elsewhere.rpID = "evil.example"
        refuse(.wrongRelyingParty, elsewhere.register(challenge: challenge))
        refuse(.userNotPresent, device.register(challenge: challenge, flags: 0x44))
        var strict = rp
        strict.requireUserVerification = true
        refuse(.userNotVerified, device.register(challenge: challenge, flags: 0x41), rp: strict)
        refuse(.noCredentialData, registrationWithoutCredential(device))
        var es256Only = rp
        es256Only.allowedAlgorithms = [-7]
        refuse(.unsupportedAlgorithm(-8), SoftAuthenticator(key: .ed25519(.init())).register(challenge: challenge), rp: es256Only)
        refuse(.unsupportedAttestation("fido-u2f"), device.register(challenge: challenge, format: "fido-u2f"))
        // A packed self-attestation signed by another key.
        let (client, attestation) = device.register(challenge: challenge, format: "packed")
        var forged = SoftAuthenticator()
        forged.credentialID = device.credentialID
        let forgedSignature = forged.register(challenge: challenge, format: "packed").1
        #expect(attestation != forgedSignature)
        refuse(.badAttestationSignature, (client, swapStatement(attestation, from: forgedSignature)))
    }

    func registrationWithoutCredential(_ device: SoftAuthenticator) -> ([UInt8], [UInt8]) {
        let client = device.clientData(type: "webauthn.create", challenge: challenge)
        let auth = device.authData(flags: 0x05, withCredential: false)
        return (client, CBOREncoder.encode(.map([(.text("fmt"), .text("none")), (.text("attStmt"), .map([])), (.text("authData"), .bytes(auth))])))
    }

    /// The attestation object `target` with the statement of `source`.
    func swapStatement(_ target: [UInt8], from source: [UInt8]) -> [UInt8] {
        let a = try! CBORDecoder.decode(target), b = try! CBORDecoder.decode(source)
        return CBOREncoder.encode(.map([(.text("fmt"), a["fmt"]!), (.text("attStmt"), b["attStmt"]!), (.text("authData"), a["authData"]!)]))
    }

    @Test("authentication refuses each altered field, and a counter that goes backwards")
    func authenticationRefusals() throws {
        var device = SoftAuthenticator()
        let (client, attestation) = device.register(challenge: challenge)
        let credential = try rp.verifyRegistration(clientDataJSON: client, attestationObject: attestation, challenge: challenge)
        device.counter = 10
        func refuse(_ expected: WebAuthnError, _ response: ([UInt8], [UInt8], [UInt8]), stored: UInt32 = 9, rp: RelyingParty? = nil) {
            #expect(throws: expected) {
                try (rp ?? self.rp).verifyAuthentication(clientDataJSON: response.0, authenticatorData: response.1, signature: response.2,
                                                         challenge: challenge, publicKey: credential.publicKey, storedSignCount: stored)
            }
        }
        refuse(.wrongType, device.assert(challenge: challenge, clientData: device.clientData(type: "webauthn.create", challenge: challenge)))
        refuse(.wrongChallenge, device.assert(challenge: challenge, clientData: device.clientData(type: "webauthn.get", challenge: Array(challenge.reversed()))))
        refuse(.wrongOrigin, device.assert(challenge: challenge, clientData: device.clientData(type: "webauthn.get", challenge: challenge, origin: "http://example.org")))
        var elsewhere = device
        elsewhere.rpID = "example.com"
        refuse(.wrongRelyingParty, elsewhere.assert(challenge: challenge))
        refuse(.userNotPresent, device.assert(challenge: challenge, flags: 0x04))
        var strict = rp
        strict.requireUserVerification = true
        refuse(.userNotVerified, device.assert(challenge: challenge, flags: 0x01), rp: strict)
        var (c, a, s) = device.assert(challenge: challenge)
        s[8] ^= 0x40
        refuse(.badSignature, (c, a, s))
        (c, a, s) = device.assert(challenge: challenge)
        a[32] ^= 0x10  // a flag changed after signing
        refuse(.badSignature, (c, a, s))
        refuse(.counterWentBackwards(stored: 10, received: 10), device.assert(challenge: challenge), stored: 10)
        refuse(.counterWentBackwards(stored: 11, received: 10), device.assert(challenge: challenge), stored: 11)
        refuse(.malformed("authenticator data is shorter than 37 bytes"), (c, Array(a.prefix(36)), s))
    }

    @Test("the CBOR decoder is strict and bounded")
    func cborStrictness() throws {
        func fails(_ bytes: [UInt8], _ expected: CBORDecoder.Failure) {
            #expect(throws: expected) { try CBORDecoder.decode(bytes) }
        }
        let decoded = try CBORDecoder.decode([0xA2, 0x01, 0x02, 0x20, 0x43, 0x61, 0x62, 0x63])
        #expect(decoded == .map([(.int(1), .int(2)), (.int(-1), .bytes([0x61, 0x62, 0x63]))]))
        fails([0x18, 0x05], .notCanonical)
        fails([0x19, 0x00, 0x10], .notCanonical)
        fails([0x5F, 0x41, 0x00, 0xFF], .unsupported("indefinite length"))
        fails([0xC2, 0x41, 0x00], .unsupported("tags"))
        fails([0xFA, 0x3F, 0x80, 0x00, 0x00], .unsupported("simple value or float"))
        fails([0xA2, 0x01, 0x02, 0x01, 0x03], .duplicateKey)
        fails([0x62, 0xC3, 0x28], .invalidUTF8)
        fails([0x01, 0x02], .trailingBytes)
        fails([0x5A, 0xFF, 0xFF, 0xFF, 0xFF], .tooLarge)
        fails([0x45, 0x01], .truncated)
        fails(Array(repeating: 0x81, count: 20) + [0x01], .tooDeep)
        fails([0x99, 0x03, 0xE8] + Array(repeating: 0x01, count: 1000), .tooLarge)
        // Random and truncated input never crashes.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? CBORDecoder.decode(bytes)
            _ = try? AuthenticatorData(bytes)
        }
        for cut in 0..<W3CVector.attestationObject.count {
            _ = try? CBORDecoder.decode(Array(W3CVector.attestationObject.prefix(cut)))
        }
    }
}
