/// Escaping text for HTML, one Unicode scalar at a time.
///
/// An HTML parser reads code points, not the grapheme clusters Swift's
/// `Character` stands for: `"` followed by a combining mark (U+0301…) is one
/// `Character` that is not equal to `"`, yet the parser still sees a quote
/// that ends the attribute. Escaping by `Character` would let such a value
/// out of an attribute; escaping by scalar cannot.
public enum HTMLEscaping {
    /// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references,
    /// safe in element content and in quoted attribute values.
    public static func escape(_ text: String) -> String {
        // The five are ASCII, and an ASCII byte never occurs inside a longer
        // UTF-8 sequence, so looking at bytes is looking at scalars.
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return text }
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count + 16)
        for byte in text.utf8 {
            switch byte {
            case 0x26: out += Array("&amp;".utf8)
            case 0x3C: out += Array("&lt;".utf8)
            case 0x3E: out += Array("&gt;".utf8)
            case 0x22: out += Array("&quot;".utf8)
            case 0x27: out += Array("&#39;".utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
