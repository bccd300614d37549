import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PosternCore
import Testing
@testable import PosternApp

/// A browser's cookie jar and CSRF token, for in-process portal tests.
final class Browser: @unchecked Sendable {
    let client: Client
    var cookies: [String: String] = [:]
    var origin: String
    /// Sent with every request (an `X-Forwarded-For` from a trusted proxy).
    var headers: HTTPFields = [:]

    init(_ client: Client, origin: String = "http://localhost:8080") {
        self.client = client
        self.origin = origin
    }

    private var cookieHeader: HTTPFields {
        var fields = headers
        if !cookies.isEmpty { fields[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        return fields
    }

    private func remember(_ reply: Reply) {
        for header in reply.headers[values: .setCookie] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
            if value.isEmpty || header.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
    }

    @discardableResult
    func get(_ path: String) async throws -> Reply {
        let reply = try await client.call(.get, path, headers: cookieHeader)
        remember(reply)
        return reply
    }

    /// Posts a form with the CSRF token of `page` (fetched first).
    @discardableResult
    func post(_ path: String, from page: String, _ fields: [String: String], csrf: Bool = true) async throws -> Reply {
        var form = fields
        if csrf {
            let html = try await get(page).text
            let token = html.range(of: #"name="csrf_token" value="([^"]+)""#, options: .regularExpression).map {
                String(html[$0].dropFirst(#"name="csrf_token" value=""#.count).dropLast())
            }
            form["csrf_token"] = token ?? ""
        }
        var headers = cookieHeader
        headers[.contentType] = "application/x-www-form-urlencoded"
        headers[.origin] = origin
        let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        let reply = try await client.call(.post, path, body: body, headers: headers)
        remember(reply)
        return reply
    }
}

@Suite("Portal rules that need a clock")
struct PortalTests {
    static let password = "violet staple orbit"

    func run(_ configure: (inout PosternConfig) -> Void = { _ in }, _ body: @escaping @Sendable (HTTPHarness, Browser) async throws -> Void) async throws {
        try await withHarness(configure) { h in
            let app = Application(router: try await h.environment.portalRouter())
            try await app.test(.router) { client in
                try await body(h, Browser(Client(client: client), origin: h.environment.config.publicURL))
            }
        }
    }

    func signUp(_ browser: Browser) async throws {
        let reply = try await browser.post("/signup", from: "/signup", ["username": "alice@example.org", "password": Self.password])
        #expect(reply.status == .seeOther)
        #expect(reply.headers[.location] == "/security")
    }

    @Test("a portal session ends after the idle timeout, and an API token is not a cookie")
    func idleTimeout() async throws {
        try await run { h, browser in
            try await signUp(browser)
            #expect(try await browser.get("/security").status == .ok)
            h.clock.advance(29 * 60)
            #expect(try await browser.get("/security").status == .ok, "activity keeps it alive")
            h.clock.advance(29 * 60)
            #expect(try await browser.get("/security").status == .ok)
            h.clock.advance(31 * 60)
            let expired = try await browser.get("/security")
            #expect(expired.status == .seeOther && expired.headers[.location] == "/signin")

            let token = try await h.environment.accounts.signIn(username: "alice@example.org", password: Self.password, otp: nil, clientIP: nil).token
            browser.cookies["postern_session"] = token
            #expect(try await browser.get("/security").status == .seeOther, "a bearer token does not work as a cookie")
        }
    }

    @Test("sensitive changes need a recent sign-in, else the password again")
    func reauthentication() async throws {
        try await run { h, browser in
            try await signUp(browser)
            #expect(try await browser.post("/security/app-passwords", from: "/security", ["name": "Phone", "protocols": "imap"]).headers[.location]?
                .hasPrefix("/security/app-passwords/new/") == true)
            h.clock.advance(11 * 60)
            let gated = try await browser.post("/security/app-passwords", from: "/security", ["name": "Tablet", "protocols": "imap"])
            #expect(gated.headers[.location] == "/security/reauth")
            #expect(try await h.environment.accounts.listAppPasswords(account: h.environment.accounts.account(username: "alice@example.org")).count == 1)
            #expect(try await browser.post("/security/reauth", from: "/security/reauth", ["password": "wrong one"]).status == .unauthorized)
            #expect(try await browser.post("/security/reauth", from: "/security/reauth", ["password": Self.password]).headers[.location] == "/security?done=confirmed")
            let created = try await browser.post("/security/app-passwords", from: "/security", ["name": "Tablet", "protocols": "imap"])
            #expect(created.headers[.location]?.hasPrefix("/security/app-passwords/new/") == true)
        }
    }

    @Test("a name with a mark on its quote is refused with 400, and the form shows it back escaped per scalar")
    func markedQuoteName() async throws {
        try await run { h, browser in
            try await signUp(browser)
            let reply = try await browser.post("/security/app-passwords", from: "/security", ["name": "\"\u{0301} onmouseover=x", "protocols": "imap"])
            #expect(reply.status == .badRequest)
            let html = Data(reply.text.utf8)
            let field = Data("value=\"&quot;\u{0301} onmouseover=x\"".utf8), bare = Data("\"\u{0301}".utf8)
            #expect(html.range(of: field) != nil, "the name goes back into the field, escaped")
            #expect(html.range(of: bare) == nil, "no bare quote with the mark anywhere")
            #expect(reply.text.contains("combining mark right after a quote"))
            let account = try await h.environment.accounts.account(username: "alice@example.org")
            #expect(try await h.environment.accounts.listAppPasswords(account: account).isEmpty)
        }
    }

    @Test("a new app password is shown once, to the session that made it")
    func revealOnce() async throws {
        try await run { h, browser in
            try await signUp(browser)
            let created = try await browser.post("/security/app-passwords", from: "/security", ["name": "Phone", "protocols": "smtp"])
            let location = try #require(created.headers[.location])
            let first = try await browser.get(location)
            #expect(first.status == .ok)
            #expect(first.headers[.cacheControl] == "no-store")
            let password = try #require(first.text.range(of: #"data-password="[a-z0-9]{12}""#, options: .regularExpression).map {
                String(first.text[$0].dropFirst(15).dropLast())
            })
            #expect(first.text.contains(AppPasswordFormat.grouped(password)))
            let again = try await browser.get(location)
            #expect(again.status == .gone)
            #expect(!again.text.contains(password))
            let verify = await h.environment.authenticator.authenticate(ProtocolLoginRequest(username: "alice@example.org", password: password,
                                                                                             loginProtocol: .smtp, clientIP: nil))
            if case .decided(.allow) = verify {} else { Issue.record("the shown password works: \(verify)") }
        }
    }

    @Test("CSRF: no token, a wrong token, another origin, or a cross-site fetch are all refused")
    func csrf() async throws {
        try await run { h, browser in
            try await signUp(browser)
            #expect(try await browser.post("/security/app-passwords", from: "/security", ["name": "A", "protocols": "imap"], csrf: false).status == .forbidden)
            #expect(try await browser.post("/security/app-passwords", from: "/security", ["name": "B", "protocols": "imap", "csrf_token": "forged"], csrf: false).status == .forbidden)
            browser.origin = "https://evil.example"
            #expect(try await browser.post("/security/app-passwords", from: "/security", ["name": "C", "protocols": "imap"]).status == .forbidden)
            browser.origin = h.environment.config.publicURL
            let account = try await h.environment.accounts.account(username: "alice@example.org")
            #expect(try await h.environment.accounts.listAppPasswords(account: account).isEmpty)
            #expect(try await browser.post("/signout", from: "/security", [:], csrf: false).status == .forbidden, "even sign-out")
        }
    }

    @Test("second step: five wrong codes end the attempt; the session id changes at each step")
    func secondFactor() async throws {
        try await run { h, browser in
            try await signUp(browser)
            let firstSession = browser.cookies["postern_session"]
            let account = try await h.environment.accounts.account(username: "alice@example.org")
            let enrolment = try await h.environment.accounts.beginTOTP(account: account)
            try await h.environment.accounts.confirmTOTP(account: account, code: h.totpCode(secret: enrolment.secretBase32))
            h.clock.advance(30)
            try await browser.post("/signout", from: "/security", [:])
            let step1 = try await browser.post("/signin", from: "/signin", ["username": "alice@example.org", "password": Self.password])
            #expect(step1.headers[.location] == "/signin/verify")
            #expect(browser.cookies["postern_session"] == nil && browser.cookies["postern_pending"] != nil)
            #expect(try await browser.get("/security").status == .seeOther, "a pending sign-in opens nothing")
            for _ in 0..<4 {
                #expect(try await browser.post("/signin/verify", from: "/signin/verify", ["otp": "000000"]).status == .unauthorized)
            }
            let fifth = try await browser.post("/signin/verify", from: "/signin/verify", ["otp": "000000"])
            #expect(fifth.text.contains("Too many wrong codes"))
            #expect(try await browser.post("/signin/verify", from: "/signin", ["otp": h.totpCode(secret: enrolment.secretBase32)]).status == .unauthorized,
                    "the attempt is over, even with the right code")

            try await browser.post("/signin", from: "/signin", ["username": "alice@example.org", "password": Self.password])
            let done = try await browser.post("/signin/verify", from: "/signin/verify", ["otp": h.totpCode(secret: enrolment.secretBase32)])
            #expect(done.headers[.location] == "/security")
            #expect(browser.cookies["postern_session"] != nil && browser.cookies["postern_session"] != firstSession)
            #expect(try await browser.get("/security").status == .ok)
        }
    }

    @Test("with an https public URL, cookies are Secure and __Host- prefixed")
    func secureCookies() async throws {
        try await run({ $0.publicURL = "https://mail.example.org" }) { _, browser in
            let page = try await browser.get("/signin")
            let cookie = try #require(page.headers[values: .setCookie].first)
            #expect(cookie.hasPrefix("__Host-postern_csrf="))
            #expect(cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"))
            #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
        }
    }

    @Test("sign-up closed: the page says so")
    func signupClosed() async throws {
        try await run({ $0.signupOpen = false }) { _, browser in
            let page = try await browser.get("/signup")
            let post = try await browser.post("/signup", from: "/signin", ["username": "x@example.org", "password": Self.password])
            #expect(page.status == .forbidden)
            #expect(post.status == .forbidden)
        }
    }
}
