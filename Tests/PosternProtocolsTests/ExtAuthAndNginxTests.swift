import Foundation
import Testing
@testable import PosternProtocols

@Suite("ejabberd extauth framing")
struct ExtAuthTests {
    @Test("auth keeps colons in the password; isuser; others refused")
    func commands() {
        var decoder = ExtAuthDecoder()
        let bytes = ExtAuthDecoder.frame("auth:alice:example.org:pa:ss:word") + ExtAuthDecoder.frame("isuser:bob:example.org")
            + ExtAuthDecoder.frame("setpass:alice:example.org:new") + ExtAuthDecoder.frame("tryregister:x:y:z")
            + ExtAuthDecoder.frame("auth:short") + ExtAuthDecoder.frame("isuser:a:b:c")
        #expect(decoder.receive(bytes) == [
            .auth(user: "alice", server: "example.org", password: "pa:ss:word"),
            .isUser(user: "bob", server: "example.org"),
            .refused(command: "setpass"), .refused(command: "tryregister"),
            .refused(command: "auth"), .refused(command: "isuser"),
        ])
        #expect(decoder.bufferedCount == 0)
    }

    @Test("a frame split at every byte decodes once, when complete")
    func partial() {
        let frame = ExtAuthDecoder.frame("auth:u:s:pässword")
        for cut in 0...frame.count {
            var decoder = ExtAuthDecoder()
            let first = decoder.receive(frame[..<cut])
            let second = decoder.receive(frame[cut...])
            #expect(first.count + second.count == 1)
            #expect((first + second).first == .auth(user: "u", server: "s", password: "pässword"))
        }
    }

    @Test("answers are length 2 then 1 or 0; invalid UTF-8 and empty frames are refused")
    func replies() {
        #expect(ExtAuthDecoder.reply(true) == [0, 2, 0, 1])
        #expect(ExtAuthDecoder.reply(false) == [0, 2, 0, 0])
        var decoder = ExtAuthDecoder()
        #expect(decoder.receive([0, 3, 0xFF, 0xFE, 0x61, 0, 0]) == [.refused(command: ""), .refused(command: "")])
    }
}

@Suite("nginx mail auth_http")
struct NginxMailAuthTests {
    func headers(_ values: [String: [UInt8]]) -> (String) -> [UInt8]? { { name in values[name] } }

    @Test("percent-escapes are decoded and raw UTF-8 kept, as nginx sends them")
    func decoding() throws {
        let request = try NginxMailAuth.parse(header: headers([
            "Auth-Method": Array("plain".utf8), "Auth-User": Array("alice@example.org".utf8),
            "Auth-Pass": Array("p%25ss%20w%C3%B6rd".utf8) + [0xC3, 0xA9], "Auth-Protocol": Array("IMAP".utf8),
            "Auth-Login-Attempt": Array("2".utf8), "Client-IP": Array("127.0.0.2".utf8),
        ]))
        #expect(request == .init(username: "alice@example.org", password: "p%ss wördé", mailProtocol: "imap", attempt: 2, clientIP: "127.0.0.2"))
    }

    @Test("bad requests are refused with a reason", arguments: [
        ("Auth-Pass", "bad%zz", NginxMailAuth.ParseError.malformedHeader("Auth-Pass")),
        ("Auth-Pass", "trailing%4", .malformedHeader("Auth-Pass")),
        ("Auth-Method", "cram-md5", .unsupportedMethod("cram-md5")),
        ("Auth-Protocol", "nntp", .malformedHeader("Auth-Protocol")),
        ("Auth-Login-Attempt", "0", .malformedHeader("Auth-Login-Attempt")),
    ])
    func refusals(name: String, value: String, expected: NginxMailAuth.ParseError) {
        var values: [String: [UInt8]] = ["Auth-Method": Array("login".utf8), "Auth-User": Array("a@x.org".utf8),
                                         "Auth-Pass": Array("pw".utf8), "Auth-Protocol": Array("smtp".utf8)]
        values[name] = Array(value.utf8)
        #expect(throws: expected) { try NginxMailAuth.parse(header: headers(values)) }
        values[name] = nil
        if name != "Auth-Login-Attempt" {
            #expect(throws: NginxMailAuth.ParseError.missingHeader(name)) { try NginxMailAuth.parse(header: headers(values)) }
        }
    }

    @Test("invalid UTF-8 in a credential is refused")
    func invalidUTF8() {
        #expect(throws: NginxMailAuth.ParseError.malformedHeader("Auth-User")) {
            try NginxMailAuth.parse(header: headers(["Auth-Method": Array("plain".utf8), "Auth-User": [0x61, 0xFF],
                                                      "Auth-Pass": Array("x".utf8), "Auth-Protocol": Array("imap".utf8)]))
        }
    }

    @Test("allow names the backend, and the backend credentials when configured")
    func allow() {
        let backend = NginxMailAuth.Backend(host: "127.0.0.1", port: 10143)
        let plain = NginxMailAuth.answer(.allow(user: "a@x.org", backend: backend, backendPassword: nil), mailProtocol: "imap", attempt: 1, delay: 0)
        #expect(plain.headers.map { "\($0.0): \($0.1)" } == ["Auth-Status: OK", "Auth-Server: 127.0.0.1", "Auth-Port: 10143"])
        let proxied = NginxMailAuth.answer(.allow(user: "a@x.org", backend: backend, backendPassword: "s3cret"), mailProtocol: "imap", attempt: 1, delay: 0)
        #expect(proxied.headers.suffix(2).map { "\($0.0): \($0.1)" } == ["Auth-User: a@x.org", "Auth-Pass: s3cret"])
    }

    @Test("failures wait with Auth-Wait while retries make sense, then become final and hold back the answer")
    func waits() {
        let first = NginxMailAuth.answer(.deny(message: "No."), mailProtocol: "smtp", attempt: 1, delay: 0)
        #expect(first.headers.map { "\($0.0): \($0.1)" } == ["Auth-Status: No.", "Auth-Error-Code: 535 5.7.8", "Auth-Wait: 1"])
        #expect(first.holdBack == 0)
        let throttled = NginxMailAuth.answer(.deny(message: "No."), mailProtocol: "imap", attempt: 2, delay: 2.5)
        #expect(throttled.headers.map { "\($0.0): \($0.1)" } == ["Auth-Status: [AUTHENTICATIONFAILED] No.", "Auth-Wait: 3"])
        let last = NginxMailAuth.answer(.deny(message: "No."), mailProtocol: "pop3", attempt: NginxMailAuth.attemptsWithWait, delay: 4)
        #expect(last.headers.map { "\($0.0): \($0.1)" } == ["Auth-Status: [AUTH] No."])
        #expect(last.holdBack == 4)
    }

    @Test("temporary failure uses each protocol's temporary code, and no Auth-Wait")
    func temporary() {
        let imap = NginxMailAuth.answer(.temporaryFailure, mailProtocol: "imap", attempt: 1, delay: 0)
        #expect(imap.headers.first?.1.hasPrefix("[UNAVAILABLE] ") == true)
        let smtp = NginxMailAuth.answer(.temporaryFailure, mailProtocol: "smtp", attempt: 1, delay: 0)
        #expect(smtp.headers.map(\.0) == ["Auth-Status", "Auth-Error-Code"])
        #expect(smtp.headers[1].1 == "454 4.7.0")
        let pop = NginxMailAuth.answer(.temporaryFailure, mailProtocol: "pop3", attempt: 1, delay: 0)
        #expect(pop.headers.first?.1.hasPrefix("[SYS/TEMP] ") == true)
    }
}
