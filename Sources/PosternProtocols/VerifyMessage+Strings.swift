// JSON strings for `VerifyMessage`: strict validation in place (escapes,
// UTF-16 surrogate pairs, UTF-8), unescaping only when the value is wanted,
// and escaping on the way out.

extension VerifyMessage.Scanner {
    /// Where a scanned string's content lies (between its quotes), and
    /// whether it holds an escape, i.e. whether its bytes are its value.
    struct StringToken {
        var content: Range<Int>
        var hasEscapes: Bool
    }

    /// Validates the string starting at the opening quote: every byte below
    /// 0x20 is `.controlCharacter`; an escape other than `\" \\ \/ \b \f \n
    /// \r \t \uXXXX` is `.invalidEscape`; a `\u` high surrogate not followed
    /// by a `\u` low surrogate, or a low one alone, is `.loneSurrogate`; bytes
    /// that are not well-formed UTF-8 (overlong forms, encoded surrogates,
    /// beyond U+10FFFF, truncated) are `.invalidUTF8`.
    mutating func scanString() throws(VerifyMessage.DecodeError) -> StringToken {
        index += 1  // the opening quote
        let start = index
        var hasEscapes = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return StringToken(content: start..<(index - 1), hasEscapes: hasEscapes)
            } else if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else if byte < 0x20 {
                throw fail(.controlCharacter)
            } else if byte < 0x80 {
                index += 1
            } else {
                try scanUTF8Sequence()
            }
        }
        throw fail(.unexpectedEnd)
    }

    /// One escape, starting at its backslash.
    mutating func scanEscape() throws(VerifyMessage.DecodeError) {
        let escape = index
        guard index + 1 < bytes.count else { throw fail(.unexpectedEnd, at: bytes.count) }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
        case UInt8(ascii: "u"):
            let unit = try hexUnit(at: index + 2)
            index += 6
            if (0xDC00...0xDFFF).contains(unit) { throw fail(.loneSurrogate, at: escape) }
            if (0xD800...0xDBFF).contains(unit) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                      (0xDC00...0xDFFF).contains(try hexUnit(at: index + 2)) else {
                    throw fail(.loneSurrogate, at: escape)
                }
                index += 6
            }
        default:
            throw fail(.invalidEscape, at: escape)
        }
    }

    /// The four hex digits at `offset` (either case).
    func hexUnit(at offset: Int) throws(VerifyMessage.DecodeError) -> UInt16 {
        var unit: UInt16 = 0
        for position in offset..<(offset + 4) {
            guard position < bytes.count else { throw fail(.unexpectedEnd, at: bytes.count) }
            let byte = bytes[position]
            let digit: UInt8 = switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: throw fail(.invalidEscape, at: offset - 2)
            }
            unit = unit << 4 | UInt16(digit)
        }
        return unit
    }

    /// One multi-byte UTF-8 sequence starting at `index` (Unicode §3.9, table 3-7).
    mutating func scanUTF8Sequence() throws(VerifyMessage.DecodeError) {
        let lead = bytes[index]
        let (length, second): (Int, ClosedRange<UInt8>) = switch lead {
        case 0xC2...0xDF: (2, 0x80...0xBF)
        case 0xE0: (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (3, 0x80...0xBF)
        case 0xED: (3, 0x80...0x9F)
        case 0xF0: (4, 0x90...0xBF)
        case 0xF1...0xF3: (4, 0x80...0xBF)
        case 0xF4: (4, 0x80...0x8F)
        default: throw fail(.invalidUTF8)
        }
        guard index + length <= bytes.count, second.contains(bytes[index + 1]) else { throw fail(.invalidUTF8) }
        for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 { throw fail(.invalidUTF8) }
        index += length
    }

    /// The value of a string `scanString` accepted.
    func value(of token: StringToken) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[token.content])
        guard token.hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: Self.unescape(raw), as: UTF8.self)
    }

    /// The UTF-8 of a validated string's content with its escapes resolved.
    static func unescape(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        func hex(_ at: Int) -> UInt32 {
            raw[at..<(at + 4)].reduce(0) { $0 << 4 | UInt32(($1 & 0x0F) + ($1 >= UInt8(ascii: "A") ? 9 : 0)) }
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let kind = raw[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex(index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {  // validated: a low surrogate escape follows
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex(index + 2) - 0xDC00)
                    index += 6
                }
                out.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(scalar)!)!)
            default: out.append(kind)  // " \ /
            }
        }
        return out
    }
}

extension VerifyMessage {
    /// Appends `text` as a JSON string, quotes included, escaped exactly as
    /// Foundation's `JSONEncoder` with `.withoutEscapingSlashes` does: `"` and
    /// `\` with a backslash; `\b \t \n \f \r` short; the other bytes below
    /// 0x20 as `\u00xx` (lower-case hex); everything else, DEL and non-ASCII
    /// included, as its UTF-8 bytes.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            let short: UInt8 = switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): byte
            case 0x08: UInt8(ascii: "b")
            case 0x09: UInt8(ascii: "t")
            case 0x0A: UInt8(ascii: "n")
            case 0x0C: UInt8(ascii: "f")
            case 0x0D: UInt8(ascii: "r")
            case 0x00..<0x20: UInt8(ascii: "u")
            default: 0
            }
            guard short != 0 else {
                out.append(byte)
                continue
            }
            out.append(UInt8(ascii: "\\"))
            out.append(short)
            if short == UInt8(ascii: "u") {
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0") + byte >> 4)
                let low = byte & 0x0F
                out.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
