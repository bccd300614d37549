import Foundation
import Testing
@testable import PosternProtocols

/// Decodes `text` (as UTF-8) or returns the refusal.
func verifyDecode(_ text: String) -> Result<VerifyMessage.Request, VerifyMessage.DecodeError> {
    verifyDecode(Array(text.utf8))
}

func verifyDecode(_ bytes: [UInt8]) -> Result<VerifyMessage.Request, VerifyMessage.DecodeError> {
    Result { () throws(VerifyMessage.DecodeError) in try VerifyMessage.decode(bytes) }
}

/// The syntax reason a refusal gives, if it is one.
func syntaxReason(_ result: Result<VerifyMessage.Request, VerifyMessage.DecodeError>) -> VerifyMessage.DecodeError.Syntax? {
    guard case .failure(let error) = result, case .notJSON(let reason, _) = error.problem else { return nil }
    return reason
}

let verifyRest = #""password":"p","protocol":"imap""#

/// A body with `username` "a", the other required fields, and `member` (`"key":value`) in the middle.
func verifyBody(with member: String) -> String { #"{"username":"a","# + member + "," + verifyRest + "}" }

@Suite("/v1/verify body: decoding")
struct VerifyMessageDecodingTests {
    @Test("the four fields, client_ip absent, null, empty or an address")
    func fields() throws {
        let request = try verifyDecode(#"{"username":"alice@example.org","password":"abcd efgh ijkl","protocol":"imap","client_ip":"203.0.113.7"}"#).get()
        #expect(request == VerifyMessage.Request(username: "alice@example.org", password: "abcd efgh ijkl", protocolName: "imap",
                                                 clientIP: "203.0.113.7"))
        #expect(try verifyDecode("{" + #""username":"a","# + verifyRest + "}").get().clientIP == nil)
        #expect(try verifyDecode(verifyBody(with: #""client_ip":null"#)).get().clientIP == nil)
        #expect(try verifyDecode(verifyBody(with: #""client_ip":"""#)).get().clientIP == "")
        #expect(try verifyDecode(#"{"protocol":"smtp","client_ip":"::1","password":"","username":""}"#).get()
            == VerifyMessage.Request(username: "", password: "", protocolName: "smtp", clientIP: "::1"))
    }

    @Test("escapes, surrogate pairs and raw UTF-8 decode to the same scalars", arguments: [
        (#"\"\\\/\b\f\n\r\t"#, "\"\\/\u{8}\u{C}\n\r\t"),
        (#"\u00e9\u00E9\u0000\u001F\u007f"#, "éé\u{0}\u{1F}\u{7F}"),
        (#"\uD83D\uDE00\ud83e\udd8a"#, "😀🦊"),
        (#"\uFFFF\uFEFF\u2028"#, "\u{FFFF}\u{FEFF}\u{2028}"),
        ("Zoë 🦊 ｆｕｌｌ \u{202E}x \u{10FFFF}", "Zoë 🦊 ｆｕｌｌ \u{202E}x \u{10FFFF}"),
        (#"a\u0301"#, "a\u{301}"),
    ])
    func escapes(escaped: String, expected: String) throws {
        let request = try verifyDecode(#"{"username":""# + escaped + #"","# + verifyRest + "}").get()
        #expect(Array(request.username.unicodeScalars) == Array(expected.unicodeScalars))
    }

    @Test("whitespace is space, tab, LF and CR anywhere between tokens; nothing else")
    func whitespace() throws {
        let spaced = " \t\r\n{ \n\"username\"\t:\r\"a\" ,\n\"password\" : \"p\"\r\n,\"protocol\":\"imap\" \t}\n\r "
        #expect(try verifyDecode(spaced).get().username == "a")
        for other in ["\u{0C}", "\u{0B}", "\u{A0}", "\u{FEFF}\u{FEFF}", "\u{2028}", "\u{0}"] {
            #expect(syntaxReason(verifyDecode(other + verifyBody(with: #""x":1"#))) != nil, "\(other.debugDescription)")
            #expect(syntaxReason(verifyDecode(#"{"username":"a","# + other + verifyRest + "}")) != nil, "\(other.debugDescription)")
        }
    }

    @Test("other fields are skipped whatever they hold", arguments: [
        #""x":"s""#, #""x":"\ud83d\ude00\n""#, #""x":0"#, #""x":-0"#, #""x":1.5e-3"#, #""x":1E+2"#, #""x":-12.5E10"#,
        #""x":123456789012345678901234567890"#, #""x":1e400"#, #""x":true"#, #""x":false"#, #""x":null"#, #""x":[]"#, #""x":{}"#,
        #""x":[1,"a",[null,{}],{"y":[true,false]}]"#, #""x":{"username":1,"password":[],"client_ip":{}}"#, #""":"""#,
        #""\u0000":0"#, #""USERNAME":1"#, #""user_name":1"#, #""_client_ip":1"#, #""client_ip_":1"#, #""clientIP":1"#,
        #""client_i_p":1"#, #""clientip":1"#, #""client_İp":1"#, #""client-ip":1"#,
    ])
    func unknownFields(member: String) throws {
        #expect(try verifyDecode(verifyBody(with: member)).get() == VerifyMessage.Request(username: "a", password: "p",
                                                                                         protocolName: "imap", clientIP: nil))
    }

    @Test("client_ip under every spelling snake-case conversion maps to it", arguments: [
        "client_ip", "clientIp", "CLIENT_IP", "Client_Ip", "cLiEnT_iP", "client__ip", "client___IP", "client_ıp", "client_ıP",
        #"client\u005fip"#, #"\u0063lient_ip"#,
    ])
    func clientIPSpellings(name: String) throws {
        #expect(try verifyDecode(verifyBody(with: #"""# + name + #"":"192.0.2.1""#)).get().clientIP == "192.0.2.1")
    }

    @Test("missing fields are named in declaration order")
    func missing() {
        let cases = [
            ("{}", "Missing field \u{201C}username\u{201D}."),
            (#"{"password":"p","protocol":"imap"}"#, "Missing field \u{201C}username\u{201D}."),
            (#"{"username":"a","protocol":"imap"}"#, "Missing field \u{201C}password\u{201D}."),
            (#"{"username":"a","password":"p"}"#, "Missing field \u{201C}protocol\u{201D}."),
            (#"{"Username":"a","password":"p","protocol":"imap"}"#, "Missing field \u{201C}username\u{201D}."),
        ]
        for (body, message) in cases {
            guard case .failure(let error) = verifyDecode(body) else {
                Issue.record("accepted \(body)")
                continue
            }
            #expect(error.message == message, "\(body)")
        }
    }

    @Test("a known field of another type is named; the first problem in declaration order wins")
    func wrongTypes() {
        for field in VerifyMessage.DecodeError.Field.allCases {
            for value in ["1", "true", "false", "{}", "[\"a\"]", "1e400", "null"] {
                let members = VerifyMessage.DecodeError.Field.allCases.map { "\"\($0.rawValue)\":" + ($0 == field ? value : "\"v\"") }
                let result = verifyDecode("{" + members.joined(separator: ",") + "}")
                if field == .clientIP, value == "null" {
                    #expect((try? result.get().clientIP) == .some(nil))
                    continue
                }
                let expected = VerifyMessage.DecodeError(.notAString(field, null: value == "null"))
                #expect(result == .failure(expected), "\(field) \(value)")
                #expect(expected.message == "Field \u{201C}\(field.rawValue)\u{201D} must be a string\(value == "null" ? ", not null" : "").")
            }
        }
        #expect(verifyDecode(#"{"username":1}"#) == .failure(.init(.notAString(.username, null: false))))
        #expect(verifyDecode(#"{"password":1,"username":null}"#) == .failure(.init(.notAString(.username, null: true))))
        #expect(verifyDecode(#"{"username":"a","password":"p","protocol":"imap","client_ip":5}"#)
            == .failure(.init(.notAString(.clientIP, null: false))))
    }

    @Test("a repeated field: the first occurrence counts, the later ones must still be JSON")
    func duplicates() throws {
        #expect(try verifyDecode(#"{"username":"a","username":"b","# + verifyRest + "}").get().username == "a")
        #expect(try verifyDecode(#"{"username":"a","username":5,"# + verifyRest + "}").get().username == "a")
        #expect(verifyDecode(#"{"username":5,"username":"b","# + verifyRest + "}") == .failure(.init(.notAString(.username, null: false))))
        #expect(try verifyDecode(verifyBody(with: #""client_ip":"1","CLIENT_IP":"2""#)).get().clientIP == "1")
        #expect(try verifyDecode(verifyBody(with: #""client_ip":null,"clientIp":"2""#)).get().clientIP == nil)
        #expect(syntaxReason(verifyDecode(verifyBody(with: #""username":"\ud800""#))) == .loneSurrogate)
    }

    @Test("a body that is not an object is refused as Foundation words it, after it is checked as JSON")
    func notAnObject() {
        for body in ["[]", "\"x\"", "1", "true", " [1, {\"a\": null}] "] {
            #expect(verifyDecode(body) == .failure(.init(.notAnObject(null: false))), "\(body)")
        }
        #expect(verifyDecode("null") == .failure(.init(.notAnObject(null: true))))
        #expect(VerifyMessage.DecodeError(.notAnObject(null: false)).message == "Field the body must be of the right type.")
        #expect(VerifyMessage.DecodeError(.notAnObject(null: true)).message == "Field the body must be of the right type, not null.")
        #expect(syntaxReason(verifyDecode("[1,")) == .unexpectedEnd)
        #expect(syntaxReason(verifyDecode("nul")) == .unexpectedEnd)
    }

    @Test("anything after the object but whitespace is refused")
    func trailingData() {
        let body = verifyBody(with: #""x":1"#)
        for tail in [" x", "{}", "\u{0}", ",", "]", " 1", "\"\""] {
            #expect(syntaxReason(verifyDecode(body + tail)) == .trailingData, "\(tail.debugDescription)")
        }
        #expect((try? verifyDecode(body + " \n").get()) != nil)
    }

    @Test("every proper prefix of a body is refused as not JSON")
    func truncated() {
        let body = Array(verifyBody(with: #""x":[1.5e3,true,null,{"k":"\u00e9\ud83d\ude00"}],"client_ip":"::1""#).utf8)
        #expect((try? verifyDecode(body).get()) != nil)
        for cut in 1..<body.count {
            #expect(syntaxReason(verifyDecode(Array(body[..<cut]))) != nil, "\(cut)")
        }
        #expect(verifyDecode([UInt8]()) == .failure(.init(.empty)))
        #expect(VerifyMessage.DecodeError(.empty).message == "Send a JSON object in the request body.")
    }

    @Test("at most 512 containers deep, the body's object included")
    func nesting() {
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        func objects(_ depth: Int) -> String { String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth) }
        #expect((try? verifyDecode(verifyBody(with: #""x":"# + nested(511))).get()) != nil)
        #expect((try? verifyDecode(verifyBody(with: #""x":"# + objects(511))).get()) != nil)
        #expect(syntaxReason(verifyDecode(verifyBody(with: #""x":"# + nested(512)))) == .tooDeep)
        #expect(syntaxReason(verifyDecode(verifyBody(with: #""x":"# + objects(512)))) == .tooDeep)
        #expect(verifyDecode(nested(512)) == .failure(.init(.notAnObject(null: false))))
        #expect(syntaxReason(verifyDecode(nested(513))) == .tooDeep)
        #expect(syntaxReason(verifyDecode(String(repeating: "[", count: 60_000))) == .tooDeep)
        #expect(syntaxReason(verifyDecode(String(repeating: #"{"a":"#, count: 10_000))) == .tooDeep)
    }
}
