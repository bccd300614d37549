/// A decoded CBOR data item (RFC 8949), limited to what WebAuthn uses.
public indirect enum CBOR: Equatable, Sendable {
    case unsigned(UInt64)
    /// The value −1 − n.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    case map([(key: CBOR, value: CBOR)])
    case bool(Bool)
    case null

    public static func == (lhs: CBOR, rhs: CBOR) -> Bool {
        switch (lhs, rhs) {
        case (.unsigned(let a), .unsigned(let b)), (.negative(let a), .negative(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.text(let a), .text(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        default: false
        }
    }

    /// An integer value, if this is one that fits.
    public var int: Int? {
        switch self {
        case .unsigned(let n): n <= UInt64(Int.max) ? Int(n) : nil
        case .negative(let n): n < UInt64(Int.max) ? -1 - Int(n) : nil
        default: nil
        }
    }

    public subscript(key: Int) -> CBOR? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.key.int == key }?.value
    }

    public subscript(key: String) -> CBOR? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.key == .text(key) }?.value
    }

    public var byteString: [UInt8]? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    public var textString: String? {
        if case .text(let text) = self { return text }
        return nil
    }
}

/// A strict CBOR decoder: definite lengths only, no floats or tags, shortest
/// encodings only, no duplicate map keys, valid UTF-8 text, and limits on
/// nesting depth, item counts and total size. Anything else is an error, never
/// a crash.
public struct CBORDecoder {
    public enum Failure: Error, Equatable {
        case truncated
        case tooLarge
        case tooDeep
        case unsupported(String)
        case notCanonical
        case duplicateKey
        case invalidUTF8
        case trailingBytes
    }

    public var maximumDepth = 8
    public var maximumItems = 256
    public var maximumBytes = 64 * 1024

    private let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Decodes exactly one item that spans all the input.
    public static func decode(_ bytes: [UInt8]) throws(Failure) -> CBOR {
        var decoder = CBORDecoder(bytes)
        let item = try decoder.decodeItem()
        guard decoder.offset == bytes.count else { throw .trailingBytes }
        return item
    }

    /// Decodes the next item, leaving `offset` just past it.
    public mutating func decodeItem() throws(Failure) -> CBOR {
        guard bytes.count <= maximumBytes else { throw .tooLarge }
        return try item(depth: 0)
    }

    private mutating func byte() throws(Failure) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func take(_ count: Int) throws(Failure) -> [UInt8] {
        guard count >= 0, count <= bytes.count - offset else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// The argument of a head, insisting on the shortest form.
    private mutating func argument(_ info: UInt8) throws(Failure) -> UInt64 {
        switch info {
        case 0...23: return UInt64(info)
        case 24:
            let value = UInt64(try byte())
            guard value >= 24 else { throw .notCanonical }
            return value
        case 25, 26, 27:
            let width = 1 << Int(info - 24)
            var value: UInt64 = 0
            for byte in try take(width) { value = (value << 8) | UInt64(byte) }
            let minimum: UInt64 = width == 2 ? 0x100 : width == 4 ? 0x1_0000 : 0x1_0000_0000
            guard value >= minimum else { throw .notCanonical }
            return value
        case 31: throw .unsupported("indefinite length")
        default: throw .unsupported("reserved additional information")
        }
    }

    private mutating func length(_ info: UInt8) throws(Failure) -> Int {
        let value = try argument(info)
        guard value <= UInt64(maximumBytes) else { throw .tooLarge }
        return Int(value)
    }

    private mutating func item(depth: Int) throws(Failure) -> CBOR {
        guard depth <= maximumDepth else { throw .tooDeep }
        let head = try byte()
        let major = head >> 5
        let info = head & 0x1F
        switch major {
        case 0: return .unsigned(try argument(info))
        case 1: return .negative(try argument(info))
        case 2: return .bytes(try take(try length(info)))
        case 3:
            let raw = try take(try length(info))
            guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
            return .text(text)
        case 4:
            let count = try length(info)
            guard count <= maximumItems else { throw .tooLarge }
            var items: [CBOR] = []
            for _ in 0..<count { items.append(try item(depth: depth + 1)) }
            return .array(items)
        case 5:
            let count = try length(info)
            guard count <= maximumItems else { throw .tooLarge }
            var pairs: [(key: CBOR, value: CBOR)] = []
            for _ in 0..<count {
                let key = try item(depth: depth + 1)
                if pairs.contains(where: { $0.key == key }) { throw .duplicateKey }
                pairs.append((key, try item(depth: depth + 1)))
            }
            return .map(pairs)
        case 6: throw .unsupported("tags")
        default:
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            default: throw .unsupported("simple value or float")
            }
        }
    }
}
