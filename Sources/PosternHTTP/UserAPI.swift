import Foundation
import Hummingbird
import PosternCore

/// The user JSON API under `/api/v1`, on the portal listener. Authenticated
/// with the bearer token that `POST /api/v1/sessions` returns.
public struct UserAPI: Sendable {
    public let accounts: AccountService
    /// Reverse proxies whose `X-Forwarded-For` names the real client.
    public let trustedProxies: Set<String>

    public init(accounts: AccountService, trustedProxies: Set<String> = []) {
        self.accounts = accounts
        self.trustedProxies = trustedProxies
    }

    static func protocolNames(_ protocols: Set<LoginProtocol>) -> [String] {
        LoginProtocol.allCases.filter(protocols.contains).map(\.rawValue)
    }

    static func parseDate(_ text: String) throws -> Date {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        throw PosternError.invalidExpiry
    }

    static let noContent = Response(status: .noContent)

    // MARK: - Routes

    public func addRoutes(to router: Router<PortalContext>) {
        let api = router.group("api/v1")
        let signedIn = api.group(context: SignedInContext.self)
        addSessionRoutes(api: api, signedIn: signedIn)
        addPasswordResetRoutes(api: api)
        addActivityRoutes(signedIn: signedIn)
        addMFARoutes(signedIn: signedIn)
        addAppPasswordRoutes(signedIn: signedIn)
    }

    /// Changes that add or remove a credential need the password (and second
    /// factor) proved within the re-authentication window, as in the portal:
    /// a stolen bearer token alone cannot mint an app password or enrol its
    /// own factor. `POST /api/v1/sessions/current/reauthenticate` renews it.
    func requireRecentProof(_ context: SignedInContext) throws {
        guard !accounts.needsReauthentication(context.session) else { throw PosternError.reauthenticationRequired }
    }

    /// The portal listener's router: `/healthz` and the user API.
    public func router() -> Router<PortalContext> {
        let router = Router(context: PortalContext.self)
        router.add(middleware: ForwardedForMiddleware(trusted: trustedProxies))
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: SessionMiddleware(accounts: accounts))
        router.add(middleware: RequestOriginMiddleware())
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        addRoutes(to: router)
        return router
    }
}
