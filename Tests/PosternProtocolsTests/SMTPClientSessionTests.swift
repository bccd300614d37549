import Foundation
import Testing
@testable import PosternProtocols

/// Plays a server's side of a transcript against the client session.
private struct Conversation {
    var session: SMTPClientSession
    var sent: [String] = []
    var events: [String] = []

    init(username: String? = nil, password: String? = nil, implicitTLS: Bool = false, requireTLS: Bool = false, message: String = "Subject: x\r\n\r\nhello\r\n") {
        session = SMTPClientSession(configuration: .init(heloName: "postern.example", implicitTLS: implicitTLS, requireTLS: requireTLS,
                                                         username: username, password: password, from: "postern@example.org",
                                                         recipient: "alice@example.org"),
                                    message: Array(message.utf8))
    }

    mutating func server(_ text: String) { apply(session.receive(Array(text.utf8))) }
    mutating func tlsUp() { apply(session.tlsEstablished()) }

    mutating func apply(_ actions: [SMTPClientSession.Action]) {
        for action in actions {
            switch action {
            case .send(let bytes): sent.append(String(decoding: bytes, as: UTF8.self))
            case .startTLS: events.append("starttls")
            case .delivered: events.append("delivered")
            case .fail(let failure): events.append("fail \(failure)")
            }
        }
    }
}

@Suite("SMTP client session")
struct SMTPClientSessionTests {
    @Test("plain delivery: EHLO, MAIL, RCPT, DATA with dot-stuffing, QUIT")
    func plainDelivery() {
        var c = Conversation(message: "Subject: dots\n\n.leading dot\nmiddle . dot\n.\nend")
        c.server("220 mx.example ESMTP\r\n")
        #expect(c.sent == ["EHLO postern.example\r\n"])
        c.server("250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        #expect(c.sent.last == "MAIL FROM:<postern@example.org>\r\n")
        c.server("250 2.1.0 Ok\r\n")
        #expect(c.sent.last == "RCPT TO:<alice@example.org>\r\n")
        c.server("250 2.1.5 Ok\r\n")
        #expect(c.sent.last == "DATA\r\n")
        c.server("354 End data with <CR><LF>.<CR><LF>\r\n")
        #expect(c.sent.last == "Subject: dots\r\n\r\n..leading dot\r\nmiddle . dot\r\n..\r\nend\r\n.\r\n")
        c.server("250 2.0.0 Ok: queued as 1234\r\n")
        #expect(c.events == ["delivered"])
        #expect(c.sent.last == "QUIT\r\n")
        c.server("221 2.0.0 Bye\r\n")
        #expect(c.session.isFinished)
    }

    @Test("STARTTLS when offered, then EHLO again and AUTH PLAIN inside TLS")
    func startTLSAndPlain() {
        var c = Conversation(username: "postern", password: "pä:ss")
        c.server("220 mx ESMTP\r\n250-mx\r\n250-STARTTLS\r\n250 AUTH LOGIN PLAIN\r\n")
        #expect(c.sent == ["EHLO postern.example\r\n", "STARTTLS\r\n"])
        c.server("220 2.0.0 Ready to start TLS\r\n")
        #expect(c.events == ["starttls"])
        c.tlsUp()
        #expect(c.sent.last == "EHLO postern.example\r\n")
        c.server("250-mx\r\n250 AUTH LOGIN PLAIN\r\n")
        let credentials = Data([0] + Array("postern".utf8) + [0] + Array("pä:ss".utf8)).base64EncodedString()
        #expect(c.sent.last == "AUTH PLAIN \(credentials)\r\n")
        c.server("235 2.7.0 Authentication successful\r\n")
        #expect(c.sent.last == "MAIL FROM:<postern@example.org>\r\n")
    }

    @Test("AUTH LOGIN when PLAIN is not offered")
    func authLogin() {
        var c = Conversation(username: "u", password: "p", implicitTLS: true)
        c.server("220 mx\r\n250-mx\r\n250 AUTH LOGIN\r\n")
        #expect(c.sent.last == "AUTH LOGIN\r\n")
        c.server("334 VXNlcm5hbWU6\r\n")
        #expect(c.sent.last == "dQ==\r\n")
        c.server("334 UGFzc3dvcmQ6\r\n")
        #expect(c.sent.last == "cA==\r\n")
        c.server("235 ok\r\n")
        #expect(c.sent.last == "MAIL FROM:<postern@example.org>\r\n")
    }

    @Test("4xx is temporary, 5xx permanent; a lost connection is temporary")
    func failures() {
        var busy = Conversation()
        busy.server("421 4.3.2 Service not available\r\n")
        #expect(busy.events == ["fail temporary(\"421 4.3.2 Service not available\")"])
        var refused = Conversation()
        refused.server("220 mx\r\n250 mx\r\n250 ok\r\n550 5.1.1 No such user\r\n")
        #expect(refused.events == ["fail permanent(\"550 5.1.1 No such user\")"])
        var authFail = Conversation(username: "u", password: "wrong", implicitTLS: true)
        authFail.server("220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n535 5.7.8 Authentication failed\r\n")
        #expect(authFail.events.last?.hasPrefix("fail permanent") == true)
        var lost = Conversation()
        lost.server("220 mx\r\n")
        lost.apply(lost.session.connectionClosed())
        #expect(lost.events == ["fail temporary(\"connection closed by the server\")"])
    }

    @Test("credentials are never sent in the clear when TLS is required and not offered")
    func requireTLS() {
        var c = Conversation(username: "u", password: "secret", requireTLS: true)
        c.server("220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n")
        #expect(c.events.first?.hasPrefix("fail temporary") == true)
        #expect(!c.sent.joined().contains("AUTH"))
    }

    @Test("garbage or an endless reply fails, never traps")
    func garbage() {
        var c = Conversation()
        c.server("hello there\r\n")
        #expect(c.events.first?.hasPrefix("fail temporary") == true)
        var long = Conversation()
        long.server("220-" + String(repeating: "x", count: SMTPClientSession.maximumReplyBytes + 10))
        #expect(long.events.first?.hasPrefix("fail temporary") == true)
    }

    @Test("messages are multipart text and HTML, base64, with an encoded subject and a stable Message-ID")
    func mailFormat() {
        let bytes = MailMessageFormat.render(from: "postern@example.org", to: "alice@example.org", subject: "Grüße",
                                             messageID: "<abc@example.org>", date: Date(timeIntervalSince1970: 0),
                                             text: "plain ü", html: "<p>html</p>", boundary: "b1")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("Subject: =?utf-8?b?\(Data("Grüße".utf8).base64EncodedString())?=\r\n"))
        #expect(text.contains("Message-ID: <abc@example.org>\r\n"))
        #expect(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"))
        #expect(text.contains("Content-Type: multipart/alternative; boundary=\"b1\""))
        #expect(text.contains(Data("plain ü".utf8).base64EncodedString()))
        #expect(text.contains(Data("<p>html</p>".utf8).base64EncodedString()))
        #expect(!text.contains("\n.") && bytes.allSatisfy { $0 < 0x80 }, "7-bit clean")
    }
}
