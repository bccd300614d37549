import Foundation
import Testing
@testable import PosternProtocols

@Suite("/v1/verify body: strict JSON")
struct VerifyMessageStrictnessTests {
    /// `value` in a string of an unknown field, then as the username.
    func stringReason(_ content: [UInt8]) -> (VerifyMessage.DecodeError.Syntax?, VerifyMessage.DecodeError.Syntax?) {
        let unknown = Array(#"{"username":"a","x":""#.utf8) + content + Array(#"","#.utf8) + Array(verifyRest.utf8) + [0x7D]
        let known = Array(#"{"username":""#.utf8) + content + Array(#"","#.utf8) + Array(verifyRest.utf8) + [0x7D]
        return (syntaxReason(verifyDecode(unknown)), syntaxReason(verifyDecode(known)))
    }

    @Test("malformed UTF-8 is refused in any string", arguments: [
        [0xFF], [0xFE], [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
        [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
        [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3, 0x41], [0xE2, 0x28, 0xA1], [0xF0, 0x9F, 0x98, 0x41],
    ] as [[UInt8]])
    func invalidUTF8(bytes: [UInt8]) {
        let (unknown, known) = stringReason(bytes)
        #expect(unknown == .invalidUTF8)
        #expect(known == .invalidUTF8)
    }

    @Test("the edges of well-formed UTF-8 are accepted", arguments: [
        [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xEC, 0xBF, 0xBF], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
        [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF3, 0xBF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF],
    ] as [[UInt8]])
    func wellFormedUTF8(bytes: [UInt8]) throws {
        let body = Array(#"{"username":""#.utf8) + bytes + Array(#"","#.utf8) + Array(verifyRest.utf8) + [0x7D]
        #expect(Array(try verifyDecode(body).get().username.utf8) == bytes)
    }

    @Test("a surrogate escape without its partner is refused", arguments: [
        #"\ud800"#, #"\udbff"#, #"\udc00"#, #"\udfff"#, #"\ud800\u0041"#, #"\ud800x"#, #"\ud800\ud800"#, #"\udc00\ud800"#,
        #"\ud800\n"#, #"a\uDE00b"#,
    ])
    func loneSurrogates(escaped: String) {
        let (unknown, known) = stringReason(Array(escaped.utf8))
        #expect(unknown == .loneSurrogate)
        #expect(known == .loneSurrogate)
    }

    @Test("bad escapes and raw control characters are refused")
    func escapesAndControls() {
        for escaped in [#"\x"#, #"\'"#, #"\U0041"#, #"\u00zz"#, #"\u12"#, #"\ "#, #"\0"#, #"\a"#, #"\ud800\uzzzz"#] {
            #expect(stringReason(Array(escaped.utf8)).0 == .invalidEscape, "\(escaped)")
        }
        for byte in UInt8(0x00)..<0x20 {
            let (unknown, known) = stringReason([0x61, byte])
            #expect(unknown == .controlCharacter && known == .controlCharacter, "\(byte)")
        }
        #expect(syntaxReason(verifyDecode(Array(#"{"username":"\u"#.utf8))) == .unexpectedEnd)
        #expect(syntaxReason(verifyDecode(Array(#"{"username":"\"#.utf8))) == .unexpectedEnd)
    }

    @Test("numbers follow RFC 8259's grammar", arguments: [
        ("0", true), ("-0", true), ("10", true), ("1.5", true), ("-1.5e-3", true), ("1E+2", true), ("0e0", true), ("1e400", true),
        ("01", false), ("-01", false), ("00", false), ("1.", false), (".5", false), ("-", false), ("1e", false), ("1e+", false),
        ("+1", false), ("1.0e+", false), ("1e5e5", false), ("0x10", false), ("1.2.3", false), ("--1", false), ("Infinity", false),
        ("NaN", false), ("-Infinity", false), ("1-", false),
    ])
    func numbers(token: String, valid: Bool) {
        let result = verifyDecode(verifyBody(with: #""x":"# + token))
        #expect(((try? result.get()) != nil) == valid)
        if !valid, token.first.map({ $0 == "-" || $0.isNumber }) == true, token != "-Infinity", token != "0x10" {
            #expect(syntaxReason(result) == .invalidNumber, "\(token)")
        }
    }

    @Test("trailing commas are refused, in the body's object and in skipped values")
    func trailingCommas() {
        #expect(syntaxReason(verifyDecode(#"{"username":"a","# + verifyRest + ",}")) == .trailingComma)
        #expect(syntaxReason(verifyDecode(verifyBody(with: #""x":[1,]"#))) == .trailingComma)
        #expect(syntaxReason(verifyDecode(verifyBody(with: #""x":{"a":1,}"#))) == .trailingComma)
        for body in [verifyBody(with: #""x":[,1]"#), verifyBody(with: #""x":{,}"#), verifyBody(with: #""x":[1,,2]"#), "{,}", "[1,}"] {
            #expect(syntaxReason(verifyDecode(body)) == .unexpectedByte, "\(body)")
        }
    }

    @Test("literals are exact")
    func literals() {
        for token in ["tru", "True", "nul", "NULL", "falsey", "truex", "nil", "undefined"] {
            #expect(syntaxReason(verifyDecode(verifyBody(with: #""x":"# + token))) != nil, "\(token)")
        }
    }

    @Test("UTF-8 byte order mark skipped; UTF-16 and UTF-32 refused; 64 KiB at most")
    func encodingAndSize() throws {
        let body = Array(verifyBody(with: #""x":1"#).utf8)
        #expect(try verifyDecode([0xEF, 0xBB, 0xBF] + body).get().username == "a")
        let utf16LE = verifyBody(with: #""x":1"#).utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let utf16BE = verifyBody(with: #""x":1"#).utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        for encoded in [utf16LE, utf16BE, [0xFF, 0xFE] + utf16LE, [0xFE, 0xFF] + utf16BE, [0, 0, 0, 0x7B]] {
            #expect(syntaxReason(verifyDecode(encoded)) == .notUTF8)
        }
        let fillerLength = VerifyMessage.maximumBytes - verifyBody(with: #""x":"""#).utf8.count
        let largest = Array(verifyBody(with: #""x":""# + String(repeating: "f", count: fillerLength) + #"""#).utf8)
        #expect(largest.count == VerifyMessage.maximumBytes)
        #expect((try? verifyDecode(largest).get()) != nil)
        #expect(verifyDecode(largest + [0x20]) == .failure(.init(.tooLarge)))
    }

    @Test("bytes that are not contiguous decode the same")
    func collections() throws {
        let body = Array(verifyBody(with: #""client_ip":"::1""#).utf8)
        #expect(try VerifyMessage.decode(body.lazy.map { $0 }) == verifyDecode(body).get())
        #expect(try VerifyMessage.decode(body[...]) == verifyDecode(body).get())
    }
}

@Suite("/v1/verify body: encoding")
struct VerifyMessageEncodingTests {
    func text(_ answer: VerifyMessage.Answer) -> String { String(decoding: VerifyMessage.encode(answer), as: UTF8.self) }

    @Test("the three answers, keys sorted, app_password_id absent when there is none")
    func answers() {
        #expect(text(.allow(username: "alice@example.org", credential: "app_password", appPasswordID: "ap_1"))
            == #"{"app_password_id":"ap_1","credential":"app_password","result":"allow","username":"alice@example.org"}"#)
        #expect(text(.allow(username: "bob@example.org", credential: "account_password", appPasswordID: nil))
            == #"{"credential":"account_password","result":"allow","username":"bob@example.org"}"#)
        #expect(text(.deny(message: "No.")) == #"{"message":"No.","result":"deny"}"#)
        #expect(text(.tempfail(message: "Later.")) == #"{"message":"Later.","result":"tempfail"}"#)
    }

    static let tricky: [String] = [
        "", "plain", "\"quoted\" \\back\\slash/", "\u{0}\u{1}\u{7}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1B}\u{1F}\u{7F}",
        "Zoë 🦊 ｆｕｌｌ \u{202E}\u{200B}\u{2028}\u{2029}\u{FEFF}\u{FFFF}\u{10FFFF}", "</script>", "a\u{301}", "\r\n",
        String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) }),
    ]

    @Test("strings are escaped exactly as JSONEncoder escapes them, and read back", arguments: tricky)
    func escaping(value: String) throws {
        struct Allowed: Encodable {
            let result = "allow"
            let username: String
            let credential: String
            let appPasswordId: String?
        }
        struct Refused: Encodable {
            let result: String
            let message: String
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let allow = VerifyMessage.encode(.allow(username: value, credential: "app_password", appPasswordID: value))
        #expect(allow == Array(try encoder.encode(Allowed(username: value, credential: "app_password", appPasswordId: value))))
        let deny = VerifyMessage.encode(.deny(message: value))
        #expect(deny == Array(try encoder.encode(Refused(result: "deny", message: value))))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(allow)) as? [String: String])
        #expect(parsed["username"].map { Array($0.unicodeScalars) } == Array(value.unicodeScalars))
        #expect(parsed["app_password_id"].map { Array($0.unicodeScalars) } == Array(value.unicodeScalars))
        let message = try #require(try JSONSerialization.jsonObject(with: Data(deny)) as? [String: String])["message"]
        #expect(message.map { Array($0.unicodeScalars) } == Array(value.unicodeScalars))
    }
}
