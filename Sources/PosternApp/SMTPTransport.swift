import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PosternCore
import PosternProtocols

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
