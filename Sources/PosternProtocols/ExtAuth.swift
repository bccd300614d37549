import Foundation

/// ejabberd's external-authentication protocol, as the program side speaks it
/// on stdin/stdout: each request is a 2-byte big-endian length and that many
/// bytes, `command:field:field…`; each answer is the length 2 and a 2-byte
/// result, 1 for yes and 0 for no.
///
/// The last field of `auth`, `setpass` and `tryregister` is a password and may
/// itself contain `:`; it is everything after the fields before it.
public struct ExtAuthDecoder: Sendable {
    public enum Request: Sendable, Equatable {
        case auth(user: String, server: String, password: String)
        case isUser(user: String, server: String)
        /// Anything Postern refuses (`setpass`, `tryregister`, `removeuser`,
        /// `removeuser3`, unknown or malformed commands): answered with 0.
        case refused(command: String)
    }

    private var buffer: [UInt8] = []

    public init() {}

    /// Whole requests now available; a partial frame waits for more bytes.
    public mutating func receive(_ bytes: some Sequence<UInt8>) -> [Request] {
        buffer.append(contentsOf: bytes)
        var requests: [Request] = []
        var start = 0
        while buffer.count - start >= 2 {
            let length = Int(buffer[start]) << 8 | Int(buffer[start + 1])
            guard buffer.count - start - 2 >= length else { break }
            requests.append(Self.parse(buffer[(start + 2)..<(start + 2 + length)]))
            start += 2 + length
        }
        buffer.removeFirst(start)
        return requests
    }

    /// Bytes of an incomplete frame held back.
    public var bufferedCount: Int { buffer.count }

    static func parse(_ frame: ArraySlice<UInt8>) -> Request {
        guard let text = String(validating: frame, as: UTF8.self) else { return .refused(command: "") }
        let command = text.prefix { $0 != ":" }
        switch command {
        case "auth":
            let fields = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4 else { return .refused(command: "auth") }
            return .auth(user: String(fields[1]), server: String(fields[2]), password: String(fields[3]))
        case "isuser":
            let fields = text.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3 else { return .refused(command: "isuser") }
            return .isUser(user: String(fields[1]), server: String(fields[2]))
        default:
            return .refused(command: String(command))
        }
    }

    /// The 4-byte answer.
    public static func reply(_ success: Bool) -> [UInt8] {
        [0, 2, 0, success ? 1 : 0]
    }

    /// A request frame, as ejabberd writes it (for tests and tools).
    public static func frame(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        precondition(bytes.count <= 0xFFFF, "an extauth frame holds at most 65535 bytes")
        return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }
}
