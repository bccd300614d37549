import Foundation
import PosternProtocols

/// Sends one rendered message. Failures say whether trying later may help.
public protocol MailTransport: Sendable {
    func send(from: String, to: String, message: [UInt8]) async throws(SMTPClientSession.Failure)
}
