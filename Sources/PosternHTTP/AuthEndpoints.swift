import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternProtocols

/// The endpoints mail and chat servers call, served only on the auth listener.
public struct AuthEndpoints: Sendable {
    public let authenticator: ProtocolAuthenticator
    public let metrics: PosternMetrics
    /// What every refused client is told, whatever the reason.
    public let denialMessage: String
    public let nginx: NginxSettings
    /// Added to usernames that arrive without a domain.
    public let defaultDomain: String?

    public init(authenticator: ProtocolAuthenticator, metrics: PosternMetrics, denialMessage: String,
                nginx: NginxSettings = NginxSettings(), defaultDomain: String? = nil) {
        self.authenticator = authenticator
        self.metrics = metrics
        self.denialMessage = denialMessage
        self.nginx = nginx
        self.defaultDomain = defaultDomain
    }

    var gate: ProtocolLoginGate { ProtocolLoginGate(authenticator: authenticator, metrics: metrics, defaultDomain: defaultDomain) }

    struct Refused: Encodable {
        let result: String
        let message: String
    }

    /// `POST /v1/verify`: 200 allow, 401 deny (one generic message), 503 when
    /// the store cannot answer, 400 for a malformed request. The body is read
    /// and the answer written by `VerifyMessage` (this is every login's path),
    /// with the same statuses, errors and bytes as `JSONBody` would give.
    func verify(_ request: Request) async throws -> Response {
        let body = try Self.verifyRequest(try await JSONBody.collect(request))
        guard let loginProtocol = LoginProtocol(serviceName: body.protocolName) else {
            throw APIError(.badRequest, "invalid_protocol", "protocol must be one of imap, pop3, smtp, xmpp, other.")
        }
        let clientIP = body.clientIP.flatMap { $0.isEmpty ? nil : $0 }
        if let clientIP, ClientAddress.canonical(clientIP) == nil {
            throw APIError(.badRequest, "invalid_client_ip", "client_ip must be an IPv4 or IPv6 address.")
        }
        // A guessing source waits before it hears the answer.
        switch await gate.decide(username: body.username, password: body.password, loginProtocol: loginProtocol, clientIP: clientIP) {
        case .decided(.allow(_, let username, let credential)):
            var appID: String?
            if case .appPassword(let id) = credential { appID = id }
            return Self.verifyResponse(.ok, .allow(username: username, credential: credential.kind, appPasswordID: appID))
        case .decided(.deny):
            return Self.verifyResponse(.unauthorized, .deny(message: denialMessage))
        case .temporaryFailure:
            return Self.verifyResponse(.serviceUnavailable, .tempfail(message: "Temporary authentication failure. Try again shortly."))
        }
    }

    /// The request in `body`, read in place; a malformed one is the 400
    /// `invalid_json` (or 413) `JSONBody.decode` would have answered.
    static func verifyRequest(_ body: ByteBuffer) throws(APIError) -> VerifyMessage.Request {
        let decoded = body.withUnsafeReadableBytes { bytes in
            Result { () throws(VerifyMessage.DecodeError) in try VerifyMessage.decode(bytes) }
        }
        switch decoded {
        case .success(let request):
            return request
        case .failure(let error):
            throw APIError(error.problem == .tooLarge ? .contentTooLarge : .badRequest,
                           error.problem == .tooLarge ? "body_too_large" : "invalid_json", error.message)
        }
    }

    static func verifyResponse(_ status: HTTPResponse.Status, _ answer: VerifyMessage.Answer) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: VerifyMessage.encode(answer))))
    }
}

/// Where nginx's mail proxy sends allowed clients.
public struct NginxSettings: Sendable {
    /// Backend per protocol (`imap`, `pop3`, `smtp`).
    public var backends: [String: NginxMailAuth.Backend]
    /// When set, nginx logs in to the backend as the canonical user with this
    /// password, so the backend need not check the app password again.
    public var backendPassword: String?

    public init(backends: [String: NginxMailAuth.Backend] = [:], backendPassword: String? = nil) {
        self.backends = backends
        self.backendPassword = backendPassword
    }
}

