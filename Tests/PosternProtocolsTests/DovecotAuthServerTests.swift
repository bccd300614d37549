import Foundation
import Testing
@testable import PosternProtocols

private func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
private func b64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

/// Feeds a transcript line by line and collects what the server did.
private struct Session {
    var server = DovecotAuthServer()
    var sent: [String] = []
    var verifications: [DovecotAuthServer.Login] = []
    var closedBecause: String?

    mutating func client(_ text: String) {
        apply(server.receive(Array(text.utf8)))
    }

    /// Answers the latest verification handed out for `id`.
    mutating func answer(_ id: UInt32, _ verdict: DovecotAuthServer.Verdict) {
        guard let login = verifications.last(where: { $0.id == id }) else {
            Issue.record("no verification for request \(id)")
            return
        }
        answer(login, verdict)
    }

    mutating func answer(_ login: DovecotAuthServer.Login, _ verdict: DovecotAuthServer.Verdict) {
        apply(server.finish(login, with: verdict))
    }

    mutating func apply(_ actions: [DovecotAuthServer.Action]) {
        for action in actions {
            switch action {
            case .send(let line): sent.append(line)
            case .verify(let login): verifications.append(login)
            case .close(let reason): closedBecause = reason
            }
        }
    }
}

@Suite("Dovecot auth protocol server")
struct DovecotAuthServerTests {
    @Test("the handshake offers PLAIN and LOGIN and ends with DONE")
    func handshake() {
        let text = DovecotAuthServer.handshake(processID: 42, connectionID: 7, cookie: String(repeating: "a", count: 32))
        #expect(text == "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t42\nCUID\t7\nCOOKIE\t\(String(repeating: "a", count: 32))\nDONE\n")
    }

