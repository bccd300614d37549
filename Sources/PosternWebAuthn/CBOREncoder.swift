/// Encodes CBOR in the canonical form the decoder accepts (shortest heads,
/// definite lengths). Used to build test authenticators' messages.
public enum CBOREncoder {
    public static func encode(_ item: CBOR) -> [UInt8] {
        var out: [UInt8] = []
        write(item, into: &out)
        return out
    }

    private static func head(_ major: UInt8, _ value: UInt64, into out: inout [UInt8]) {
        let top = major << 5
        switch value {
        case 0..<24: out.append(top | UInt8(value))
        case 24..<0x100: out += [top | 24, UInt8(value)]
        case 0x100..<0x1_0000: out += [top | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        case 0x1_0000..<0x1_0000_0000: out += [top | 26] + (0..<4).reversed().map { UInt8((value >> (8 * UInt64($0))) & 0xFF) }
        default: out += [top | 27] + (0..<8).reversed().map { UInt8((value >> (8 * UInt64($0))) & 0xFF) }
        }
    }

    private static func write(_ item: CBOR, into out: inout [UInt8]) {
        switch item {
        case .unsigned(let n): head(0, n, into: &out)
        case .negative(let n): head(1, n, into: &out)
        case .bytes(let bytes): head(2, UInt64(bytes.count), into: &out); out += bytes
        case .text(let text): head(3, UInt64(text.utf8.count), into: &out); out += Array(text.utf8)
        case .array(let items): head(4, UInt64(items.count), into: &out); for item in items { write(item, into: &out) }
        case .map(let pairs):
            head(5, UInt64(pairs.count), into: &out)
            for pair in pairs { write(pair.key, into: &out); write(pair.value, into: &out) }
        case .bool(let value): out.append(value ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        }
    }
}

extension CBOR {
    /// An integer item: `.unsigned` or `.negative` as the sign requires.
    public static func int(_ value: Int) -> CBOR {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-1 - value))
    }
}