extension AuthEndpoints {
    /// `GET /v1/nginx`: nginx's mail `auth_http`. The answer is always 200
    /// with `Auth-Status` (nginx turns any other status into a temporary
    /// error for the client), except 400 when the request is not from nginx
    /// at all (no valid `Auth-Protocol`).
    func nginxAuth(_ request: Request) async throws -> Response {
        func header(_ name: String) -> [UInt8]? {
            guard let field = HTTPField.Name(name), let value = request.headers[field] else { return nil }
            return Array(value.utf8)
        }
        let protocolName = header("Auth-Protocol").map { String(decoding: $0, as: UTF8.self).lowercased() } ?? ""
        guard let loginProtocol = LoginProtocol(rawValue: protocolName), [.imap, .pop3, .smtp].contains(loginProtocol) else {
            throw APIError(.badRequest, "invalid_auth_protocol", "Auth-Protocol must be imap, pop3 or smtp.")
        }
        let parsed: NginxMailAuth.Request
        do {
            parsed = try NginxMailAuth.parse(header: header)
        } catch {
            // A request nginx made but Postern cannot accept (CRAM-MD5, bytes
            // that are not UTF-8…): the client gets the ordinary refusal.
            let attempt = header("Auth-Login-Attempt").flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 1
            metrics.countLogin(protocol: loginProtocol, outcome: .decided(.deny(.wrongPassword)))
            return Self.nginxResponse(NginxMailAuth.answer(.deny(message: denialMessage), mailProtocol: protocolName,
                                                           attempt: attempt, delay: 0))
        }
        let (outcome, delay) = await gate.evaluate(username: parsed.username, password: parsed.password, loginProtocol: loginProtocol,
                                                   clientIP: parsed.clientIP)
        let verdict: NginxMailAuth.Verdict
        switch outcome {
        case .decided(.allow(_, let username, _)):
            if let backend = nginx.backends[protocolName] {
                verdict = .allow(user: username, backend: backend, backendPassword: nginx.backendPassword)
            } else {
                verdict = .temporaryFailure  // allowed, but nowhere to send it: a configuration error
            }
        case .decided(.deny): verdict = .deny(message: denialMessage)
        case .temporaryFailure: verdict = .temporaryFailure
        }
        let answer = NginxMailAuth.answer(verdict, mailProtocol: protocolName, attempt: parsed.attempt, delay: delay)
        // Past nginx's retries the refusal itself waits; before, Auth-Wait carries the delay.
        await ProtocolLoginGate.wait(answer.holdBack)
        return Self.nginxResponse(answer)
    }

    static func nginxResponse(_ answer: NginxMailAuth.Answer) -> Response {
        var headers = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers)
    }

    struct ExistsRequest: Decodable { let username: String }
    struct ExistsAnswer: Encodable { let exists: Bool }

    /// `POST /v1/user-exists`: whether a username names an active account,
    /// for chat servers that route messages only to real users. 503 when the
    /// store cannot answer.
    func userExists(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(ExistsRequest.self, from: request)
        do {
            let exists = try await authenticator.accountExists(Username.qualified(body.username, defaultDomain: defaultDomain))
            return JSONBody.response(.ok, ExistsAnswer(exists: exists))
        } catch {
            return JSONBody.response(.serviceUnavailable, Refused(result: "tempfail", message: "Temporary failure. Try again shortly."))
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
    /// The auth listener's router: `/healthz`, `/metrics`, `/v1/verify`, `/v1/nginx` and `/v1/user-exists`.
    public func router(sharedSecret: [UInt8]?) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        let protected = router.group()
        if let sharedSecret { protected.add(middleware: SharedSecretMiddleware(secret: sharedSecret)) }
        protected.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render(credentials: authenticator.credentials))))
        }
        protected.post("/v1/verify") { request, _ in try await verify(request) }
        protected.get("/v1/nginx") { request, _ in try await nginxAuth(request) }
        protected.post("/v1/user-exists") { request, _ in try await userExists(request) }
        return router
    }
}