    /// What Postfix 3.7's xsasl_dovecot_server sends for AUTH PLAIN with an initial response.
    @Test("Postfix transcript: PLAIN with an initial response, then OK with the canonical user")
    func postfixPlain() {
        var s = Session()
        s.client("VERSION\t1\t0\nCPID\t4242\n")
        s.client("AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.2\tsecured\tresp=\(b64("\u{0}Alice@Example.org\u{0}abcd efgh ijkl"))\n")
        #expect(s.verifications == [.init(id: 1, ticket: 1, username: "Alice@Example.org", password: "abcd efgh ijkl", service: "smtp",
                                          remoteIP: "127.0.0.2", localIP: "127.0.0.1", secured: true)])
        #expect(s.sent.isEmpty)
        s.answer(1, .allow(user: "alice@example.org"))
        #expect(s.sent == ["OK\t1\tuser=alice@example.org\n"])
    }

    /// What Prosody's mod_auth_dovecot sends: VERSION 1.1, CPID, AUTH with `resp=`.
    @Test("Prosody transcript: denial and temporary failure carry the flags it reads")
    func prosody() {
        var s = Session()
        s.client("VERSION\t1\t1\nCPID\t99\nAUTH\t3\tPLAIN\tservice=xmpp\tresp=\(b64("\u{0}bob\u{0}wrong"))\n")
        #expect(s.verifications.map(\.id) == [3])
        s.answer(3, .deny(reason: "Authentication failed."))
        #expect(s.sent == ["FAIL\t3\treason=Authentication failed.\n"])
        s.client("AUTH\t4\tPLAIN\tservice=xmpp\tresp=\(b64("\u{0}bob\u{0}x"))\n")
        s.answer(4, .temporaryFailure)
        #expect(s.sent.last == "FAIL\t4\tcode=temp_fail\ttemp\treason=Temporary authentication failure.\n")
    }

    @Test("LOGIN asks for the username, then the password")
    func loginMechanism() {
        var s = Session()
        s.client("VERSION\t1\t2\nAUTH\t9\tLOGIN\tservice=imap\n")
        #expect(s.sent == ["CONT\t9\t\(b64("Username:"))\n"])
        s.client("CONT\t9\t\(b64("carol@example.org"))\n")
        #expect(s.sent.last == "CONT\t9\t\(b64("Password:"))\n")
        s.client("CONT\t9\t\(b64("pässwörd:with\ttab"))\n")
        #expect(s.verifications.first?.username == "carol@example.org")
        #expect(s.verifications.first?.password == "pässwörd:with\ttab")
        #expect(s.verifications.first?.service == "imap")
    }

    @Test("PLAIN without an initial response gets an empty CONT first")
    func plainWithoutInitialResponse() {
        var s = Session()
        s.client("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=smtp\n")
        #expect(s.sent == ["CONT\t1\t\n"])
        s.client("CONT\t1\t\(b64("\u{0}dave@example.org\u{0}secret"))\n")
        #expect(s.verifications.map(\.password) == ["secret"])
    }

    @Test("pipelined requests arriving in one read, answered out of order")
    func pipelined() {
        var s = Session()
        var batch = "VERSION\t1\t2\n"
        for id in 1...5 { batch += "AUTH\t\(id)\tPLAIN\tservice=imap\tresp=\(b64("\u{0}u\(id)@x.org\u{0}p\(id)"))\n" }
        s.client(batch)
        #expect(s.verifications.map(\.id) == [1, 2, 3, 4, 5])
        #expect(s.server.pendingCount == 5)
        for id: UInt32 in [4, 2, 5, 1, 3] { s.answer(id, id % 2 == 0 ? .deny(reason: "Authentication failed.") : .allow(user: "u\(id)@x.org")) }
        #expect(s.sent == ["FAIL\t4\treason=Authentication failed.\n", "FAIL\t2\treason=Authentication failed.\n",
                           "OK\t5\tuser=u5@x.org\n", "OK\t1\tuser=u1@x.org\n", "OK\t3\tuser=u3@x.org\n"])
        #expect(s.server.pendingCount == 0)
    }

    @Test("bytes split at every position give the same result")
    func splitReads() {
        let transcript = "VERSION\t1\t2\nCPID\t1\nAUTH\t1\tPLAIN\tservice=pop3\trip=::1\tresp=\(b64("\u{0}e@x.org\u{0}pw"))\n"
        let bytes = Array(transcript.utf8)
        for cut in 0...bytes.count {
            var server = DovecotAuthServer()
            let actions = server.receive(bytes[..<cut]) + server.receive(bytes[cut...])
            #expect(actions == [.verify(.init(id: 1, ticket: 1, username: "e@x.org", password: "pw", service: "pop3", remoteIP: "::1",
                                              localIP: nil, secured: false))])
        }
    }

    @Test("CANCEL drops a request; its late answer is not sent")
    func cancel() {
        var s = Session()
        s.client("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}b"))\nCANCEL\t1\n")
        s.answer(1, .allow(user: "a@x.org"))
        #expect(s.sent.isEmpty)
    }

    @Test("a cancelled request's late answer is never sent for a new request that reuses its id")
    func cancelledThenReused() {
        var s = Session()
        s.client("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=imap\tresp=\(b64("\u{0}mallory@x.org\u{0}right"))\nCANCEL\t1\n")
        s.client("AUTH\t1\tPLAIN\tservice=imap\tresp=\(b64("\u{0}mallory@x.org\u{0}wrong"))\n")
        #expect(s.closedBecause == nil)
        #expect(s.verifications.map(\.id) == [1, 1])
        let (first, second) = (s.verifications[0], s.verifications[1])
        #expect(first.ticket != second.ticket)
        #expect(second.password == "wrong")

        // The first (cancelled) verification finishes first and allows: nothing is said.
        s.answer(first, .allow(user: "mallory@x.org"))
        #expect(s.sent.isEmpty)
        #expect(s.server.pendingCount == 1, "the second request still waits for its own answer")
        // The second one's own verdict is the one sent under id 1.
        s.answer(second, .deny(reason: "Authentication failed."))
        #expect(s.sent == ["FAIL\t1\treason=Authentication failed.\n"])
        // Answering either again sends nothing.
        s.answer(second, .allow(user: "mallory@x.org"))
        s.answer(first, .allow(user: "mallory@x.org"))
        #expect(s.sent.count == 1)
        #expect(s.server.pendingCount == 0)
    }

    @Test("a cancelled request's verification counts toward the in-flight limit until it finishes")
    func cancelledStillCounts() {
        var s = Session()
        s.client("VERSION\t1\t2\n")
        let limit = DovecotAuthServer.maximumPendingRequests
        for round in 0..<limit {
            s.client("AUTH\t7\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}p\(round)"))\nCANCEL\t7\n")
        }
        #expect(s.closedBecause == nil)
        #expect(s.server.pendingCount == 0 && s.server.abandonedCount == limit)
        // One more while all of them still run is one too many.
        var t = s
        t.client("AUTH\t8\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}p"))\n")
        #expect(t.closedBecause == "too many requests in flight")
        // Once one has finished (its answer dropped), there is room again.
        s.answer(s.verifications[0], .allow(user: "a@x.org"))
        #expect(s.sent.isEmpty)
        #expect(s.server.abandonedCount == limit - 1)
        s.client("AUTH\t8\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}p"))\n")
        #expect(s.closedBecause == nil)
        s.answer(8, .deny(reason: "Authentication failed."))
        #expect(s.sent == ["FAIL\t8\treason=Authentication failed.\n"])
    }

    @Test("tickets are unique on a connection, across ids and mechanisms")
    func ticketsAreUnique() {
        var s = Session()
        s.client("VERSION\t1\t2\n")
        for id in 1...3 { s.client("AUTH\t\(id)\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}p"))\n") }
        s.client("AUTH\t4\tLOGIN\tservice=imap\nCONT\t4\t\(b64("a@x.org"))\nCONT\t4\t\(b64("p"))\n")
        #expect(s.verifications.map(\.ticket) == [1, 2, 3, 4])
        // A login with the right id but a ticket the connection never issued is ignored.
        var forged = s.verifications[0]
        forged.ticket = 99
        s.answer(forged, .allow(user: "a@x.org"))
        #expect(s.sent.filter { $0.hasPrefix("OK") }.isEmpty)
        s.answer(s.verifications[0], .allow(user: "a@x.org"))
        #expect(s.sent.last == "OK\t1\tuser=a@x.org\n")
    }

    @Test("requests that cannot succeed get FAIL with their id")
    func failures() {
        var s = Session()
        s.client("VERSION\t1\t2\n")
        s.client("AUTH\t1\tCRAM-MD5\tservice=imap\n")
        s.client("AUTH\t2\tPLAIN\tservice=imap\tresp=!!notbase64\n")
        s.client("AUTH\t3\tPLAIN\tservice=imap\tresp=\(b64("no-nuls-here"))\n")
        s.client("AUTH\t4\tPLAIN\tservice=imap\tresp=\(b64("mallory@x.org\u{0}alice@x.org\u{0}pw"))\n")
        s.client("AUTH\t5\tPLAIN\tresp=\(b64("\u{0}a@x.org\u{0}pw"))\n")
        s.client("AUTH\t6\tPLAIN\tservice=imap\tresp=\(b64([0, 0x61, 0, 0xFF, 0xFE]))\n")
        s.client("CONT\t77\tabc\n")
        #expect(s.verifications.isEmpty)
        #expect(s.sent.map { $0.split(separator: "\t").prefix(2).joined(separator: " ") } ==
                ["FAIL 1", "FAIL 2", "FAIL 3", "FAIL 4", "FAIL 5", "FAIL 6", "FAIL 77"])
        #expect(s.closedBecause == nil)
    }

    @Test("protocol violations close the connection", arguments: [
        "AUTH\t1\tPLAIN\tservice=imap\n",             // before VERSION
        "VERSION\t2\t0\n",                             // another major version
        "VERSION\t1\t2\nFROB\t1\n",                    // unknown command
        "VERSION\t1\t2\nAUTH\tx\tPLAIN\tservice=imap\n", // id not a number
        "VERSION\t1\t2\nVERSION\t1\t2\n",
    ])
    func violations(transcript: String) {
        var s = Session()
        s.client(transcript)
        #expect(s.closedBecause != nil)
        #expect(s.verifications.isEmpty)
        #expect(s.server.receive(Array("CPID\t1\n".utf8)).isEmpty)
    }

    @Test("a line without an end, longer than the limit, closes the connection")
    func longLine() {
        var s = Session()
        s.client("VERSION\t1\t2\n")
        s.client("AUTH\t1\tPLAIN\tservice=imap\tresp=" + String(repeating: "A", count: DovecotAuthServer.maximumLineBytes))
        #expect(s.closedBecause == "line too long")
    }

    @Test("reusing an id in flight, or too many in flight, closes the connection")
    func inFlightLimits() {
        var s = Session()
        s.client("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}b"))\n")
        s.client("AUTH\t1\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}b"))\n")
        #expect(s.closedBecause != nil)

        var t = Session()
        t.client("VERSION\t1\t2\n")
        for id in 1...DovecotAuthServer.maximumPendingRequests { t.client("AUTH\t\(id)\tLOGIN\tservice=imap\n") }
        #expect(t.closedBecause == nil)
        t.client("AUTH\t9999\tLOGIN\tservice=imap\n")
        #expect(t.closedBecause == "too many requests in flight")
    }

    @Test("tab-escaping round-trips every special character")
    func escaping() {
        let raw = "a\u{0}b\u{1}c\td\re\nf"
        #expect(DovecotTabEscaping.escape(raw) == "a\u{1}0b\u{1}1c\u{1}td\u{1}re\u{1}nf")
        #expect(DovecotTabEscaping.unescape(DovecotTabEscaping.escape(raw)) == raw)
        #expect(DovecotTabEscaping.unescape("x\u{1}ly\u{1}z") == "x\ny" + "z")
        var s = Session()
        s.client("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=im\u{1}tap\trip=1.2.3.4\tresp=\(b64("\u{0}a@x.org\u{0}p"))\n")
        #expect(s.verifications.first?.service == "im\tap")
        s.answer(1, .allow(user: "we\tird"))
        #expect(s.sent == ["OK\t1\tuser=we\u{1}tird\n"])
    }

    @Test("random and truncated input never traps and never verifies garbage")
    func randomInput() {
        var generator = SystemRandomNumberGenerator()
        let good = Array("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=imap\tresp=\(b64("\u{0}a@x.org\u{0}p"))\n".utf8)
        for _ in 0..<2000 {
            var server = DovecotAuthServer()
            var bytes = good
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
            for action in server.receive(bytes) {
                if case .verify(let login) = action { #expect(!login.username.isEmpty) }
            }
        }
    }
}
