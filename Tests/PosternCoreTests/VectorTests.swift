import Foundation
import Testing
@testable import PosternCore

@Suite("Standard test vectors")
struct VectorTests {
    // RFC 4648 §10.
    @Test("Base32 encodes the RFC 4648 vectors", arguments: [
        ("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI"),
    ])
    func base32(plain: String, encoded: String) {
        #expect(Base32.encode(Array(plain.utf8)) == encoded)
        #expect(Base32.decode(encoded) == Array(plain.utf8))
        #expect(Base32.decode(encoded.lowercased()) == Array(plain.utf8))
        let padded = encoded + String(repeating: "=", count: (8 - encoded.count % 8) % 8)
        #expect(Base32.decode(padded) == Array(plain.utf8))
    }

    @Test("Base32 refuses what is not base32")
    func base32Refusals() {
        #expect(Base32.decode("MZXW1") == nil, "1 is not in the alphabet")
        #expect(Base32.decode("MZ=XW") == nil, "data after padding")
        #expect(Base32.decode("MY") == Array("f".utf8))
        #expect(Base32.decode("MZ") == nil, "non-zero trailing bits")
        #expect(Base32.decode("M") == nil, "a lone character cannot encode a byte")
        #expect(Base32.decode("MZXW6\u{0}") == nil)
        #expect(Base32.decode("ＭＺＸＷ６") == nil, "full-width letters")
    }

    // RFC 4226 Appendix D.
    @Test("HOTP matches RFC 4226 Appendix D")
    func hotp() {
        let key = Array("12345678901234567890".utf8)
        let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
        for (counter, code) in expected.enumerated() {
            #expect(OneTimePassword.hotp(key: key, counter: UInt64(counter)) == code)
        }
    }

    // RFC 6238 Appendix B (8 digits).
    @Test("TOTP matches RFC 6238 Appendix B", arguments: [
        (59 as Int64, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ])
    func totp(time: Int64, sha1: String, sha256: String, sha512: String) {
        let seed = "1234567890"
        let date = Date(timeIntervalSince1970: Double(time))
        #expect(OneTimePassword.totp(key: Array(String(repeating: seed, count: 2).utf8), at: date, digits: 8, algorithm: .sha1) == sha1)
        #expect(OneTimePassword.totp(key: Array((String(repeating: seed, count: 3) + "12").utf8), at: date, digits: 8, algorithm: .sha256) == sha256)
        #expect(OneTimePassword.totp(key: Array((String(repeating: seed, count: 6) + "1234").utf8), at: date, digits: 8, algorithm: .sha512) == sha512)
    }

    // RFC 7914 §12, the second vector (N=1024, r=8, p=16).
    @Test("scrypt matches RFC 7914")
    func scrypt() throws {
        let key = try ScryptHasher.derive("password", salt: Array("NaCl".utf8), parameters: .init(logN: 10, r: 8, p: 16), count: 64)
        let hex = key.map { String(format: "%02x", $0) }.joined()
        #expect(hex == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    }
}
