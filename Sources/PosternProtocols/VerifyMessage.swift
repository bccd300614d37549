/// The JSON body of `POST /v1/verify`, read and written by hand: the request
/// a mail or chat server sends on every login, and the three answers.
///
/// **Decoding** accepts exactly the bodies `JSONDecoder` (with
/// `.convertFromSnakeCase`) accepts as the request, where those bodies are
/// JSON (RFC 8259); it is stricter only where Foundation is lenient:
///
/// * One JSON object with the strings `username`, `password` and `protocol`,
///   and optionally `client_ip`, a string or null. Field names match as
///   Foundation's snake-case conversion matches them: the first three
///   exactly; `client_ip` also as `clientIp` and as any `client` (ASCII, any
///   case), one or more `_`, and `ip` (`i`, `I` or `ı`; `p` or `P`).
/// * A field named twice: the first occurrence counts (as in Foundation),
///   the later ones are checked as JSON and ignored.
/// * Other fields, whatever their value, are checked as JSON and skipped.
/// * At most `maximumDepth` containers nested, the body's object included
///   (Foundation's bound); at most `maximumBytes` bytes (the endpoint's).
/// * A leading UTF-8 byte order mark is skipped, as Foundation skips it.
///
/// Refused although Foundation's `JSONDecoder` takes them (documented
/// differences; the fuzz target `verify` allows exactly these):
/// trailing commas (`[1,]`, `{"a":1,}`); numbers outside RFC 8259's grammar
/// (`01`, `1.`, `-`, `1e`); and, in strings Foundation never decodes (values
/// of other fields, repeated fields), bad escapes, lone surrogates, raw
/// control characters and malformed UTF-8; bodies in UTF-16 or UTF-32.
/// These are the `DecodeError.Syntax` cases `isFoundationLenient` names.
/// Foundation's own `JSONSerialization` refuses all of them but the trailing
/// comma and the encodings.
///
/// **Encoding** writes the answers byte for byte as `JSONEncoder` with
/// `.convertToSnakeCase`, `.sortedKeys` and `.withoutEscapingSlashes` wrote
/// them: keys sorted, `app_password_id` absent when there is none.
public enum VerifyMessage {
    /// The largest body accepted: 64 KiB, as every JSON endpoint.
    public static let maximumBytes = 64 * 1024
    /// The most containers nested, counting the body's own object.
    public static let maximumDepth = 512

    /// A decoded request.
    public struct Request: Sendable, Equatable {
        public var username: String
        public var password: String
        /// `protocol`: the service name, not yet checked.
        public var protocolName: String
        /// `client_ip`: nil when absent or null; not yet checked (may be empty).
        public var clientIP: String?

        public init(username: String, password: String, protocolName: String, clientIP: String?) {
            self.username = username
            self.password = password
            self.protocolName = protocolName
            self.clientIP = clientIP
        }
    }

    /// An answer to a request.
    public enum Answer: Sendable, Equatable {
        /// `credential` is `app_password` or `account_password`.
        case allow(username: String, credential: String, appPasswordID: String?)
        case deny(message: String)
        case tempfail(message: String)
    }

    /// Decodes a body, or throws the first problem Foundation's decoder
    /// reports for it (syntax anywhere, then the fields in the order
    /// `username`, `password`, `protocol`, `client_ip`).
    public static func decode(_ body: UnsafeRawBufferPointer) throws(DecodeError) -> Request {
        guard !body.isEmpty else { throw DecodeError(.empty) }
        guard body.count <= maximumBytes else { throw DecodeError(.tooLarge) }
        var scanner = Scanner(body)
        try scanner.skipByteOrderMark()
        let fields = try scanner.scanDocument()
        return try fields.request()
    }

    /// `decode(_:)` for bytes held elsewhere (copied only if not contiguous).
    public static func decode(_ body: some Collection<UInt8>) throws(DecodeError) -> Request {
        let result = body.withContiguousStorageIfAvailable { buffer in
            Result { () throws(DecodeError) -> Request in try decode(UnsafeRawBufferPointer(buffer)) }
        }
        if let result { return try result.get() }
        return try decode(Array(body))
    }

    /// The answer's JSON (UTF-8, no trailing newline).
    public static func encode(_ answer: Answer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        func key(_ name: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        out.append(UInt8(ascii: "{"))
        switch answer {
        case .allow(let username, let credential, let appPasswordID):
            if let appPasswordID {
                key("app_password_id", first: true)
                appendString(appPasswordID, to: &out)
            }
            key("credential", first: appPasswordID == nil)
            appendString(credential, to: &out)
            key("result")
            appendString("allow", to: &out)
            key("username")
            appendString(username, to: &out)
        case .deny(let message), .tempfail(let message):
            key("message", first: true)
            appendString(message, to: &out)
            key("result")
            appendString(answer.isDeny ? "deny" : "tempfail", to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

extension VerifyMessage.Answer {
    var isDeny: Bool {
        if case .deny = self { return true }
        return false
    }
}

// MARK: - Errors

extension VerifyMessage {
    /// Why a body was refused. `message` is the sentence the endpoint has
    /// always answered with (`invalid_json`), naming the field at fault.
    public struct DecodeError: Error, Sendable, Equatable {
        public enum Problem: Sendable, Equatable {
            /// No bytes at all.
            case empty
            /// More than `maximumBytes`.
            case tooLarge
            /// Not JSON; `offset` is the byte where that became certain.
            case notJSON(Syntax, offset: Int)
            /// JSON, but not an object (`null` when it is null).
            case notAnObject(null: Bool)
            case missingField(Field)
            /// A known field holding another type (`null` when it is null).
            case notAString(Field, null: Bool)
        }

        public enum Syntax: Sendable, Equatable, CaseIterable {
            case unexpectedByte, unexpectedEnd, trailingData, tooDeep
            case trailingComma, invalidNumber, invalidEscape, loneSurrogate, controlCharacter, invalidUTF8, notUTF8

            /// Refused here, but taken by Foundation's `JSONDecoder` where it
            /// does not decode the value (see `VerifyMessage`).
            public var isFoundationLenient: Bool {
                switch self {
                case .unexpectedByte, .unexpectedEnd, .trailingData, .tooDeep: false
                case .trailingComma, .invalidNumber, .invalidEscape, .loneSurrogate, .controlCharacter, .invalidUTF8, .notUTF8: true
                }
            }
        }

        /// The fields, by their name on the wire.
        public enum Field: String, Sendable, CaseIterable {
            case username, password
            case `protocol`
            case clientIP = "client_ip"
        }

        public var problem: Problem

        public init(_ problem: Problem) { self.problem = problem }

        public var message: String {
            switch problem {
            case .empty: "Send a JSON object in the request body."
            case .tooLarge: "The request body is larger than \(maximumBytes / 1024) KiB."
            case .notJSON: "The request body is not valid JSON."
            case .notAnObject(let null): "Field the body must be of the right type\(null ? ", not null" : "")."
            case .missingField(let field): "Missing field \u{201C}\(field.rawValue)\u{201D}."
            case .notAString(let field, let null): "Field \u{201C}\(field.rawValue)\u{201D} must be a string\(null ? ", not null" : "")."
            }
        }
    }
}
