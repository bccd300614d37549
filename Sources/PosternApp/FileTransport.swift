import Foundation
import PosternProtocols
import PosternCore

/// With no SMTP server configured: each message becomes `<id>.eml` in a
/// directory, so a local run still shows what would have been sent.
struct FileTransport: MailTransport {
    let directory: String

    func send(from: String, to: String, message: [UInt8]) async throws(SMTPClientSession.Failure) {
        let name = UUID().uuidString
        let temporary = directory + "/." + name
        let final = directory + "/" + Self.fileName(message) + ".eml"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(message).write(to: URL(fileURLWithPath: temporary))
            // A retry of the same message replaces the file: still one message.
            _ = try? FileManager.default.removeItem(atPath: final)
            try FileManager.default.moveItem(atPath: temporary, toPath: final)
        } catch {
            throw .temporary("cannot write \(final): \(error.localizedDescription)")
        }
    }

    /// The Message-ID's local part, so the file name is stable across retries.
    static func fileName(_ message: [UInt8]) -> String {
        let text = String(decoding: message.prefix(4096), as: UTF8.self)
        for line in text.split(separator: "\r\n") where line.hasPrefix("Message-ID: <") {
            let id = line.dropFirst("Message-ID: <".count).prefix { $0 != "@" && $0 != ">" }
            if !id.isEmpty, id.allSatisfy({ $0.isLetter || $0.isNumber }) { return String(id) }
        }
        return UUID().uuidString
    }
}
