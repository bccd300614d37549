import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// Cookie names and attributes. With an https public URL the cookies are
/// Secure and use the `__Host-` prefix (no Domain, Path=/).
public struct CookiePolicy: Sendable {
    public let secure: Bool

    public init(publicURL: String) {
        secure = publicURL.lowercased().hasPrefix("https://")
    }

    var session: String { secure ? "__Host-postern_session" : "postern_session" }
    var pending: String { secure ? "__Host-postern_pending" : "postern_pending" }
    var csrf: String { secure ? "__Host-postern_csrf" : "postern_csrf" }

    func set(_ name: String, _ value: String, maxAge: Int? = nil) -> String {
        var cookie = "\(name)=\(value); Path=/; HttpOnly; SameSite=Lax"
        if secure { cookie += "; Secure" }
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        return cookie
    }

    func clear(_ name: String) -> String { set(name, "", maxAge: 0) }

    static func parse(_ header: String?) -> [String: String] {
        var cookies: [String: String] = [:]
        for part in (header ?? "").split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let name = pair[0].trimmingCharacters(in: .whitespaces)
            if cookies[name] == nil { cookies[name] = pair[1].trimmingCharacters(in: .whitespaces) }
        }
        return cookies
    }
}

/// For portal pages: resolves the session cookie, keeps a CSRF cookie, and
/// refuses any POST that lacks the form's CSRF token or comes from another site.
struct BrowserSessionMiddleware: RouterMiddleware {
    let accounts: AccountService
    let keys: KeyRing
    let cookies: CookiePolicy
    let publicOrigin: String
    let views: PortalViews

    static let maximumFormBytes = 64 * 1024

    func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/api/") || path == "/healthz" || path.hasPrefix("/static/") {
            return try await next(request, context)
        }
        var context = context
        let jar = CookiePolicy.parse(request.headers[.cookie])
        if let token = jar[cookies.session], let found = try await accounts.resolveSession(token: token, kind: .portal) {
            let (session, account) = found
            context.browser = (session, account)
            context.browserRecentlyProven = !accounts.needsReauthentication(session)
        }
        var newSeed: String?
        if let seed = jar[cookies.csrf], seed.utf8.count == 43 {
            context.csrfSeed = seed
        } else {
            newSeed = Secrets.newToken()
            context.csrfSeed = newSeed
        }

        if request.method == .post {
            if let refusal = try await refuseForgery(request, context: &context, fresh: newSeed != nil) {
                return refusal
            }
        }
        var response = try await next(request, context)
        if let newSeed, response.headers[values: .setCookie].allSatisfy({ !$0.hasPrefix(cookies.csrf + "=") }) {
            response.headers.append(HTTPField(name: .setCookie, value: cookies.set(cookies.csrf, newSeed)))
        }
        return response
    }

    /// Nil when the POST is genuine; otherwise the 403 page to send.
    private func refuseForgery(_ request: Request, context: inout PortalContext, fresh: Bool) async throws -> Response? {
        // Browsers name the page a POST came from; only our own origin may post.
        if let origin = request.headers[.origin], origin != publicOrigin { return try forbidden(context) }
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" { return try forbidden(context) }
        // Script calls (the WebAuthn ones) send JSON and the token in a header;
        // the handler reads the body itself.
        if request.headers[.contentType]?.hasPrefix("application/json") == true {
            guard !fresh, let seed = context.csrfSeed, let given = request.headers[HTTPField.Name("X-CSRF-Token")!],
                  Secrets.constantTimeEquals(given, keys.csrfToken(seed: seed))
            else { return try forbidden(context) }
            return nil
        }
        let body = request.body
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: Self.maximumFormBytes)
        } catch {
            return try views.page("message", status: .contentTooLarge, context: context, data: [
                "heading": "That was too much", "message": "The form you sent is larger than this page accepts.",
                "link": "/security", "linkText": "Back",
            ])
        }
        context.form = FormDecoding.parse(String(decoding: buffer.readableBytesView, as: UTF8.self))
        guard !fresh, let seed = context.csrfSeed, let given = context.form["csrf_token"]?.first,
              Secrets.constantTimeEquals(given, keys.csrfToken(seed: seed))
        else { return try forbidden(context) }
        return nil
    }

    private func forbidden(_ context: PortalContext) throws -> Response {
        try views.page("message", status: .forbidden, context: context, data: [
            "heading": "This form has expired",
            "message": "For your safety, Postern accepts a form only from its own pages. Go back, reload the page, and try again.",
            "link": "/security", "linkText": "Reload",
        ])
    }
}

/// `application/x-www-form-urlencoded` bodies and query strings.
enum FormDecoding {
    static func parse(_ text: String) -> [String: [String]] {
        var fields: [String: [String]] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            fields[name, default: []].append(value)
        }
        return fields
    }

    static func decode(_ text: Substring) -> String {
        let plus = text.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }
}
