import Foundation

/// A strict scanner for the small XML subset clients send Autodiscover in:
/// start and end tags with quoted attributes, text, comments, processing
/// instructions (the `<?xml …?>` declaration) and CDATA sections.
///
/// It knows no DTD. Any other `<!` markup is `.declaration`, and a reference
/// other than the five predefined entities or a character reference is
/// `.entity`, so nothing can be defined, expanded or fetched. It does not
/// check that tags match; `AutodiscoverRequest.Reader` does. The input must
/// already be valid UTF-8: the scanner splits only at ASCII delimiters, which
/// never occur inside a multi-byte character.
struct XMLScanner {
    enum Event {
        case start(name: String, attributes: [(String, String)], empty: Bool)
        case end(name: String)
        case text(String)
    }

    typealias Problem = AutodiscoverRequest.Problem

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        // A byte order mark is allowed before the document.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    /// The next event, nil at the end of the input.
    mutating func next() throws(Problem) -> Event? {
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "<") else { return .text(try text()) }
            if starts(with: "<?") {
                try skip(past: "?>")
            } else if starts(with: "<!--") {
                try skip(past: "-->")
            } else if starts(with: "<![CDATA[") {
                index += 9
                let start = index
                try skip(past: "]]>")
                return .text(try Self.checked(bytes[start..<(index - 3)]))
            } else if starts(with: "<!") {
                throw .declaration
            } else if starts(with: "</") {
                index += 2
                let name = try self.name()
                skipSpace()
                try expect(">")
                return .end(name: name)
            } else {
                return try startTag()
            }
        }
        return nil
    }

    // MARK: - Markup

    private mutating func startTag() throws(Problem) -> Event {
        index += 1
        let name = try self.name()
        var attributes: [(String, String)] = []
        while true {
            let spaced = skipSpace()
            if starts(with: "/>") {
                index += 2
                return .start(name: name, attributes: attributes, empty: true)
            }
            if starts(with: ">") {
                index += 1
                return .start(name: name, attributes: attributes, empty: false)
            }
            guard spaced else { throw .malformed }
            let attribute = try self.name()
            guard !attributes.contains(where: { $0.0 == attribute }) else { throw .malformed }
            skipSpace()
            try expect("=")
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else { throw .malformed }
            let quote = bytes[index]
            index += 1
            guard let end = bytes[index...].firstIndex(of: quote) else { throw .malformed }
            let raw = bytes[index..<end]
            guard !raw.contains(UInt8(ascii: "<")) else { throw .malformed }
            attributes.append((attribute, try Self.decode(raw)))
            index = end + 1
        }
    }

    /// Text up to the next `<`, references decoded.
    private mutating func text() throws(Problem) -> String {
        let start = index
        index = bytes[index...].firstIndex(of: UInt8(ascii: "<")) ?? bytes.count
        return try Self.decode(bytes[start..<index])
    }

    /// A name: a letter, `_`, `:` or any non-ASCII character, then those,
    /// digits, `-` and `.`.
    private mutating func name() throws(Problem) -> String {
        let start = index
        while index < bytes.count, Self.isNameByte(bytes[index], first: index == start) { index += 1 }
        guard index > start else { throw .malformed }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...: true
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."): !first
        default: false
        }
    }

    // MARK: - Bytes

    private func starts(with literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        return literal.withUTF8Buffer { bytes[index..<(index + count)].elementsEqual($0) }
    }

    private mutating func expect(_ literal: StaticString) throws(Problem) {
        guard starts(with: literal) else { throw .malformed }
        index += literal.utf8CodeUnitCount
    }

    /// Moves past the next `literal`; malformed when there is none.
    private mutating func skip(past literal: StaticString) throws(Problem) {
        while index < bytes.count {
            if starts(with: literal) {
                index += literal.utf8CodeUnitCount
                return
            }
            index += 1
        }
        throw .malformed
    }

    @discardableResult
    private mutating func skipSpace() -> Bool {
        let start = index
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        return index > start
    }

    // MARK: - Characters and references

    /// Raw text with its references decoded. Characters XML 1.0 does not
    /// allow (controls other than tab, newline and carriage return) are
    /// malformed, whether written raw or as a character reference.
    static func decode(_ raw: ArraySlice<UInt8>) throws(Problem) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return try checked(raw) }
        var out = ""
        var rest = raw
        while let amp = rest.firstIndex(of: UInt8(ascii: "&")) {
            out += try checked(rest[..<amp])
            let after = rest[(amp + 1)...]
            guard let semicolon = after.prefix(12).firstIndex(of: UInt8(ascii: ";")) else { throw .entity }
            out.unicodeScalars.append(try reference(String(decoding: after[..<semicolon], as: UTF8.self)))
            rest = rest[(semicolon + 1)...]
        }
        return out + (try checked(rest))
    }

    static func reference(_ name: String) throws(Problem) -> Unicode.Scalar {
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard name.hasPrefix("#") else { throw .entity }
            let hex = name.hasPrefix("#x")
            let digits = name.dropFirst(hex ? 2 : 1)
            guard !digits.isEmpty, digits.allSatisfy({ hex ? $0.isHexDigit : $0.isASCII && $0.isNumber }),
                  let value = UInt32(digits, radix: hex ? 16 : 10), let scalar = Unicode.Scalar(value), isXMLChar(scalar) else {
                throw .entity
            }
            return scalar
        }
    }

    static func checked(_ raw: ArraySlice<UInt8>) throws(Problem) -> String {
        let text = String(decoding: raw, as: UTF8.self)
        guard text.unicodeScalars.allSatisfy(isXMLChar) else { throw .malformed }
        return text
    }

    static func isXMLChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }
}
