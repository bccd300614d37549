import Foundation
import PosternCore

/// An activity page's cursor, opaque to clients: base64url of "millis:id".
public enum ActivityCursor {
    public static func encode(_ cursor: AuditCursor) -> String {
        Base64URL.encode(Array("\(Int64(cursor.at.timeIntervalSince1970 * 1000)):\(cursor.id)".utf8))
    }

    public static func decode(_ text: String) -> AuditCursor? {
        guard text.count <= 200, let bytes = Base64URL.decode(text), let plain = String(validating: bytes, as: UTF8.self),
              let colon = plain.firstIndex(of: ":"), let millis = Int64(plain[..<colon]) else { return nil }
        let id = String(plain[plain.index(after: colon)...])
        // Times between 1970 and 9999, ids of the identifier alphabet only:
        // anything else is no cursor this server made.
        guard (0...253_402_300_799_999).contains(millis), !id.isEmpty, id.utf8.count <= 64,
              id.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0)
                  || (0x61...0x7A).contains($0) }) else { return nil }
        return AuditCursor(at: Date(timeIntervalSince1970: Double(millis) / 1000), id: id)
    }
}
