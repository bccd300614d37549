// Protocols: the byte-level speech of mail and chat servers' external-auth
// interfaces, as value-type state machines. No sockets, no clocks, no
// decisions: an adapter feeds bytes in, performs the actions that come out,
// and asks the core who may log in.

import Foundation

/// The server side of Dovecot's authentication protocol (v1.x), the one
/// Postfix (`smtpd_sasl_type = dovecot`), Prosody (`mod_auth_dovecot`) and
/// Exim speak to an "auth-client" socket.
///
/// One value per connection. Bytes go in with `receive(_:)`; the returned
/// actions say what to write, which logins to verify, and when to hang up.
/// A verification's answer comes back through `finish(_:with:)`, given the
/// `Login` that `.verify` handed out. Requests may be pipelined: several can
/// be in flight on one connection, and each answer carries its request id.
///
/// A client may CANCEL a request and then reuse its id while the cancelled
/// verification is still running. Each verification therefore carries a
/// ticket, unique on the connection, and `finish` answers only the request
/// that ticket was issued for: a cancelled request's verdict is never sent
/// under a reused id.
///
/// Framing is TAB-separated fields in LF-terminated lines, values escaped
/// with `\u{1}` (see `DovecotTabEscaping`). A line longer than
/// `maximumLineBytes`, a wrong major version, a command before the client's
/// VERSION or a malformed request line closes the connection, as Dovecot's
/// own auth server does. A request that is well formed but cannot succeed
/// (unknown mechanism, bad base64, a PLAIN message without two NULs, an
/// authorization identity other than the user) gets `FAIL` with its id.
public struct DovecotAuthServer: Sendable {
    public static let maximumLineBytes = 16_384
    /// Requests in flight on one connection; more closes it. A cancelled
    /// request whose verification is still running counts until `finish`.
    public static let maximumPendingRequests = 128
    public static let mechanisms = ["PLAIN", "LOGIN"]

    /// A username and password to verify.
    public struct Login: Sendable, Equatable {
        public var id: UInt32
        /// Which verification this is: numbered from 1 on each connection,
        /// never reused, so a late answer cannot be taken for a newer
        /// request with the same id.
        public var ticket: UInt64
        public var username: String
        public var password: String
        /// Dovecot's `service=`: `smtp`, `imap`, `pop3`, `xmpp`…
        public var service: String
        public var remoteIP: String?
        public var localIP: String?
        public var secured: Bool
    }

    public enum Verdict: Sendable, Equatable {
        /// `user` is the canonical name the server should use from now on.
        case allow(user: String)
        /// `reason` is what the client is shown (Postfix appends it to its
        /// 535 reply; Prosody sends it as the SASL failure text).
        case deny(reason: String)
        /// The answer could not be found (store down). Clients must keep their password.
        case temporaryFailure
    }

    public enum Action: Sendable, Equatable {
        /// Write this line (LF included).
        case send(String)
        case verify(Login)
        /// Write nothing more and close; the reason is for the log.
        case close(reason: String)
    }

    enum Step: Sendable, Equatable {
        /// LOGIN: waiting for the username.
        case loginUsername(service: String, params: Params)
        /// LOGIN: have the username, waiting for the password.
        case loginPassword(username: String, service: String, params: Params)
        /// PLAIN without an initial response: waiting for it.
        case plainResponse(service: String, params: Params)
        /// Handed to `verify` with this ticket; waiting for `finish`.
        case verifying(ticket: UInt64)
    }

    struct Params: Sendable, Equatable {
        var remoteIP: String?
        var localIP: String?
        var secured = false
    }

    private var buffer: [UInt8] = []
    private var versionSeen = false
    private var closed = false
    private var pending: [UInt32: Step] = [:]
    private var lastTicket: UInt64 = 0
    /// Tickets of verifications still running for cancelled requests: their
    /// answers are dropped, but the work is real, so they keep counting
    /// toward `maximumPendingRequests` (else AUTH and CANCEL in a loop would
    /// start verifications without bound).
    private var abandoned: Set<UInt64> = []

    public init() {}

