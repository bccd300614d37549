import Foundation
import Hummingbird
import Logging
import PosternCore
import PosternHTTP
import PosternSQL
import ServiceLifecycle

/// A tick every `interval` (the first at once, or after one interval) until
/// the consumer stops listening. Background services loop over it.
func ticks(every interval: Duration, immediately: Bool) -> AsyncStream<Void> {
    AsyncStream<Void> { continuation in
        let task = Task {
            if immediately { continuation.yield() }
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}

/// Writes buffered last-use records and audit events four times a second (in
/// small transactions, so none holds the database or the answers back for
/// long), and once more on shutdown.
struct LoginRecordFlushService: Service {
    let recorder: LoginRecorder
    let store: any AuditStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        for await _ in ticks(every: interval, immediately: false).cancelOnGracefulShutdown() {
            await flush()
        }
        await flush()
    }

    func flush() async {
        do {
            try await recorder.flush(to: store)
        } catch {
            logger.warning("could not write login records; will retry", metadata: ["error": "\(error)"])
        }
    }
}

/// Runs the credential feed until shutdown (see `CredentialFeed`).
struct CredentialFeedService: Service {
    let feed: CredentialFeed

    func run() async throws {
        await cancelWhenGracefulShutdown { await feed.watch() }
    }
}

/// The running server: both listeners and the background services in one
/// `ServiceGroup` that shuts down gracefully on SIGTERM and SIGINT.
public enum PosternServer {
    /// Where each listener ended up (useful when a port of 0 was asked for).
    public struct Listening: Sendable {
        public var name: String
        public var port: Int
    }

    /// A secret from a file, white space trimmed; at least 16 characters.
    static func readSecret(_ file: String, setting: String, minimumLength: Int = 16) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError.file(file, "cannot be read (\(setting))")
        }
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard secret.utf8.count >= minimumLength else {
            throw ConfigError.file(file, "must hold a secret of at least \(minimumLength) characters (\(setting))")
        }
        return secret
    }

    public static func run(environment: PosternEnvironment, logger: Logger,
                           onListening: @escaping @Sendable (Listening) async -> Void = { _ in }) async throws {
        let group: ServiceGroup
        do {
            group = try await serviceGroup(environment: environment, logger: logger, onListening: onListening)
        } catch {
            // A setting that refuses to start (a key file missing, a bad
            // driver): close the database before saying so.
            await environment.close()
            throw error
        }
        try await group.run()
        await environment.close()
        logger.notice("stopped")
    }

    /// Every listener and background service, ready to run.
    static func serviceGroup(environment: PosternEnvironment, logger: Logger,
                             onListening: @escaping @Sendable (Listening) async -> Void) async throws -> ServiceGroup {
        let config = environment.config
        let sharedSecret = try config.authSecretFile.map { Array(try readSecret($0, setting: "auth_secret_file").utf8) }
        let authEndpoints = try environment.authEndpoints()
        let terminator = try environment.terminationService(logger: logger)

        try await environment.hasher.warmUp()
        let secretMode = sharedSecret == nil ? "off" : "on"
        let portal = Application(
            router: try await environment.portalRouter(),
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "Postern"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.listen.port
                logger.notice("portal and user API listening", metadata: ["address": "\(config.listen.host):\(port)"])
                await onListening(Listening(name: "portal", port: port))
            },
            logger: logger)
        let auth = Application(
            router: authEndpoints.router(sharedSecret: sharedSecret),
            configuration: .init(address: .hostname(config.authListen.host, port: config.authListen.port), serverName: "Postern"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.authListen.port
                logger.notice("auth endpoints listening", metadata: ["address": "\(config.authListen.host):\(port)",
                                                                     "shared_secret": "\(secretMode)"])
                await onListening(Listening(name: "auth", port: port))
            },
            logger: logger)
        let flusher = LoginRecordFlushService(recorder: environment.recorder, store: environment.store, interval: .milliseconds(250), logger: logger)

        let delivery = environment.deliveryService(logger: logger)
        let retention = RetentionService(store: environment.store, retention: Double(config.activityRetentionDays) * 86_400,
                                         clock: environment.clock, logger: logger)
        logger.notice("notifications", metadata: ["transport": "\(config.smtpURL.map { "smtp \($0.host):\($0.port)" } ?? "files in <data>/outbox")",
                                                  "from": "\(config.effectiveMailFrom)"])
        let feed = CredentialFeedService(feed: environment.feed)
        var services: [any Service] = [retention, delivery, terminator, flusher, feed, auth, portal]
        if !config.saslListen.isEmpty {
            let verifier = SASLVerifier(authenticator: environment.authenticator, metrics: environment.metrics,
                                        defaultDomain: config.saslDefaultDomain,
                                        denialMessage: config.effectiveDenialMessage, logger: logger)
            services.append(SASLAuthSocketService(addresses: config.saslListen, allowedPeers: config.saslAllow, verifier: verifier, logger: logger,
                                                  onListening: onListening))
        }
        // Shut down in reverse: listeners first, then the final flush.
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // A stop never hangs: after 10 s of graceful shutdown the rest is cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: groupConfiguration)
    }
}
