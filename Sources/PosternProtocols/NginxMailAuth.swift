import Foundation

/// nginx's `ngx_mail_auth_http_module`: the request headers it sends for a
/// mail login, and the `Auth-*` headers that answer it.
///
/// nginx %-escapes `Auth-User` and `Auth-Pass` (space, `%`, control
/// characters) but leaves bytes above 0x7F raw, so a UTF-8 password arrives
/// as UTF-8 with only those few bytes escaped.
public enum NginxMailAuth {
    /// Failures that get `Auth-Wait` (so nginx lets the client try again on
    /// the same connection). From this attempt on, the answer is final and
    /// nginx closes the connection.
    public static let attemptsWithWait = 3

    public struct Request: Sendable, Equatable {
        public var username: String
        public var password: String
        /// `imap`, `pop3` or `smtp`.
        public var mailProtocol: String
        /// `Auth-Login-Attempt`, 1 for the first.
        public var attempt: Int
        /// `Client-IP`, as nginx saw the client.
        public var clientIP: String?
    }

    public enum ParseError: Error, Equatable, Sendable {
        case missingHeader(String)
        case malformedHeader(String)
        /// APOP and CRAM-MD5 need the server to know the plain password;
        /// `none` is SMTP without AUTH. Postern answers neither.
        case unsupportedMethod(String)
    }

    /// Reads the request from a header lookup that returns raw bytes.
    public static func parse(header: (String) -> [UInt8]?) throws(ParseError) -> Request {
        func text(_ name: String) throws(ParseError) -> String {
            guard let raw = header(name) else { throw .missingHeader(name) }
            guard let value = String(validating: raw, as: UTF8.self) else { throw .malformedHeader(name) }
            return value
        }
        func escaped(_ name: String) throws(ParseError) -> String {
            guard let raw = header(name) else { throw .missingHeader(name) }
            guard let bytes = percentDecode(raw), let value = String(validating: bytes, as: UTF8.self) else {
                throw .malformedHeader(name)
            }
            return value
        }
        let method = try text("Auth-Method").lowercased()
        guard method == "plain" || method == "login" else { throw .unsupportedMethod(method) }
        let mailProtocol = try text("Auth-Protocol").lowercased()
        guard ["imap", "pop3", "smtp"].contains(mailProtocol) else { throw .malformedHeader("Auth-Protocol") }
        var attempt = 1
        if header("Auth-Login-Attempt") != nil {
            guard let value = Int(try text("Auth-Login-Attempt")), value >= 1 else { throw .malformedHeader("Auth-Login-Attempt") }
            attempt = value
        }
        let clientIP = header("Client-IP") == nil ? nil : try text("Client-IP")
        return Request(username: try escaped("Auth-User"), password: try escaped("Auth-Pass"),
                       mailProtocol: mailProtocol, attempt: attempt, clientIP: clientIP)
    }

    /// `%XX` → byte; every other byte as it is. Nil for a `%` not followed by
    /// two hex digits.
    public static func percentDecode(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: - Answers

    /// Where nginx sends an allowed client, and optionally what it says there.
    public struct Backend: Sendable, Equatable {
        /// An IP address: nginx does not resolve names here.
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public enum Verdict: Sendable, Equatable {
        /// `backendPassword`, when set, is sent as `Auth-Pass` with the
        /// canonical user as `Auth-User`, so the backend trusts the proxy
        /// instead of checking the app password again.
        case allow(user: String, backend: Backend, backendPassword: String?)
        case deny(message: String)
        case temporaryFailure
    }

    public struct Answer: Sendable, Equatable {
        public var headers: [(String, String)]
        /// How long to hold the HTTP answer back before sending it (seconds):
        /// non-zero only when the delay cannot be carried by `Auth-Wait`.
        public var holdBack: Double

        public static func == (a: Answer, b: Answer) -> Bool {
            a.holdBack == b.holdBack && a.headers.map { "\($0.0): \($0.1)" } == b.headers.map { "\($0.0): \($0.1)" }
        }
    }

    /// The headers for a decision. `delay` is the throttle's wait in seconds:
    /// while retries make sense it becomes `Auth-Wait` (at least 1 s, so
    /// nginx paces guesses); on the last attempts the answer itself waits and
    /// then nginx closes the connection.
    public static func answer(_ verdict: Verdict, mailProtocol: String, attempt: Int, delay: Double) -> Answer {
        switch verdict {
        case .allow(let user, let backend, let backendPassword):
            var headers = [("Auth-Status", "OK"), ("Auth-Server", backend.host), ("Auth-Port", String(backend.port))]
            if let backendPassword {
                // nginx passes these on verbatim: a canonical username has no white
                // space, and the backend password is checked to be printable ASCII.
                headers += [("Auth-User", user), ("Auth-Pass", backendPassword)]
            }
            return Answer(headers: headers, holdBack: delay)
        case .deny(let message):
            var headers = [("Auth-Status", failureText(message, mailProtocol: mailProtocol, temporary: false))]
            if mailProtocol == "smtp" { headers.append(("Auth-Error-Code", "535 5.7.8")) }
            if attempt < attemptsWithWait {
                headers.append(("Auth-Wait", String(max(1, Int(delay.rounded(.up))))))
                return Answer(headers: headers, holdBack: 0)
            }
            return Answer(headers: headers, holdBack: delay)
        case .temporaryFailure:
            var headers = [("Auth-Status", failureText("Temporary authentication failure, try again later.",
                                                        mailProtocol: mailProtocol, temporary: true))]
            if mailProtocol == "smtp" { headers.append(("Auth-Error-Code", "454 4.7.0")) }
            return Answer(headers: headers, holdBack: 0)
        }
    }

    /// The client-facing text, with the protocol's response code so clients
    /// know whether to ask for a new password (RFC 5530 for IMAP, RFC 3206
    /// for POP3).
    static func failureText(_ message: String, mailProtocol: String, temporary: Bool) -> String {
        let clean = String(message.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        switch mailProtocol {
        case "imap": return (temporary ? "[UNAVAILABLE] " : "[AUTHENTICATIONFAILED] ") + clean
        case "pop3": return (temporary ? "[SYS/TEMP] " : "[AUTH] ") + clean
        default: return clean
        }
    }
}
