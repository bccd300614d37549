import Foundation
import Logging
import PosternCore
import Hummingbird
import PosternHTTP
import PosternPortal
import PosternProtocols
import PosternSQL

/// Everything a running Postern holds: the store, the keys, the hasher and the
/// core services built on them. The server, the admin CLI and the tests all
/// open one the same way.
public final class PosternEnvironment: Sendable {
    public let config: PosternConfig
    public let store: SQLStore
    public let keys: KeyRing
    public let hasher: OffloadedHasher
    public let metrics: PosternMetrics
    public let recorder: LoginRecorder
    public let accounts: AccountService
    public let authenticator: ProtocolAuthenticator
    public let databasePath: String
    public let keyPath: String
    public let notices: NoticeComposer
    public let clock: PosternCore.Clock
    /// Keeps the authenticator's credential cache true to the store.
    public let feed: CredentialFeed

    private init(config: PosternConfig, store: SQLStore, keys: KeyRing, hasher: OffloadedHasher, metrics: PosternMetrics,
                 recorder: LoginRecorder, accounts: AccountService, authenticator: ProtocolAuthenticator,
                 databasePath: String, keyPath: String, notices: NoticeComposer, clock: PosternCore.Clock,
                 feed: CredentialFeed) {
        self.feed = feed
        self.notices = notices
        self.clock = clock
        self.config = config
        self.store = store
        self.keys = keys
        self.hasher = hasher
        self.metrics = metrics
        self.recorder = recorder
        self.accounts = accounts
        self.authenticator = authenticator
        self.databasePath = databasePath
        self.keyPath = keyPath
    }

