import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternProtocols

/// Mail-client autoconfiguration on the portal listener: Mozilla's
/// `config-v1.1.xml` (Thunderbird asks `autoconfig.<domain>/mail/…` and
/// `<domain>/.well-known/autoconfig/mail/…`) and Outlook's POX Autodiscover
/// (`POST /autodiscover/autodiscover.xml`), so that an address and an app
/// password are all a user types. docs/autoconfig.md says how to route the
/// names to Postern.
///
/// The core's `MailDomains` decides which domains are answered; the
/// documents come from `MailClientSetup` and depend on nothing but the domain
/// and the address as asked, so every address of a served domain gets the
/// same answer whether or not it has an account. A domain that is not served
/// is a 404, and malformed input a 400; no answer holds a secret.
public struct AutoconfigEndpoints: Sendable {
    public let domains: MailDomains
    /// IMAP, POP3 and SMTP, in the order clients should prefer them.
    public let servers: [MailClientSetup.Server]
    /// The page where users get an app password (`<public_url>/security`).
    public let securityPage: String?

    public init(domains: MailDomains, servers: [MailClientSetup.Server], securityPage: String?) {
        self.domains = domains
        self.servers = servers
        self.securityPage = securityPage
    }

    static let autoconfigPaths = ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"]
    /// Outlook and others differ in case; the router's paths are case-sensitive.
    static let autodiscoverPaths = ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AutoDiscover/AutoDiscover.xml"]

    public func addRoutes(to router: Router<PortalContext>) {
        for path in Self.autoconfigPaths {
            router.get(RouterPath(path)) { request, _ in try await autoconfig(request) }
        }
        for path in Self.autodiscoverPaths {
            router.post(RouterPath(path)) { request, _ in try await autodiscover(request) }
        }
    }

    /// `GET …/config-v1.1.xml?emailaddress=…`: 200 with the document, 400
    /// without exactly one valid address, 404 for a domain not served.
    func autoconfig(_ request: Request) async throws -> Response {
        let given = request.uri.queryParameters.getAll("emailaddress")
        guard given.count == 1, let raw = given.first, !raw.isEmpty else {
            throw APIError(.badRequest, "missing_email", "Give one address as ?emailaddress=.")
        }
        let domain = try await servedDomain(of: String(raw)).domain
        let document = MailClientSetup.autoconfig(domain: domain, displayName: domain, servers: servers, documentation: securityPage)
        return Self.xml(document, contentType: "application/xml")
    }

    /// `POST /autodiscover/autodiscover.xml`: 200 with Outlook's settings, 413
    /// over 16 KiB, 400 for a body `AutodiscoverRequest` refuses or an
    /// invalid address, 404 for a domain not served.
    func autodiscover(_ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: AutodiscoverRequest.maximumBytes)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", AutodiscoverRequest.Problem.tooLarge.message)
        }
        let asked: AutodiscoverRequest
        do {
            asked = try AutodiscoverRequest.parse(Array(body.readableBytesView))
        } catch {
            throw APIError(error == .tooLarge ? .contentTooLarge : .badRequest, error == .tooLarge ? "body_too_large" : "invalid_xml",
                           error.message)
        }
        let address = try await servedDomain(of: asked.emailAddress).address
        return Self.xml(MailClientSetup.autodiscover(address: address, servers: servers), contentType: "text/xml; charset=utf-8")
    }

    /// The canonical address and domain, once the domain is known to be served.
    func servedDomain(of raw: String) async throws -> (address: String, domain: String) {
        guard let parsed = MailDomains.address(raw) else {
            throw APIError(.badRequest, "invalid_email", "That is not an email address.")
        }
        guard try await domains.serves(parsed.domain) else {
            throw APIError(.notFound, "unknown_domain", "No mail settings are published for that domain.")
        }
        return parsed
    }

    static func xml(_ document: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType, .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: document)))
    }
}