    /// The server's half of the handshake, sent as soon as a client connects.
    /// `cookie` is 32 hex digits; it only matters to clients that later use
    /// the master interface, which Postern does not offer.
    public static func handshake(processID: Int32, connectionID: UInt32, cookie: String) -> String {
        var lines = ["VERSION\t1\t2"]
        for mechanism in mechanisms { lines.append("MECH\t\(mechanism)\tplaintext") }
        lines += ["SPID\t\(processID)", "CUID\t\(connectionID)", "COOKIE\t\(cookie)", "DONE"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// True once the connection must be closed; further input is ignored.
    public var isClosed: Bool { closed }

    /// How many requests wait for an answer.
    public var pendingCount: Int { pending.count }

    /// How many cancelled requests' verifications have not finished yet.
    public var abandonedCount: Int { abandoned.count }

    // MARK: - Input

    public mutating func receive(_ bytes: some Sequence<UInt8>) -> [Action] {
        guard !closed else { return [] }
        buffer.append(contentsOf: bytes)
        var actions: [Action] = []
        var start = 0
        while !closed, let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer[start..<newline]
            start = newline + 1
            guard line.count <= Self.maximumLineBytes else {
                actions.append(closeConnection("line too long"))
                break
            }
            actions += handle(line: line)
        }
        buffer.removeFirst(min(start, buffer.count))
        if !closed, buffer.count > Self.maximumLineBytes {
            actions.append(closeConnection("line too long"))
        }
        return actions
    }

    /// The answer for a login handed out by `.verify`. A login whose request
    /// was cancelled, or whose id now belongs to a newer request, is ignored:
    /// the client no longer waits for it.
    public mutating func finish(_ login: Login, with verdict: Verdict) -> [Action] {
        let id = login.id
        if abandoned.remove(login.ticket) != nil { return [] }
        guard !closed, pending[id] == .verifying(ticket: login.ticket) else { return [] }
        pending[id] = nil
        switch verdict {
        case .allow(let user):
            return [.send("OK\t\(id)\tuser=\(DovecotTabEscaping.escape(user))\n")]
        case .deny(let reason):
            return [.send(fail(id, reason: reason))]
        case .temporaryFailure:
            // `temp` for older clients (Prosody), `code=temp_fail` for newer ones.
            return [.send("FAIL\t\(id)\tcode=temp_fail\ttemp\treason=Temporary authentication failure.\n")]
        }
    }

    // MARK: - Commands

    private mutating func handle(line: ArraySlice<UInt8>) -> [Action] {
        var bytes = Array(line)
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return [closeConnection("line is not UTF-8")]
        }
        let fields = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard let command = fields.first, !command.isEmpty else { return [] }
        if !versionSeen {
            guard command == "VERSION", fields.count >= 3 else {
                return [closeConnection("expected VERSION first")]
            }
            guard fields[1] == "1", UInt(fields[2]) != nil else {
                return [closeConnection("unsupported protocol version \(fields[1])")]
            }
            versionSeen = true
            return []
        }
        switch command {
        case "CPID":
            return fields.count >= 2 && UInt32(fields[1]) != nil ? [] : [closeConnection("malformed CPID")]
        case "AUTH":
            return auth(fields)
        case "CONT":
            return cont(fields)
        case "CANCEL":
            guard fields.count >= 2, let id = UInt32(fields[1]) else { return [closeConnection("malformed CANCEL")] }
            if case .verifying(let ticket) = pending[id] { abandoned.insert(ticket) }
            pending[id] = nil
            return []
        case "VERSION":
            return [closeConnection("VERSION sent twice")]
        default:
            return [closeConnection("unknown command")]
        }
    }

    private mutating func auth(_ fields: [String]) -> [Action] {
        guard fields.count >= 3, let id = UInt32(fields[1]) else { return [closeConnection("malformed AUTH")] }
        guard pending[id] == nil else { return [closeConnection("request id \(id) reused while in use")] }
        guard pending.count + abandoned.count < Self.maximumPendingRequests else { return [closeConnection("too many requests in flight")] }
        let mechanism = fields[2].uppercased()
        var service: String?
        var params = Params()
        var initial: String?
        for field in fields.dropFirst(3) {
            let (name, value) = Self.split(field)
            switch name {
            case "service": service = value.map(DovecotTabEscaping.unescape)
            case "rip": params.remoteIP = value.map(DovecotTabEscaping.unescape)
            case "lip": params.localIP = value.map(DovecotTabEscaping.unescape)
            case "secured": params.secured = true
            case "resp": initial = value.map(DovecotTabEscaping.unescape) ?? ""
            default: continue  // unknown optional parameters are ignored, per the protocol
            }
        }
        guard let service, !service.isEmpty else { return [.send(fail(id, reason: "Missing service."))] }
        switch mechanism {
        case "PLAIN":
            guard let initial else {
                pending[id] = .plainResponse(service: service, params: params)
                return [.send("CONT\t\(id)\t\n")]
            }
            return plain(id: id, base64: initial, service: service, params: params)
        case "LOGIN":
            // LOGIN has no initial response; Dovecot ignores one if given.
            pending[id] = .loginUsername(service: service, params: params)
            return [.send("CONT\t\(id)\t\(Data("Username:".utf8).base64EncodedString())\n")]
        default:
            return [.send(fail(id, reason: "Unsupported authentication mechanism."))]
        }
    }

