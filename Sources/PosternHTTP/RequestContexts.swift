import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PosternCore

/// The context of every request on the portal listener. `identity` is set by
/// `SessionMiddleware` when a valid bearer token came with the request.
public struct PortalContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set from a bearer token, for the JSON API only.
    public var identity: (session: Session, account: Account)?
    /// Set from the session cookie, for the HTML portal only.
    public var browser: (session: Session, account: Account)?
    /// Whether `browser`'s session proved its user recently enough for a
    /// sensitive change (the core's `needsReauthentication`, asked when
    /// `browser` is set).
    public var browserRecentlyProven = false
    /// The value CSRF tokens are derived from (the CSRF cookie).
    public var csrfSeed: String?
    /// The fields of a submitted form, once checked.
    public var form: [String: [String]] = [:]
    /// The client's IP address: the socket's peer, or, behind a trusted
    /// reverse proxy, the address it forwarded (`ForwardedForMiddleware`).
    public var peerAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress.flatMap(ClientAddress.canonical)
    }
}

/// The context of routes that need a signed-in user. Building one fails with
/// 401 when there is none, so handlers never unwrap an optional account.
public struct SignedInContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let session: Session
    public let account: Account
    public let peerAddress: String?

    public init(context: PortalContext) throws {
        guard let identity = context.identity else { throw APIError.unauthorized }
        coreContext = context.coreContext
        session = identity.session
        account = identity.account
        peerAddress = context.peerAddress
    }
}

/// Resolves `Authorization: Bearer …` into `PortalContext.identity`.
/// An unknown or expired token leaves it empty; routes that need it refuse.
public struct SessionMiddleware: RouterMiddleware {
    let accounts: AccountService

    public func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                context.identity = try await accounts.resolveSession(token: String(parts[1]))
            }
        }
        return try await next(request, context)
    }
}

/// Headers on every response of the portal listener: a strict CSP with no
/// inline script, no framing, no referrer to other sites, no sniffing.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        return response
    }
}

/// Makes the peer's address known to the core for the request
/// (`RequestOrigin.clientIP`), so notices and activity say where a change
/// came from.
public struct RequestOriginMiddleware: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        try await RequestOrigin.$clientIP.withValue(context.peerAddress) {
            try await next(request, context)
        }
    }
}

/// Behind a reverse proxy every request comes from the proxy's address. When
/// the socket's peer is a trusted proxy, the client is the right-most address
/// in `X-Forwarded-For` that is not itself a trusted proxy; from anyone else
/// the header is ignored, so clients cannot choose their own address (and
/// dodge the throttle).
public struct ForwardedForMiddleware: RouterMiddleware {
    let trusted: Set<String>

    public init(trusted: Set<String>) {
        self.trusted = Set(trusted.compactMap(ClientAddress.canonical))
    }

    public func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        guard !trusted.isEmpty, let peer = context.peerAddress.flatMap(ClientAddress.canonical), trusted.contains(peer) else {
            return try await next(request, context)
        }
        var context = context
        let hops = request.headers[values: HTTPField.Name("X-Forwarded-For")!]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard let address = ClientAddress.canonical(hop) else { break }  // garbage: stop at the proxy
            context.peerAddress = address
            if !trusted.contains(address) { break }
        }
        return try await next(request, context)
    }
}
