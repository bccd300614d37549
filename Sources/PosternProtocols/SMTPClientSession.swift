import Foundation

/// The client side of one SMTP delivery (RFC 5321) as a state machine:
/// greeting, EHLO, STARTTLS when offered (or required), AUTH PLAIN or LOGIN,
/// MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT. The driver feeds the
/// server's bytes in and performs the actions; TLS itself is the driver's.
public struct SMTPClientSession: Sendable {
    public struct Configuration: Sendable {
        public var heloName: String
        /// Already inside TLS (smtps://): no STARTTLS.
        public var implicitTLS: Bool
        /// Refuse to go on without TLS (credentials over a non-loopback link).
        public var requireTLS: Bool
        public var username: String?
        public var password: String?
        public var from: String
        public var recipient: String

        public init(heloName: String, implicitTLS: Bool, requireTLS: Bool, username: String?, password: String?, from: String, recipient: String) {
            self.heloName = heloName
            self.implicitTLS = implicitTLS
            self.requireTLS = requireTLS
            self.username = username
            self.password = password
            self.from = from
            self.recipient = recipient
        }
    }

    public enum Failure: Error, Sendable, Equatable {
        /// 4xx, or something that may work later (lost connection, no TLS offered).
        case temporary(String)
        /// 5xx: the server refused for good.
        case permanent(String)
    }

    public enum Action: Sendable, Equatable {
        case send([UInt8])
        /// Start TLS on the connection now, then call `tlsEstablished()`.
        case startTLS
        /// The server accepted the message (250 after the data).
        case delivered
        case fail(Failure)
    }

    enum State: Sendable, Equatable {
        case greeting, ehlo, startTLS, ehloAfterTLS, authPlain, authLoginUser, authLoginPassword, authLoginDone
        case mailFrom, rcptTo, data, body, quit, finished
    }

    public static let maximumReplyBytes = 64 * 1024

    private let configuration: Configuration
    private let message: [UInt8]
    private var state = State.greeting
    private var buffer: [UInt8] = []
    private var replyLines: [String] = []
    private var tls: Bool

    /// `message` is the whole RFC 5322 message; line endings are normalised to
    /// CRLF and lines starting with "." are stuffed.
    public init(configuration: Configuration, message: [UInt8]) {
        self.configuration = configuration
        self.message = message
        self.tls = configuration.implicitTLS
    }

    public var isFinished: Bool { state == .finished }

