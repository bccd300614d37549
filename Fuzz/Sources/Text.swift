// libFuzzer target: the text parsers fed by clients and mail servers.
import Foundation
import PosternCore

func fuzzText(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    let text = String(decoding: bytes, as: UTF8.self)
    // base32 round trip for any bytes; decoding any text never traps.
    precondition(Base32.decode(Base32.encode(bytes)) == bytes, "base32 round trip")
    if let decoded = Base32.decode(text) { precondition(Base32.decode(Base32.encode(decoded)) == decoded) }
    _ = OTPAuthURI.make(secret: bytes, account: text, issuer: text)
    _ = TOTPVerifier().matchingStep(code: text, key: bytes, at: Date(timeIntervalSince1970: 1_800_000_000), after: nil)
    _ = Username.canonical(text)
    if let normalised = AppPasswordFormat.normalise(text) { precondition(AppPasswordFormat.normalise(normalised) == normalised) }
    if let address = ClientAddress.canonical(text) { _ = ClientAddress.buckets(address) }
    _ = RecoveryCodeFormat.normalise(text)
    _ = Base64URL.decode(text)
    return 0
}

