// The body as a whole for `VerifyMessage.decode`: the byte order mark, the
// top-level value, the object's members and which field each one names.

extension VerifyMessage {
    /// What the body's object said for one field; the first occurrence wins.
    enum Slot {
        case absent, null, other
        case string(String)
    }

    /// The four fields as found, before their types are checked.
    struct Fields {
        var username = Slot.absent
        var password = Slot.absent
        var protocolName = Slot.absent
        var clientIP = Slot.absent

        subscript(field: DecodeError.Field) -> Slot {
            get {
                switch field {
                case .username: username
                case .password: password
                case .protocol: protocolName
                case .clientIP: clientIP
                }
            }
            set {
                switch field {
                case .username: username = newValue
                case .password: password = newValue
                case .protocol: protocolName = newValue
                case .clientIP: clientIP = newValue
                }
            }
        }

        /// The request, or the first problem in declaration order, as
        /// Foundation's synthesized `init(from:)` finds it.
        func request() throws(DecodeError) -> Request {
            func required(_ field: DecodeError.Field) throws(DecodeError) -> String {
                switch self[field] {
                case .string(let value): return value
                case .absent: throw DecodeError(.missingField(field))
                case .null: throw DecodeError(.notAString(field, null: true))
                case .other: throw DecodeError(.notAString(field, null: false))
                }
            }
            let username = try required(.username)
            let password = try required(.password)
            let protocolName = try required(.protocol)
            switch clientIP {
            case .string(let value): return Request(username: username, password: password, protocolName: protocolName, clientIP: value)
            case .absent, .null: return Request(username: username, password: password, protocolName: protocolName, clientIP: nil)
            case .other: throw DecodeError(.notAString(.clientIP, null: false))
            }
        }
    }

    /// The field a member name means after `.convertFromSnakeCase`, if any.
    /// Foundation turns `a_b` into `a` lower-cased plus `b` capitalized, and
    /// leaves a name without an inner `_` alone; so only `client_ip` has
    /// other spellings (see `VerifyMessage`).
    static func field(named name: UnsafeRawBufferPointer) -> DecodeError.Field? {
        switch name.count {
        case 8:
            if name.elementsEqual("username".utf8) { return .username }
            if name.elementsEqual("password".utf8) { return .password }
            if name.elementsEqual("protocol".utf8) { return .protocol }
            if name.elementsEqual("clientIp".utf8) { return .clientIP }
            return nil
        case 9...:
            guard name.prefix(6).elementsEqual("client".utf8, by: { $0 | 0x20 == $1 }) else { return nil }
            var rest = name.dropFirst(6)
            guard rest.first == UInt8(ascii: "_") else { return nil }
            while rest.first == UInt8(ascii: "_") { rest = rest.dropFirst() }
            guard let next = rest.first else { return nil }
            if next | 0x20 == UInt8(ascii: "i") {
                rest = rest.dropFirst()
            } else if rest.starts(with: [0xC4, 0xB1]) {  // ı, whose capital is I
                rest = rest.dropFirst(2)
            } else {
                return nil
            }
            return rest.count == 1 && rest[rest.startIndex] | 0x20 == UInt8(ascii: "p") ? .clientIP : nil
        default:
            return nil
        }
    }
}

extension VerifyMessage.Scanner {
    /// Skips a UTF-8 byte order mark; refuses a UTF-16 or UTF-32 body (by
    /// its byte order mark or a zero byte among the first two) as `.notUTF8`.
    mutating func skipByteOrderMark() throws(VerifyMessage.DecodeError) {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3
        } else if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.prefix(2).contains(0) {
            throw fail(.notUTF8, at: 0)
        }
    }

    /// The top-level value and nothing after it but whitespace. A value that
    /// is not an object is still checked as JSON first, as Foundation does.
    mutating func scanDocument() throws(VerifyMessage.DecodeError) -> VerifyMessage.Fields {
        skipWhitespace()
        let first = try current()
        var fields: VerifyMessage.Fields?
        if first == UInt8(ascii: "{") {
            fields = try scanObject()
        } else {
            try skipValue(depth: 0)
        }
        skipWhitespace()
        guard atEnd else { throw fail(.trailingData) }
        guard let fields else { throw VerifyMessage.DecodeError(.notAnObject(null: first == UInt8(ascii: "n"))) }
        return fields
    }

    /// The body's object, starting at `{`: each member's name is matched to
    /// a field; a field's first value is kept, every other value skipped.
    mutating func scanObject() throws(VerifyMessage.DecodeError) -> VerifyMessage.Fields {
        var fields = VerifyMessage.Fields()
        index += 1
        skipWhitespace()
        if try current() == UInt8(ascii: "}") {
            index += 1
            return fields
        }
        while true {
            guard try current() == UInt8(ascii: "\"") else { throw fail(.unexpectedByte) }
            let field = fieldNamed(by: try scanString())
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            if let field, case .absent = fields[field] {
                fields[field] = try scanFieldValue()
            } else {
                try skipValue(depth: 1)
            }
            skipWhitespace()
            if try current() == UInt8(ascii: "}") {
                index += 1
                return fields
            }
            try expect(UInt8(ascii: ","))
            skipWhitespace()
            if try current() == UInt8(ascii: "}") { throw fail(.trailingComma) }
        }
    }

    func fieldNamed(by token: StringToken) -> VerifyMessage.DecodeError.Field? {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[token.content])
        guard token.hasEscapes else { return VerifyMessage.field(named: raw) }
        return Self.unescape(raw).withUnsafeBytes { VerifyMessage.field(named: $0) }
    }

    /// A known field's value: a string, null, or (checked and skipped) anything else.
    mutating func scanFieldValue() throws(VerifyMessage.DecodeError) -> VerifyMessage.Slot {
        switch try current() {
        case UInt8(ascii: "\""):
            return .string(value(of: try scanString()))
        case UInt8(ascii: "n"):
            try scanLiteral()
            return .null
        default:
            try skipValue(depth: 1)
            return .other
        }
    }
}
