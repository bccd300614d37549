import Foundation
import Logging
import NIOCore
import NIOPosix
import PosternCore
import PosternHTTP
import PosternProtocols
import ServiceLifecycle
import Synchronization

/// Turns one SASL login from a Dovecot-protocol client into a core decision,
/// through the `ProtocolLoginGate` every adapter uses. The guard's wait is
/// spent before the answer, on a suspended task: it holds no thread.
struct SASLVerifier: Sendable {
    let authenticator: ProtocolAuthenticator
    let metrics: PosternMetrics
    let defaultDomain: String?
    let denialMessage: String
    let logger: Logger

    func verify(_ login: DovecotAuthServer.Login) async -> DovecotAuthServer.Verdict {
        guard let loginProtocol = LoginProtocol(serviceName: login.service) else {
            logger.warning("SASL request for an unknown service; refused", metadata: ["service": "\(login.service.prefix(32))"])
            return .deny(reason: denialMessage)
        }
        let gate = ProtocolLoginGate(authenticator: authenticator, metrics: metrics, defaultDomain: defaultDomain)
        switch await gate.decide(username: login.username, password: login.password, loginProtocol: loginProtocol, clientIP: login.remoteIP) {
        case .decided(.allow(_, let username, _)): return .allow(user: username)
        case .decided(.deny): return .deny(reason: denialMessage)
        case .temporaryFailure: return .temporaryFailure
        }
    }
}

/// One connection: the protocol state machine, fed from the socket, with
/// verifications run as tasks whose answers hop back onto the event loop.
///
/// With `allowedPeers` (an `inet:` socket), a peer outside those networks is
/// closed as soon as it connects, before the handshake: it is sent nothing,
/// and nothing it sends is read. Without it (a unix socket, guarded by file
/// permissions) every peer is served.
final class DovecotAuthHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine = DovecotAuthServer()
    private let verifier: SASLVerifier
    private let connectionID: UInt32
    private let allowedPeers: [IPNetwork]?
    private let logger: Logger
    private var refused = false

    init(verifier: SASLVerifier, connectionID: UInt32, allowedPeers: [IPNetwork]?, logger: Logger) {
        self.verifier = verifier
        self.connectionID = connectionID
        self.allowedPeers = allowedPeers
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        if let allowedPeers {
            let peer = context.channel.remoteAddress?.ipAddress
            guard let peer, allowedPeers.containsAddress(peer) else {
                refused = true
                logger.warning("SASL connection from a peer outside sasl_allow; closed", metadata: ["peer": "\(peer ?? "unknown")"])
                context.close(promise: nil)
                return
            }
        }
        var cookie = SystemRandomNumberGenerator()
        let hex = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &cookie)) }.joined()
        let greeting = DovecotAuthServer.handshake(processID: getpid(), connectionID: connectionID, cookie: hex)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: greeting)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        perform(machine.receive(bytes), channel: context.channel, eventLoop: context.eventLoop)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func perform(_ actions: [DovecotAuthServer.Action], channel: any Channel, eventLoop: any EventLoop) {
        for action in actions {
            switch action {
            case .send(let line):
                channel.write(ByteBuffer(string: line), promise: nil)
            case .close(let reason):
                logger.info("closing SASL connection", metadata: ["reason": "\(reason)"])
                channel.flush()
                channel.close(promise: nil)
                return
            case .verify(let login):
                let bound = NIOLoopBound(self, eventLoop: eventLoop)
                let verifier = self.verifier
                Task {
                    let verdict = await verifier.verify(login)
                    eventLoop.execute {
                        let handler = bound.value
                        handler.perform(handler.machine.finish(login, with: verdict), channel: channel, eventLoop: eventLoop)
                    }
                }
            }
        }
        channel.flush()
    }
}

/// Serves the Dovecot-protocol SASL auth socket(s) `--sasl-listen` names, so
/// Postfix, Prosody and Exim can authenticate against Postern directly.
struct SASLAuthSocketService: Service {
    let addresses: [SASLAddress]
    /// Peers an `inet:` socket serves (`sasl_allow`); unix sockets serve all.
    let allowedPeers: [IPNetwork]
    let verifier: SASLVerifier
    let logger: Logger
    let onListening: @Sendable (PosternServer.Listening) async -> Void

    func run() async throws {
        let counter = ConnectionNumbering()
        var channels: [any Channel] = []
        do {
            for address in addresses {
                let allowed: [IPNetwork]? = switch address {
                case .unix: nil
                case .inet: allowedPeers
                }
                let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.backlog, value: 256)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { [verifier, logger] channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                DovecotAuthHandler(verifier: verifier, connectionID: counter.next(), allowedPeers: allowed, logger: logger))
                        }
                    }
                let channel: any Channel
                switch address {
                case .unix(let path):
                    channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                    // The mail server's user must be able to connect: owner and group.
                    chmod(path, 0o660)
                case .inet(let hostAndPort):
                    channel = try await bootstrap.bind(host: hostAndPort.host, port: hostAndPort.port).get()
                }
                channels.append(channel)
                let port = channel.localAddress?.port ?? 0
                var metadata: Logger.Metadata = ["address": "\(address)", "port": "\(port)"]
                if let allowed { metadata["allow"] = "\(allowed.map(\.description).joined(separator: ", "))" }
                logger.notice("SASL auth socket listening", metadata: metadata)
                await onListening(PosternServer.Listening(name: "sasl", port: port))
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        try? await gracefulShutdown()
        for channel in channels { try? await channel.close() }
    }
}

/// Numbers connections for the handshake's CUID.
final class ConnectionNumbering: Sendable {
    private let value = Mutex<UInt32>(0)
    func next() -> UInt32 { value.withLock { $0 &+= 1; return $0 } }
}
