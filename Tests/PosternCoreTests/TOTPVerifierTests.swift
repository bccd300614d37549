import Foundation
import Testing
@testable import PosternCore

@Suite("TOTP verification")
struct TOTPVerifierTests {
    let key = Array("12345678901234567890".utf8)
    let verifier = TOTPVerifier()
    let now = Date(timeIntervalSince1970: 1_700_000_015)  // inside step 56_666_667
    var step: Int64 { OneTimePassword.timeStep(at: now) }

    func code(_ offset: Int64) -> String {
        OneTimePassword.hotp(key: key, counter: UInt64(step + offset))
    }

    @Test("accepts the current step and one step either side")
    func window() {
        #expect(verifier.matchingStep(code: code(0), key: key, at: now, after: nil) == step)
        #expect(verifier.matchingStep(code: code(-1), key: key, at: now, after: nil) == step - 1)
        #expect(verifier.matchingStep(code: code(1), key: key, at: now, after: nil) == step + 1)
    }

    @Test("refuses codes two steps away")
    func outsideWindow() {
        #expect(verifier.matchingStep(code: code(-2), key: key, at: now, after: nil) == nil)
        #expect(verifier.matchingStep(code: code(2), key: key, at: now, after: nil) == nil)
    }

    @Test("refuses a replayed code, and any code at or before the last accepted step")
    func replay() {
        #expect(verifier.matchingStep(code: code(0), key: key, at: now, after: step) == nil)
        #expect(verifier.matchingStep(code: code(-1), key: key, at: now, after: step) == nil)
        #expect(verifier.matchingStep(code: code(1), key: key, at: now, after: step) == step + 1)
        #expect(verifier.matchingStep(code: code(0), key: key, at: now, after: step - 1) == step)
    }

    @Test("keeps leading zeros and ignores spaces")
    func formatting() {
        // RFC 4226 counter 7 is 162583; find a counter whose code starts with 0.
        var counter: UInt64 = 0
        while !OneTimePassword.hotp(key: key, counter: counter).hasPrefix("0") { counter += 1 }
        let date = Date(timeIntervalSince1970: Double(counter) * 30 + 1)
        let zeroCode = OneTimePassword.hotp(key: key, counter: counter)
        #expect(zeroCode.count == 6)
        #expect(verifier.matchingStep(code: zeroCode, key: key, at: date, after: nil) == Int64(counter))
        #expect(verifier.matchingStep(code: String(zeroCode.dropFirst()), key: key, at: date, after: nil) == nil)
        let spaced = String(code(0).prefix(3)) + " " + String(code(0).suffix(3))
        #expect(verifier.matchingStep(code: spaced, key: key, at: now, after: nil) == step)
    }

    @Test("refuses anything that is not six ASCII digits", arguments: ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "123 45", "-12345", "+123456"])
    func malformed(code: String) {
        #expect(verifier.matchingStep(code: code, key: key, at: now, after: nil) == nil)
    }

    @Test("builds an otpauth URI with issuer, account and base32 secret")
    func otpauthURI() {
        let uri = OTPAuthURI.make(secret: Array("12345678901234567890".utf8), account: "alice@example.org", issuer: "Acme Mail")
        #expect(uri == "otpauth://totp/Acme%20Mail:alice@example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Mail&algorithm=SHA1&digits=6&period=30")
    }
}