    public mutating func receive(_ bytes: some Sequence<UInt8>) -> [Action] {
        guard state != .finished else { return [] }
        buffer.append(contentsOf: bytes)
        var actions: [Action] = []
        while state != .finished, let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(buffer[..<newline])
            buffer.removeFirst(newline + 1)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            guard text.count >= 3, let code = Int(text.prefix(3)) else { return actions + finish(.temporary("malformed reply"))}
            replyLines.append(text)
            // "250-…" continues the reply; "250 …" (or just "250") ends it.
            if text.count > 3, text[text.index(text.startIndex, offsetBy: 3)] == "-" { continue }
            let lines = replyLines
            replyLines = []
            actions += reply(code: code, lines: lines)
        }
        if buffer.count > Self.maximumReplyBytes { actions += finish(.temporary("reply too long")) }
        return actions
    }

    /// The TLS handshake asked for by `.startTLS` completed.
    public mutating func tlsEstablished() -> [Action] {
        guard state == .startTLS else { return [] }
        tls = true
        state = .ehloAfterTLS
        return [send("EHLO \(configuration.heloName)")]
    }

    /// The connection closed before the end.
    public mutating func connectionClosed() -> [Action] {
        guard state != .finished, state != .quit else { state = .finished; return [] }
        return finish(.temporary("connection closed by the server"))
    }

    // MARK: - Replies

    private mutating func reply(code: Int, lines: [String]) -> [Action] {
        let summary = lines.joined(separator: " / ")
        func expect(_ wanted: Int) -> Failure? {
            if code == wanted || (wanted == 250 && code == 251) { return nil }
            return code >= 500 ? .permanent(summary) : .temporary(summary)
        }
        switch state {
        case .greeting:
            if let failure = expect(220) { return finish(failure) }
            state = .ehlo
            return [send("EHLO \(configuration.heloName)")]
        case .ehlo, .ehloAfterTLS:
            if let failure = expect(250) { return finish(failure) }
            return afterEHLO(extensions: Set(lines.dropFirst().map { String($0.dropFirst(4)).uppercased() }))
        case .startTLS:
            if let failure = expect(220) { return finish(failure) }
            return [.startTLS]
        case .authPlain, .authLoginDone:
            if let failure = expect(235) { return finish(failure) }
            return mailFrom()
        case .authLoginUser:
            if let failure = expect(334) { return finish(failure) }
            state = .authLoginPassword
            return [send(Data((configuration.username ?? "").utf8).base64EncodedString())]
        case .authLoginPassword:
            if let failure = expect(334) { return finish(failure) }
            state = .authLoginDone
            return [send(Data((configuration.password ?? "").utf8).base64EncodedString())]
        case .mailFrom:
            if let failure = expect(250) { return finish(failure) }
            state = .rcptTo
            return [send("RCPT TO:<\(configuration.recipient)>")]
        case .rcptTo:
            if let failure = expect(250) { return finish(failure) }
            state = .data
            return [send("DATA")]
        case .data:
            if let failure = expect(354) { return finish(failure) }
            state = .body
            return [.send(Self.dotStuffed(message))]
        case .body:
            if let failure = expect(250) { return finish(failure) }
            state = .quit
            return [.delivered, send("QUIT")]
        case .quit:
            state = .finished
            return []
        case .finished:
            return []
        }
    }

    /// After EHLO: STARTTLS when offered (or required), then AUTH when there
    /// are credentials, then the envelope.
    private mutating func afterEHLO(extensions: Set<String>) -> [Action] {
        if !tls, extensions.contains("STARTTLS") {
            state = .startTLS
            return [send("STARTTLS")]
        }
        if !tls, configuration.requireTLS { return finish(.temporary("the server offers no STARTTLS; refusing to send credentials in the clear")) }
        guard let username = configuration.username, let password = configuration.password else { return mailFrom() }
        let mechanisms = Set(extensions.filter { $0.hasPrefix("AUTH") }.flatMap { $0.dropFirst(5).split(separator: " ").map(String.init) })
        if mechanisms.contains("PLAIN") {
            state = .authPlain
            let credentials = Data([0] + Array(username.utf8) + [0] + Array(password.utf8)).base64EncodedString()
            return [send("AUTH PLAIN \(credentials)")]
        }
        if mechanisms.contains("LOGIN") {
            state = .authLoginUser
            return [send("AUTH LOGIN")]
        }
        return finish(.permanent("the server offers neither AUTH PLAIN nor AUTH LOGIN"))
    }

    private mutating func mailFrom() -> [Action] {
        state = .mailFrom
        return [send("MAIL FROM:<\(configuration.from)>")]
    }

    private mutating func finish(_ failure: Failure) -> [Action] {
        state = .finished
        return [.fail(failure)]
    }

    private func send(_ line: String) -> Action { .send(Array((line + "\r\n").utf8)) }

    /// CRLF line endings, a "." doubled at the start of a line, and the
    /// terminating "." line.
    public static func dotStuffed(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 64)
        var atLineStart = true
        var index = 0
        while index < message.count {
            let byte = message[index]
            if atLineStart, byte == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
            if byte == UInt8(ascii: "\r") {
                index += 1
                continue  // CRs are rewritten: every line ends CRLF
            }
            if byte == UInt8(ascii: "\n") {
                out += [13, 10]
                atLineStart = true
            } else {
                out.append(byte)
                atLineStart = false
            }
            index += 1
        }
        if !atLineStart { out += [13, 10] }
        out += Array(".\r\n".utf8)
        return out
    }
}

/// An RFC 5322 message with a plain-text and an HTML part (UTF-8, base64).
public enum MailMessageFormat {
    public static func render(from: String, to: String, subject: String, messageID: String, date: Date,
                              text: String, html: String, boundary: String) -> [UInt8] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        func wrapped(_ text: String) -> String {
            let encoded = Data(text.utf8).base64EncodedString()
            return stride(from: 0, to: encoded.count, by: 76).map { start -> String in
                let from = encoded.index(encoded.startIndex, offsetBy: start)
                return String(encoded[from..<encoded.index(from, offsetBy: min(76, encoded.count - start))])
            }.joined(separator: "\r\n")
        }
        let headers = [
            "From: \(from)", "To: \(to)", "Subject: \(encodedHeader(subject))", "Date: \(formatter.string(from: date))",
            "Message-ID: \(messageID)", "MIME-Version: 1.0", "Auto-Submitted: auto-generated",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
        ]
        let body = [
            "--\(boundary)", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "", wrapped(text),
            "--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", "", wrapped(html),
            "--\(boundary)--", "",
        ]
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + body.joined(separator: "\r\n")).utf8)
    }

    /// RFC 2047 for a header with non-ASCII text; plain ASCII as it is.
    static func encodedHeader(_ text: String) -> String {
        let clean = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.unicodeScalars.allSatisfy({ $0.isASCII }) { return clean }
        return "=?utf-8?b?\(Data(clean.utf8).base64EncodedString())?="
    }
}
