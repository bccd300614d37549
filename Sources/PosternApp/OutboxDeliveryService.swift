import Foundation
import PosternProtocols
import Logging
import PosternCore
import ServiceLifecycle

/// Delivers the outbox: claims due messages (leased, so several instances
/// never send one twice), renders and sends each, marks it sent after the
/// server's 250, or schedules a retry with exponential backoff. Messages
/// wait in the database, so they survive restarts; the Message-ID is the
/// outbox id, the same on every attempt.
struct OutboxDeliveryService: Service {
    let store: any OutboxStore
    let composer: NoticeComposer
    let transport: any MailTransport
    let from: String
    let domain: String
    let retryBase: TimeInterval
    let maximumAttempts: Int
    let interval: Duration
    let clock: PosternCore.Clock
    let logger: Logger

    func run() async throws {
        for await _ in ticks(every: interval, immediately: true).cancelOnGracefulShutdown() {
            await deliverDue()
        }
    }

    /// Sends what is due now; returns how many were sent.
    @discardableResult
    func deliverDue() async -> Int {
        let now = clock.now
        let batch: [OutboxMessage]
        do {
            batch = try await store.claimOutbox(now: now, leaseUntil: now.addingTimeInterval(300), limit: 20)
        } catch {
            logger.warning("cannot read the outbox; will retry", metadata: ["error": "\(error)"])
            return 0
        }
        var sent = 0
        for message in batch {
            if await deliver(message) { sent += 1 }
        }
        return sent
    }

    private func deliver(_ message: OutboxMessage) async -> Bool {
        guard let sealed = message.sealed, let content = try? composer.open(sealed, id: message.id) else {
            logger.error("an outbox message cannot be opened (another server key?); dropping it", metadata: ["id": "\(message.id)"])
            try? await store.markOutboxSent(id: message.id, at: clock.now)
            return false
        }
        let rendered = MailMessageFormat.render(
            from: from, to: message.recipient, subject: content.subject, messageID: message.messageID(domain: domain),
            date: message.createdAt, text: content.text, html: content.html, boundary: "=_postern_\(message.id)")
        do {
            try await transport.send(from: from, to: message.recipient, message: rendered)
        } catch {
            let attempts = message.attempts + 1
            let permanent = if case .permanent = error { true } else { false }
            let giveUp = permanent || attempts >= maximumAttempts
            let delay = RetryBackoff.delay(afterAttempt: attempts, base: retryBase)
            let next = giveUp ? Date.distantFuture : clock.now.addingTimeInterval(delay)
            logger.warning(giveUp ? "giving up on a message" : "sending failed; will retry",
                           metadata: ["id": "\(message.id)", "attempts": "\(attempts)", "error": "\(error)"])
            try? await store.markOutboxFailed(id: message.id, attempts: attempts, nextAttemptAt: next, error: "\(error)")
            return false
        }
        do {
            try await store.markOutboxSent(id: message.id, at: clock.now)
        } catch {
            // Sent but not marked: the lease keeps others off it for five
            // minutes; a retry after that would send it a second time.
            logger.error("sent a message but could not mark it sent", metadata: ["id": "\(message.id)", "error": "\(error)"])
        }
        logger.info("sent a notification", metadata: ["id": "\(message.id)"])
        return true
    }
}
