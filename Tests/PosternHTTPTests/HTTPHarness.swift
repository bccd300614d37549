import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PosternCore
import PosternTestSupport
import PosternSQL
import SQLKit
@testable import PosternApp
@testable import PosternHTTP

import PosternTestSupport

/// A response, decoded for assertions.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var json: [String: any Sendable] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: any Sendable]) ?? [:] }
    var list: [[String: any Sendable]] { ((try? JSONSerialization.jsonObject(with: body)) as? [[String: any Sendable]]) ?? [] }
    var text: String { String(decoding: body, as: UTF8.self) }
    subscript(_ key: String) -> String? { json[key] as? String }
}

/// Speaks to one router, in process.
struct Client: Sendable {
    let client: any TestClientProtocol

    func call(_ method: HTTPRequest.Method, _ path: String, body: String? = nil, token: String? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
        }
    }

    func call(_ method: HTTPRequest.Method, _ path: String, json: [String: any Sendable], token: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await call(method, path, body: String(decoding: data, as: UTF8.self), token: token, headers: headers)
    }
}

/// A whole Postern environment on a temporary data directory, with a cheap
/// password hash, and both routers to talk to.
struct HTTPHarness {
    let environment: PosternEnvironment
    let directory: URL
    let clock: TestClock

    /// Sets the administrator role in the store directly, without a second
    /// factor: a state the console must still refuse (the core grants the
    /// role only with a factor; a crash or a hand-edited row can leave it).
    func forceAdmin(_ username: String) async throws {
        let account = try await environment.accounts.account(username: username)
        _ = try await environment.store.setAdmin(accountID: account.id, true,
                                                 audit: AuditEvent(accountID: account.id, kind: .adminGranted, result: .ok, at: clock.now))
    }

    static func make(_ configure: (inout PosternConfig) -> Void = { _ in }) async throws -> HTTPHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postern-http-\(UUID().uuidString)")
        var config = PosternConfig()
        config.dataDirectory = directory.path
        config.scrypt = .init(logN: 10)
        config.databaseURL = try await Self.postgresDatabase()
        configure(&config)
        let clock = TestClock(at: Date())
        let environment = try await PosternEnvironment.open(config: config, logger: Logger(label: "test"), clock: clock.clock)
        return HTTPHarness(environment: environment, directory: directory, clock: clock)
    }

    /// With `POSTERN_TEST_DATABASE=postgres` (and `POSTERN_TEST_POSTGRES_URL`),
    /// a fresh PostgreSQL database for this harness; otherwise nil (SQLite).
    static func postgresDatabase() async throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        guard environment["POSTERN_TEST_DATABASE"] == "postgres", let admin = environment["POSTERN_TEST_POSTGRES_URL"],
              var settings = PostgresExecutor.Settings(url: admin) else { return nil }
        let name = "h_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let executor = await PostgresExecutor.open(settings: settings, maximumConnections: 1, connectTimeout: .seconds(30),
                                                   operationTimeout: .seconds(60), logger: Logger(label: "test"))
        _ = try await executor.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
        await executor.shutdown()
        settings.database = name
        return "postgres://\(settings.username)@\(settings.host):\(settings.port)/\(name)"
    }

    func close() async {
        await environment.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` with in-process clients for the portal and auth routers.
    /// `live` serves both over real loopback sockets, so requests have a peer address.
    func run(sharedSecret: [UInt8]? = nil, live: Bool = false, _ body: @Sendable (_ portal: Client, _ auth: Client) async throws -> Void) async throws {
        let address = ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0))
        let router = environment.userAPI.router()
        AdminAPI(admin: environment.admin).addRoutes(to: router)
        try environment.deviceSetupAPI().addRoutes(to: router)
        environment.autoconfig.addRoutes(to: router)
        let portal = Application(router: router, configuration: address)
        let auth = Application(router: try environment.authEndpoints().router(sharedSecret: sharedSecret), configuration: address)
        try await portal.test(live ? .live : .router) { portalClient in
            try await auth.test(live ? .live : .router) { authClient in
                try await body(Client(client: portalClient), Client(client: authClient))
            }
        }
    }

    /// Creates an account and signs in, returning the bearer token.
    static func signUp(_ portal: Client, _ username: String = "alice@example.org", password: String = "violet staple orbit") async throws -> String {
        let created = try await portal.call(.post, "/api/v1/accounts", json: ["username": username, "password": password])
        precondition(created.status == .created, "sign-up failed: \(created.text)")
        let session = try await portal.call(.post, "/api/v1/sessions", json: ["username": username, "password": password])
        return session["token"]!
    }

    /// The authenticator-app code for `secret` at the harness's current time.
    func totpCode(secret: String, offset: Int = 0) -> String {
        OneTimePassword.totp(key: Base32.decode(secret)!, at: clock.now.addingTimeInterval(Double(offset * 30)))
    }
}

/// Runs `body` with a fresh harness, and always closes it.
func withHarness(_ configure: (inout PosternConfig) -> Void = { _ in }, _ body: (HTTPHarness) async throws -> Void) async throws {
    let harness = try await HTTPHarness.make(configure)
    do {
        try await body(harness)
    } catch {
        await harness.close()
        throw error
    }
    await harness.close()
}
