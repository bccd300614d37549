import Foundation
import HTTPTypes
import Hummingbird
import PosternCore

/// The endpoints mail and chat servers call, served only on the auth listener.
public struct AuthEndpoints: Sendable {
    public let authenticator: ProtocolAuthenticator
    public let metrics: PosternMetrics
    /// What every refused client is told, whatever the reason.
    public let denialMessage: String

    public init(authenticator: ProtocolAuthenticator, metrics: PosternMetrics, denialMessage: String) {
        self.authenticator = authenticator
        self.metrics = metrics
        self.denialMessage = denialMessage
    }

    struct VerifyRequest: Decodable {
        let username: String
        let password: String
        let `protocol`: String
        let clientIp: String?
    }

    struct Allowed: Encodable {
        let result = "allow"
        let username: String
        let credential: String
        let appPasswordId: String?
    }

    struct Refused: Encodable {
        let result: String
        let message: String
    }

    /// `POST /v1/verify`: 200 allow, 401 deny (one generic message), 503 when
    /// the store cannot answer, 400 for a malformed request.
    func verify(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let body = try await JSONBody.decode(VerifyRequest.self, from: request)
        guard let loginProtocol = LoginProtocol(serviceName: body.protocol) else {
            throw APIError(.badRequest, "invalid_protocol", "protocol must be one of imap, pop3, smtp, xmpp, other.")
        }
        var clientIP: String?
        if let raw = body.clientIp, !raw.isEmpty {
            guard let canonical = ClientAddress.canonical(raw) else {
                throw APIError(.badRequest, "invalid_client_ip", "client_ip must be an IPv4 or IPv6 address.")
            }
            clientIP = canonical
        }
        let (outcome, delay) = await authenticator.evaluate(
            ProtocolLoginRequest(username: body.username, password: body.password, loginProtocol: loginProtocol, clientIP: clientIP))
        metrics.countLogin(protocol: loginProtocol, outcome: outcome)
        defer { metrics.recordVerifyLatency(ContinuousClock.now - started) }
        // A guessing source waits; the wait holds no thread.
        if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
        switch outcome {
        case .decided(.allow(_, let username, let credential)):
            var appID: String?
            if case .appPassword(let id) = credential { appID = id }
            return JSONBody.response(.ok, Allowed(username: username, credential: credential.kind, appPasswordId: appID))
        case .decided(.deny):
            return JSONBody.response(.unauthorized, Refused(result: "deny", message: denialMessage))
        case .temporaryFailure:
            return JSONBody.response(.serviceUnavailable, Refused(result: "tempfail", message: "Temporary authentication failure. Try again shortly."))
        }
    }
}

/// Requires the shared secret in `X-Postern-Auth-Secret`, compared in constant time.
public struct SharedSecretMiddleware<Context: RequestContext>: RouterMiddleware {
    static var headerName: HTTPField.Name { HTTPField.Name("X-Postern-Auth-Secret")! }
    let secret: [UInt8]

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let given = request.headers[Self.headerName].map { Array($0.utf8) } ?? []
        guard Secrets.digestEquals(given, secret) else {
            throw APIError(.unauthorized, "unauthorized", "A valid X-Postern-Auth-Secret header is required.")
        }
        return try await next(request, context)
    }
}

extension AuthEndpoints {
    /// The auth listener's router: `/healthz`, `/metrics` and `/v1/verify`.
    public func router(sharedSecret: [UInt8]?) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        let protected = router.group()
        if let sharedSecret { protected.add(middleware: SharedSecretMiddleware(secret: sharedSecret)) }
        protected.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        protected.post("/v1/verify") { request, _ in try await verify(request) }
        return router
    }
}
