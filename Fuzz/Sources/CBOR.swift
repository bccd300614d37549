// libFuzzer target: everything that reads WebAuthn bytes from the network.
import PosternWebAuthn

let relyingParty = RelyingParty(id: "example.org", origin: "https://example.org")
let clientData = Array(#"{"type":"webauthn.create","challenge":"AAAA","origin":"https://example.org"}"#.utf8)

func fuzzCBOR(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    if let item = try? CBORDecoder.decode(bytes) {
        // What decodes must encode back to the same bytes (the decoder accepts canonical CBOR only).
        precondition(CBOREncoder.encode(item) == bytes, "CBOR round trip")
        _ = try? COSEKey(cbor: item)
    }
    _ = try? AuthenticatorData(bytes)
    _ = try? relyingParty.verifyRegistration(clientDataJSON: clientData, attestationObject: bytes, challenge: [0, 0, 0])
    _ = try? relyingParty.verifyAuthentication(clientDataJSON: bytes, authenticatorData: bytes, signature: bytes, challenge: [0, 0, 0],
                                               publicKey: bytes, storedSignCount: 0)
    return 0
}

