import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The 32-byte server secret key, kept in a mode-0600 file in the data
/// directory and never in the database.
public enum ServerKey {
    public static let fileName = "server.key"

    public enum Failure: Error, CustomStringConvertible {
        case wrongSize(String, Int)
        case unreadable(String, String)

        public var description: String {
            switch self {
            case .wrongSize(let path, let size): "The server key file \(path) holds \(size) bytes; it must hold exactly 32."
            case .unreadable(let path, let reason): "The server key file \(path) cannot be used: \(reason)."
            }
        }
    }

    /// Reads the key at `path`, creating it (from the system CSPRNG, mode 0600,
    /// never overwriting) if there is none. Returns the key and whether it was
    /// created now.
    public static func loadOrCreate(at path: String) throws -> (key: [UInt8], created: Bool) {
        if FileManager.default.fileExists(atPath: path) {
            return (try read(path), false)
        }
        var key = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in key.indices { key[index] = UInt8.random(in: 0...255, using: &generator) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if fd < 0 {
            // Someone else created it first: use theirs.
            if errno == EEXIST { return (try read(path), false) }
            throw Failure.unreadable(path, String(cString: strerror(errno)))
        }
        defer { close(fd) }
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, 32) }
        guard written == 32, fsync(fd) == 0 else { throw Failure.unreadable(path, "could not write it") }
        return (key, true)
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.unreadable(path, "cannot read it") }
        guard data.count == 32 else { throw Failure.wrongSize(path, data.count) }
        return Array(data)
    }

    /// True when the file can be read by anyone but its owner.
    public static func isExposed(_ path: String) -> Bool {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let mode = attributes[.posixPermissions] as? NSNumber else { return false }
        return mode.intValue & 0o077 != 0
    }
}
