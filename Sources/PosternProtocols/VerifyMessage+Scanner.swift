// The strict RFC 8259 scanner under `VerifyMessage.decode`: it walks the body
// bytes once, in place, and never allocates except to unescape a string whose
// value is wanted (or to track containers nested in a skipped value).

extension VerifyMessage {
    /// A cursor over the body bytes. Every `scan…` method starts at the first
    /// byte of its token and leaves `index` just past it, or throws
    /// `.notJSON(reason, offset:)` with the offset of the offending byte.
    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        func fail(_ reason: DecodeError.Syntax, at offset: Int? = nil) -> DecodeError {
            DecodeError(.notJSON(reason, offset: offset ?? index))
        }

        /// The next byte, or `.unexpectedEnd`.
        func current() throws(DecodeError) -> UInt8 {
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            return bytes[index]
        }

        /// Space, tab, line feed and carriage return, and nothing else (RFC 8259 §2).
        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ byte: UInt8) throws(DecodeError) {
            guard try current() == byte else { throw fail(.unexpectedByte) }
            index += 1
        }

        // MARK: - Literals and numbers

        /// `true`, `false` or `null`, starting at its first byte.
        mutating func scanLiteral() throws(DecodeError) {
            let word: StaticString = switch try current() {
            case UInt8(ascii: "t"): "true"
            case UInt8(ascii: "f"): "false"
            default: "null"
            }
            for offset in 0..<word.utf8CodeUnitCount {
                guard index + offset < bytes.count else { throw fail(.unexpectedEnd, at: bytes.count) }
                guard bytes[index + offset] == word.utf8Start[offset] else { throw fail(.unexpectedByte, at: index + offset) }
            }
            index += word.utf8CodeUnitCount
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. The whole
        /// run of number-like bytes (`0-9 . e E + -`) is one token, so `01`,
        /// `1.` or `1e5e5` is `.invalidNumber`, not a number and then garbage.
        mutating func scanNumber() throws(DecodeError) {
            let start = index
            var end = index
            while end < bytes.count, Self.isNumberByte(bytes[end]) { end += 1 }
            guard Self.isStrictNumber(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) else {
                throw fail(.invalidNumber, at: start)
            }
            index = end
        }

        static func isNumberByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                 UInt8(ascii: "+"), UInt8(ascii: "-"): true
            default: false
            }
        }

        static func isStrictNumber(_ token: UnsafeRawBufferPointer) -> Bool {
            var index = 0
            func digits() -> Int {
                let start = index
                while index < token.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(token[index]) { index += 1 }
                return index - start
            }
            if index < token.count, token[index] == UInt8(ascii: "-") { index += 1 }
            guard index < token.count else { return false }
            if token[index] == UInt8(ascii: "0") { index += 1 } else if digits() == 0 { return false }
            if index < token.count, token[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return false }
            }
            if index < token.count, token[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                if index < token.count, token[index] == UInt8(ascii: "+") || token[index] == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return false }
            }
            return index == token.count
        }

        // MARK: - Skipping a value

        /// Validates one value of any type and moves past it. `depth` is the
        /// number of containers already open around it; opening one beyond
        /// `maximumDepth` is `.tooDeep`. Iterative, so nesting costs no stack.
        mutating func skipValue(depth: Int) throws(DecodeError) {
            var open: [Bool] = []  // per nested container: true for an object
            while true {
                skipWhitespace()
                let byte = try current()
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth + open.count < maximumDepth else { throw fail(.tooDeep) }
                    let isObject = byte == UInt8(ascii: "{")
                    index += 1
                    skipWhitespace()
                    if try current() == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        index += 1  // empty: a complete value
                    } else {
                        open.append(isObject)
                        if isObject { try scanMemberName() }
                        continue
                    }
                case UInt8(ascii: "\""): _ = try scanString()
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"): try scanLiteral()
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
                default: throw fail(.unexpectedByte)
                }
                guard try closeContainers(&open) else { return }
            }
        }

        /// After a value inside the containers `open`: closes every container
        /// that ends here. True when another value follows (after a comma, and
        /// for an object after its member name); false when none is open.
        mutating func closeContainers(_ open: inout [Bool]) throws(DecodeError) -> Bool {
            while let isObject = open.last {
                skipWhitespace()
                let byte = try current()
                let closer = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if byte == closer {
                    index += 1
                    open.removeLast()
                } else if byte == UInt8(ascii: ",") {
                    index += 1
                    skipWhitespace()
                    if try current() == closer { throw fail(.trailingComma) }
                    if isObject { try scanMemberName() }
                    return true
                } else {
                    throw fail(.unexpectedByte)
                }
            }
            return false
        }

        /// A member name and its colon, in a skipped object.
        mutating func scanMemberName() throws(DecodeError) {
            guard try current() == UInt8(ascii: "\"") else { throw fail(.unexpectedByte) }
            _ = try scanString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
        }
    }
}