    /// Opens the data directory (creating it, the database and the server key
    /// on first use) and migrates the schema, or with `migrate: false` refuses
    /// a schema that needs it.
    public static func open(config: PosternConfig, logger: Logger, clock: Clock = .system, migrate: Bool = true) async throws -> PosternEnvironment {
        let directory = URL(fileURLWithPath: config.dataDirectory).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keyPath = directory + "/" + ServerKey.fileName
        let keys = try loadKeys(keyPath, logger: logger)

        let executor: any SQLExecutor
        let databasePath: String
        if let url = config.databaseURL {
            let password = try config.databasePasswordFile.map { try PosternServer.readSecret($0, setting: "database.password_file", minimumLength: 1) }
            guard let settings = PostgresExecutor.Settings(url: url, password: password) else {
                throw ConfigError.invalid("database.url", "postgres://user[:password]@host:port/database", "(hidden)")
            }
            databasePath = "postgresql \(settings.host):\(settings.port)/\(settings.database)"
            executor = await PostgresExecutor.open(settings: settings, maximumConnections: config.databaseMaxConnections, logger: logger)
        } else {
            databasePath = directory + "/postern.sqlite"
            executor = try await SQLiteExecutor.open(path: databasePath, logger: logger)
        }
        do {
            let applied = try await Migrations.migrate(executor, apply: migrate)
            for migration in applied {
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
            try await Migrations.checkKeyFingerprint(executor, fingerprint: keys.fingerprint)
        } catch {
            await executor.shutdown()
            throw error
        }
        let credentials = CredentialCache(capacity: config.credentialCacheSize)
        let feed = CredentialFeed(cache: credentials, executor: executor, logger: logger)
        let store = SQLStore(executor: CredentialFeedExecutor(executor, feed: feed))
        let metrics = PosternMetrics()
        let hasher = OffloadedHasher(parameters: config.scrypt, threads: config.hashConcurrency, inFlight: metrics.hashesInFlight, started: metrics.hashes)
        let recorder = LoginRecorder()
        // One guard for every door, so limits hold across them.
        let credentialGuard = CredentialGuard(store: store, keys: keys, throttle: LoginThrottle(policy: config.throttle))
        let notices = NoticeComposer(keys: keys, publicURL: config.publicURL, productName: config.totpIssuer)
        var policy = AccountPolicy(signupOpen: config.signupOpen, appPasswordLimit: config.appPasswordLimit,
                                   sessionLifetime: config.sessionLifetime, totpIssuer: config.totpIssuer,
                                   portalIdleTimeout: config.portalIdleTimeout, reauthenticationWindow: config.reauthWindow)
        policy.resetTokenLifetime = config.resetTokenLifetime
        policy.revokeAppPasswordsOnReset = config.revokeAppPasswordsOnReset
        policy.passwordChangeRevokesByDefault = config.passwordChangeRevokesByDefault
        let accounts = AccountService(
            store: store, hasher: hasher, keys: keys, passwordPolicy: .bundled(), policy: policy,
            clock: clock, webAuthn: WebAuthnSettings(publicURL: config.publicURL, name: config.totpIssuer), credentialGuard: credentialGuard,
            notices: notices, terminationTargets: config.terminate.targets)
        let authenticator = ProtocolAuthenticator(
            store: store, hasher: hasher, keys: keys,
            cache: VerifiedPasswordCache(key: keys.passwordCacheKey, ttl: config.passwordCacheTTL),
            recorder: recorder, clock: clock, credentialGuard: credentialGuard, notices: notices, credentials: credentials)
        return PosternEnvironment(config: config, store: store, keys: keys, hasher: hasher, metrics: metrics, recorder: recorder,
                                  accounts: accounts, authenticator: authenticator, databasePath: databasePath, keyPath: keyPath,
                                  notices: notices, clock: clock, feed: feed)
    }

    /// The server key at `path` (made on first use), warning when others can read it.
    private static func loadKeys(_ path: String, logger: Logger) throws -> KeyRing {
        let (serverKey, created) = try ServerKey.loadOrCreate(at: path)
        if created {
            logger.notice("created a new server key", metadata: ["path": "\(path)"])
        } else if ServerKey.isExposed(path) {
            logger.warning("the server key file is readable by other users; run chmod 600 on it", metadata: ["path": "\(path)"])
        }
        return KeyRing(serverKey: serverKey)
    }

    /// Writes what is buffered and closes the database.
    public func close() async {
        try? await recorder.flush(to: store)
        await hasher.shutdown()
        await store.executor.shutdown()
    }

    public var userAPI: UserAPI { UserAPI(accounts: accounts, trustedProxies: config.trustedProxies) }

    /// The operator's console's rules, on this environment's store.
    public var admin: AdminService { AdminService(accounts: accounts, store: store) }

    /// Where notifications go: the SMTP server, or `<data>/outbox/*.eml`.
    var mailTransport: any MailTransport {
        if let url = config.smtpURL {
            return SMTPTransport(url: url, heloName: config.publicHost, caFile: config.mailCAFile, timeout: .seconds(60))
        }
        return FileTransport(directory: URL(fileURLWithPath: config.dataDirectory).standardizedFileURL.path + "/outbox")
    }

    /// The outbox deliverer for this environment.
    func deliveryService(logger: Logger) -> OutboxDeliveryService {
        OutboxDeliveryService(store: store, composer: notices, transport: mailTransport, from: config.effectiveMailFrom,
                              domain: config.publicHost, retryBase: config.mailRetryBase, maximumAttempts: 20,
                              interval: .seconds(1), clock: clock, logger: logger)
    }

    /// Ends open sessions after revocations, through the configured drivers.
    /// Throws a `ConfigError` when a driver's credential file cannot be read.
    func terminationService(logger: Logger) throws -> SessionTerminationService {
        let terminate = config.terminate
        let drivers = try terminate.drivers()
        if !drivers.isEmpty {
            logger.notice("ending open sessions on revocation", metadata: ["servers": "\(drivers.keys.sorted().joined(separator: ", "))"])
        }
        return SessionTerminationService(store: store, drivers: drivers, notices: notices, metrics: metrics, retryBase: terminate.retryBase,
                                         maximumAttempts: terminate.maximumAttempts,
                                         interval: .milliseconds(Int64(terminate.interval * 1000)), clock: clock, logger: logger)
    }

    /// The portal listener's router: security headers, the JSON API, and the HTML portal.
    public func portalRouter() async throws -> Router<PortalContext> {
        let router = userAPI.router()
        AdminAPI(admin: admin).addRoutes(to: router)
        let views = try await PortalViews(directory: config.templatesDirectory ?? PortalViews.bundledTemplates, keys: keys)
        func server(_ label: String, _ address: HostAndPort) -> ClientServer {
            ClientServer(label: label, host: address.host.isEmpty ? config.publicHost : address.host, port: address.port)
        }
        let portal = try Portal(accounts: accounts, admin: admin, keys: keys, views: views, publicURL: config.publicURL, servers: [
            server("IMAP (incoming)", config.clientIMAP), server("POP3 (incoming)", config.clientPOP3),
            server("SMTP (outgoing)", config.clientSMTP), server("XMPP (chat)", config.clientXMPP),
        ], profilesSigned: config.deviceSetupSigningCertificate != nil && config.deviceSetupSigningKey != nil)
        portal.addRoutes(to: router)
        try deviceSetupAPI().addRoutes(to: router)
        autoconfig.addRoutes(to: router)
        return router
    }

    /// Device-setup links and the profile they deliver, with the servers
    /// the portal shows and the signer the settings name (a bad signing
    /// setting refuses to start, naming it).
    func deviceSetupAPI() throws -> DeviceSetupAPI {
        func server(_ address: HostAndPort) -> AppleMailProfile.Server {
            AppleMailProfile.Server(host: address.host.isEmpty ? config.publicHost : address.host, port: address.port)
        }
        let signer = try ProfileSigner.load(certificateFile: config.deviceSetupSigningCertificate, keyFile: config.deviceSetupSigningKey)
        return DeviceSetupAPI(accounts: accounts, publicURL: config.publicURL, incoming: server(config.clientIMAP),
                              outgoing: server(config.clientSMTP), signer: signer)
    }

    /// Mail-client autoconfiguration: the `client.*` servers, for the domains
    /// in `client.domains` or, without it, those of existing accounts.
    public var autoconfig: AutoconfigEndpoints {
        func server(_ kind: MailClientSetup.Server.Kind, _ address: HostAndPort) -> MailClientSetup.Server {
            MailClientSetup.Server(kind, host: address.host.isEmpty ? config.publicHost : address.host, port: address.port)
        }
        return AutoconfigEndpoints(domains: MailDomains(configured: config.clientDomains, store: store, clock: clock),
                                   servers: [server(.imap, config.clientIMAP), server(.pop3, config.clientPOP3), server(.smtp, config.clientSMTP)],
                                   securityPage: config.publicURL + "/security")
    }

    /// The auth listener's endpoints. Reads `nginx.backend_password_file` when set.
    public func authEndpoints() throws -> AuthEndpoints {
        var backends: [String: NginxMailAuth.Backend] = [:]
        for (name, address) in [("imap", config.nginxIMAP), ("pop3", config.nginxPOP3), ("smtp", config.nginxSMTP)] {
            if let address { backends[name] = NginxMailAuth.Backend(host: address.host, port: address.port) }
        }
        var backendPassword: String?
        if let file = config.nginxBackendPasswordFile {
            let secret = try PosternServer.readSecret(file, setting: "nginx.backend_password_file")
            // nginx copies it into the backend's login command verbatim.
            guard secret.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw ConfigError.file(file, "must hold printable ASCII without spaces (nginx.backend_password_file)")
            }
            backendPassword = secret
        }
        return AuthEndpoints(authenticator: authenticator, metrics: metrics, denialMessage: config.effectiveDenialMessage,
                             nginx: NginxSettings(backends: backends, backendPassword: backendPassword),
                             defaultDomain: config.saslDefaultDomain)
    }
}