    private mutating func cont(_ fields: [String]) -> [Action] {
        guard fields.count >= 2, let id = UInt32(fields[1]) else { return [closeConnection("malformed CONT")] }
        let data = fields.count >= 3 ? DovecotTabEscaping.unescape(fields[2]) : ""
        guard let step = pending[id] else {
            // Continuing an unknown request: the client is confused; Dovecot
            // answers FAIL rather than dropping everything in flight.
            return [.send(fail(id, reason: "Unknown request."))]
        }
        switch step {
        case .plainResponse(let service, let params):
            pending[id] = nil
            return plain(id: id, base64: data, service: service, params: params)
        case .loginUsername(let service, let params):
            guard let username = Self.decodeText(data), !username.isEmpty else {
                pending[id] = nil
                return [.send(fail(id, reason: "Invalid username."))]
            }
            pending[id] = .loginPassword(username: username, service: service, params: params)
            return [.send("CONT\t\(id)\t\(Data("Password:".utf8).base64EncodedString())\n")]
        case .loginPassword(let username, let service, let params):
            pending[id] = nil
            guard let password = Self.decodeText(data) else { return [.send(fail(id))] }
            return verify(id: id, username: username, password: password, service: service, params: params)
        case .verifying:
            return [closeConnection("CONT for a request being verified")]
        }
    }

    private mutating func plain(id: UInt32, base64: String, service: String, params: Params) -> [Action] {
        guard let message = Self.decodeBase64(base64) else { return [.send(fail(id, reason: "Invalid base64 data."))] }
        guard let credentials = SASLPlain.parse(message) else { return [.send(fail(id, reason: "Invalid PLAIN message."))] }
        return verify(id: id, username: credentials.authcid, password: credentials.password, service: service, params: params)
    }

    private mutating func verify(id: UInt32, username: String, password: String, service: String, params: Params) -> [Action] {
        lastTicket += 1
        pending[id] = .verifying(ticket: lastTicket)
        return [.verify(Login(id: id, ticket: lastTicket, username: username, password: password, service: service,
                              remoteIP: params.remoteIP, localIP: params.localIP, secured: params.secured))]
    }

    // MARK: - Helpers

    private mutating func closeConnection(_ reason: String) -> Action {
        closed = true
        pending.removeAll()
        abandoned.removeAll()
        buffer.removeAll()
        return .close(reason: reason)
    }

    private func fail(_ id: UInt32, reason: String = "Authentication failed.") -> String {
        "FAIL\t\(id)\treason=\(DovecotTabEscaping.escape(reason))\n"
    }

    private static func split(_ field: String) -> (String, String?) {
        guard let equals = field.firstIndex(of: "=") else { return (field, nil) }
        return (String(field[..<equals]), String(field[field.index(after: equals)...]))
    }

    /// Base64 as clients send it; a lone "=" means empty (Prosody sends it).
    static func decodeBase64(_ text: String) -> [UInt8]? {
        if text.isEmpty || text == "=" { return [] }
        return Data(base64Encoded: text).map(Array.init)
    }

    static func decodeText(_ base64: String) -> String? {
        decodeBase64(base64).flatMap { String(validating: $0, as: UTF8.self) }
    }
}

/// RFC 4616 PLAIN: `[authzid] NUL authcid NUL passwd`, all UTF-8.
public enum SASLPlain {
    public struct Credentials: Sendable, Equatable {
        public var authzid: String
        public var authcid: String
        public var password: String
    }

    /// Nil unless the message has exactly two NULs, valid UTF-8, a non-empty
    /// user, and an authorization identity that is empty or the user itself
    /// (Postern lets nobody log in as someone else).
    public static func parse(_ message: [UInt8]) -> Credentials? {
        let parts = message.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3,
              let authzid = String(validating: parts[0], as: UTF8.self),
              let authcid = String(validating: parts[1], as: UTF8.self),
              let password = String(validating: parts[2], as: UTF8.self),
              !authcid.isEmpty
        else { return nil }
        guard authzid.isEmpty || authzid == authcid else { return nil }
        return Credentials(authzid: authzid, authcid: authcid, password: password)
    }
}

/// Dovecot's tab-escaping: `\u{1}` followed by `0` NUL, `1` itself, `t` TAB,
/// `r` CR, `n` LF; any other character after it stands for itself.
public enum DovecotTabEscaping {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\u{0}": out += "\u{1}0"
            case "\u{1}": out += "\u{1}1"
            case "\t": out += "\u{1}t"
            case "\r": out += "\u{1}r"
            case "\n": out += "\u{1}n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    public static func unescape(_ text: String) -> String {
        guard text.unicodeScalars.contains("\u{1}") else { return text }
        var out = String.UnicodeScalarView()
        var escaping = false
        for scalar in text.unicodeScalars {
            if escaping {
                switch scalar {
                case "0": out.append("\u{0}")
                case "1": out.append("\u{1}")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "n", "l": out.append("\n")
                default: out.append(scalar)
                }
                escaping = false
            } else if scalar == "\u{1}" {
                escaping = true
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
