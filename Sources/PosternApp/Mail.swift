import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PosternCore
import PosternProtocols
import ServiceLifecycle

/// Sends one rendered message. Failures say whether trying later may help.
public protocol MailTransport: Sendable {
    func send(from: String, to: String, message: [UInt8]) async throws(SMTPClientSession.Failure)
}

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

/// `smtp://[user:pass@]host:port` (STARTTLS when offered, required when
/// credentials go to a host that is not loopback) or `smtps://` (TLS from the
/// first byte).
public struct SMTPURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var implicitTLS: Bool
    public var username: String?
    public var password: String?

    public init?(_ text: String) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "smtp" || scheme == "smtps", let host = components.host, !host.isEmpty else { return nil }
        self.host = host
        implicitTLS = scheme == "smtps"
        port = components.port ?? (implicitTLS ? 465 : 587)
        username = components.percentEncodedUser?.removingPercentEncoding
        password = components.percentEncodedPassword?.removingPercentEncoding
    }

    var isLoopback: Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]" }
}

/// Speaks SMTP over NIO, driving `SMTPClientSession`.
struct SMTPTransport: MailTransport {
    let url: SMTPURL
    let heloName: String
    /// PEM file of extra trusted CAs (a private mail server's certificate).
    let caFile: String?
    let timeout: TimeAmount

    func send(from: String, to: String, message: [UInt8]) async throws(SMTPClientSession.Failure) {
        let configuration = SMTPClientSession.Configuration(
            heloName: heloName, implicitTLS: url.implicitTLS, requireTLS: url.username != nil && !url.isLoopback,
            username: url.username, password: url.password, from: from, recipient: to)
        var trust = TLSConfiguration.makeClientConfiguration()
        if let caFile { trust.additionalTrustRoots = [.file(caFile)] }
        let tls = trust
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Void.self)
        let session = SMTPClientSession(configuration: configuration, message: message)
        // SNI takes names only; for an IP address NIOSSL checks the
        // certificate's IP entries against the peer address instead.
        let host: String? = ClientAddress.canonical(url.host) == nil ? url.host : nil
        let implicitTLS = url.implicitTLS
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if implicitTLS {
                            let context = try NIOSSLContext(configuration: tls)
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: host))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            SMTPClientHandler(session: session, done: promise, tls: tls, serverHostname: host))
                    }
                }
                .connect(host: url.host, port: url.port).get()
            let timer = channel.eventLoop.scheduleTask(in: timeout) {
                promise.fail(SMTPClientSession.Failure.temporary("no answer within the timeout"))
                channel.close(promise: nil)
            }
            defer { timer.cancel() }
            try await promise.futureResult.get()
        } catch let failure as SMTPClientSession.Failure {
            throw failure
        } catch {
            promise.fail(error)
            throw .temporary("\(error)")
        }
    }
}

final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session: SMTPClientSession
    private let done: EventLoopPromise<Void>
    private let tls: TLSConfiguration
    private let serverHostname: String?

    init(session: SMTPClientSession, done: EventLoopPromise<Void>, tls: TLSConfiguration, serverHostname: String?) {
        self.session = session
        self.done = done
        self.tls = tls
        self.serverHostname = serverHostname
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        perform(session.receive(buffer.readBytes(length: buffer.readableBytes) ?? []), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            perform(session.tlsEstablished(), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(session.connectionClosed(), context: context)
        done.fail(SMTPClientSession.Failure.temporary("connection closed"))  // no effect once succeeded
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(SMTPClientSession.Failure.temporary("\(error)"))
        context.close(promise: nil)
    }

    private func perform(_ actions: [SMTPClientSession.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let bytes):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
            case .startTLS:
                do {
                    let handler = try NIOSSLClientHandler(context: try NIOSSLContext(configuration: tls), serverHostname: serverHostname)
                    try context.pipeline.syncOperations.addHandler(handler, position: .first)
                } catch {
                    done.fail(SMTPClientSession.Failure.temporary("TLS: \(error)"))
                    context.close(promise: nil)
                }
            case .delivered:
                done.succeed(())
            case .fail(let failure):
                done.fail(failure)
                context.close(promise: nil)
            }
        }
        if session.isFinished { context.close(promise: nil) }
    }
}

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
            let delay = min(retryBase * pow(2, Double(attempts - 1)), 3600)
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

/// Deletes audit events past the retention period, and the guard's counters
/// whose windows have long ended, once an hour.
struct RetentionService: Service {
    let store: any AuditStore & ThrottleStore
    let retention: TimeInterval
    let clock: PosternCore.Clock
    let logger: Logger

    func run() async throws {
        for await _ in ticks(every: .seconds(3600), immediately: true).cancelOnGracefulShutdown() {
            do {
                let pruned = try await store.pruneAuditEvents(before: clock.now.addingTimeInterval(-retention))
                if pruned > 0 { logger.info("pruned old activity", metadata: ["events": "\(pruned)"]) }
                // Every window is at most a day (a reset link's lifetime); two days is safely past any.
                _ = try await store.pruneThrottleCounters(before: clock.now.addingTimeInterval(-2 * 86_400))
            } catch {
                logger.warning("cannot prune old activity; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}
