import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PosternCore
import Testing
@testable import PosternApp

/// The operator's console in the portal: who may see it, and what a change
/// needs (the CSRF token, a recent sign-in) and leaves behind (the admin log).
@Suite("Portal: the operator's console")
struct AdminPortalTests {
    static let password = "violet staple orbit"
    static let admin = "admin@example.org"
    static let bob = "bob@example.org"

    func run(_ body: @escaping @Sendable (HTTPHarness, Browser) async throws -> Void) async throws {
        try await withHarness { h in
            let app = Application(router: try await h.environment.portalRouter())
            try await app.test(.router) { client in
                try await body(h, Browser(Client(client: client), origin: h.environment.config.publicURL))
            }
        }
    }

    /// Signs `browser` up as `username` (signed in, so recently proven).
    func signUp(_ browser: Browser, _ username: String) async throws {
        let reply = try await browser.post("/signup", from: "/signup", ["username": username, "password": Self.password])
        #expect(reply.headers[.location] == "/security")
    }

    /// Makes `username` an administrator, as `postern user grant-admin` does.
    func grantAdmin(_ h: HTTPHarness, _ username: String) async throws {
        try await h.environment.admin.perform(.grantAdmin, on: username, by: .commandLine)
    }

    /// Turns on the authenticator app; returns its secret.
    @discardableResult
    func enableTOTP(_ h: HTTPHarness, _ username: String) async throws -> String {
        let account = try await h.environment.accounts.account(username: username)
        let enrolment = try await h.environment.accounts.beginTOTP(account: account)
        try await h.environment.accounts.confirmTOTP(account: account, code: h.totpCode(secret: enrolment.secretBase32))
        return enrolment.secretBase32
    }

    /// An administrator with a second factor, signed in in `browser`, and Bob.
    func adminAndBob(_ h: HTTPHarness, _ browser: Browser) async throws -> String {
        _ = try await h.environment.accounts.createAccount(username: Self.bob, password: Self.password)
        try await signUp(browser, Self.admin)
        let secret = try await enableTOTP(h, Self.admin)
        try await grantAdmin(h, Self.admin)
        // Later changes sort after the grant in the admin log (newest first).
        h.clock.advance(1)
        return secret
    }

    static let pages = ["/admin", "/admin?days=30", "/admin/users", "/admin/users/bob@example.org", "/admin/users/bob@example.org/confirm/disable",
                        "/admin/policy", "/admin/log", "/admin/log.csv", "/admin/log.jsonl"]

    @Test("signed out: every console page sends the browser to sign in")
    func signedOut() async throws {
        try await run { _, browser in
            for path in Self.pages {
                let reply = try await browser.get(path)
                #expect(reply.status == .seeOther && reply.headers[.location] == "/signin", "\(path)")
            }
        }
    }

    @Test("someone who is not an administrator gets 403 on every console page and change, and no link to it")
    func notAnAdmin() async throws {
        try await run { h, browser in
            _ = try await h.environment.accounts.createAccount(username: Self.bob, password: Self.password)
            try await signUp(browser, "carol@example.org")
            try await enableTOTP(h, "carol@example.org")
            #expect(!(try await browser.get("/security").text.contains("href=\"/admin\"")), "no Administration link")
            for path in Self.pages {
                let reply = try await browser.get(path)
                #expect(reply.status == .forbidden, "\(path)")
                #expect(reply.text.contains("Only administrators may see this page."), "\(path)")
                #expect(!reply.text.contains("<table"), "\(path) shows nothing else")
            }
            let post = try await browser.post("/admin/users/bob@example.org/disable", from: "/security", [:])
            #expect(post.status == .forbidden)
            #expect(try await h.environment.accounts.account(username: Self.bob).disabled == false)
        }
    }

    @Test("an administrator without a second factor is asked to set one up first, and changes nothing")
    func adminWithoutMFA() async throws {
        try await run { h, browser in
            _ = try await h.environment.accounts.createAccount(username: Self.bob, password: Self.password)
            try await signUp(browser, Self.admin)
            try await h.forceAdmin(Self.admin)
            #expect(try await browser.get("/security").text.contains("href=\"/admin\""), "the Administration link")
            for path in Self.pages {
                let reply = try await browser.get(path)
                #expect(reply.status == .forbidden, "\(path)")
                #expect(reply.text.contains("Set up two-step sign-in first") && reply.text.contains("href=\"/security\""), "\(path)")
                #expect(!reply.text.contains("<table"), "\(path) shows nothing else")
            }
            let post = try await browser.post("/admin/users/bob@example.org/disable", from: "/security", [:])
            #expect(post.status == .forbidden)
            #expect(try await h.environment.accounts.account(username: Self.bob).disabled == false)
        }
    }

    @Test("a change without the CSRF token, or from another origin, is refused")
    func csrf() async throws {
        try await run { h, browser in
            _ = try await adminAndBob(h, browser)
            let page = "/admin/users/bob@example.org/confirm/disable"
            #expect(try await browser.post("/admin/users/bob@example.org/disable", from: page, [:], csrf: false).status == .forbidden)
            #expect(try await browser.post("/admin/users/bob@example.org/disable", from: page, ["csrf_token": "forged"], csrf: false).status == .forbidden)
            browser.origin = "https://evil.example"
            #expect(try await browser.post("/admin/users/bob@example.org/disable", from: page, [:]).status == .forbidden)
            #expect(try await h.environment.accounts.account(username: Self.bob).disabled == false)
            #expect(try await h.environment.admin.log(before: nil).entries.allSatisfy { $0.action == .grantAdmin })
        }
    }

    @Test("a stale sign-in is sent to confirm it's you, then back to the confirmation page")
    func staleSignIn() async throws {
        try await run { h, browser in
            let secret = try await adminAndBob(h, browser)
            h.clock.advance(11 * 60)
            let confirm = "/admin/users/bob@example.org/confirm/disable"
            let gated = try await browser.post("/admin/users/bob@example.org/disable", from: confirm, [:])
            let reauth = "/security/reauth?next=%2Fadmin%2Fusers%2Fbob%40example%2Eorg%2Fconfirm%2Fdisable"
            #expect(gated.status == .seeOther && gated.headers[.location] == reauth)
            #expect(try await h.environment.accounts.account(username: Self.bob).disabled == false)

            let page = try await browser.get(reauth)
            #expect(page.text.contains(#"name="next" value="/admin/users/bob@example.org/confirm/disable""#))
            let proved = try await browser.post("/security/reauth", from: reauth,
                                                ["password": Self.password, "otp": h.totpCode(secret: secret), "next": confirm])
            #expect(proved.headers[.location] == confirm, "back to the page that asked")
            let done = try await browser.post("/admin/users/bob@example.org/disable", from: confirm, [:])
            #expect(done.headers[.location] == "/admin/users/bob@example.org?done=disable")
            #expect(try await h.environment.accounts.account(username: Self.bob).disabled)

            for evil in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
                let form = try await browser.post("/security/reauth", from: "/security/reauth",
                                                  ["password": Self.password, "otp": h.totpCode(secret: secret, offset: 1), "next": evil])
                #expect(form.headers[.location] == "/security?done=confirmed", "no open redirect: \(evil)")
                h.clock.advance(30)
            }
        }
    }

    @Test("an action writes the admin log, with who, what, on whom; the page, CSV and JSON Lines show it")
    func actionLogged() async throws {
        try await run { h, browser in
            _ = try await adminAndBob(h, browser)
            let confirm = try await browser.get("/admin/users/bob@example.org/confirm/disable")
            #expect(confirm.status == .ok && confirm.text.contains("Disable the account of bob@example.org?"))
            let done = try await browser.post("/admin/users/bob@example.org/disable", from: "/admin/users/bob@example.org/confirm/disable", [:])
            #expect(done.headers[.location] == "/admin/users/bob@example.org?done=disable")
            let user = try await browser.get("/admin/users/bob@example.org?done=disable")
            #expect(user.text.contains("The account was disabled.") && user.text.contains(">Enable</a>"))

            let entry = try #require(try await h.environment.admin.log(before: nil).entries.first)
            #expect(entry.action == .disable && entry.adminUsername == Self.admin && entry.targetUsername == Self.bob)

            let log = try await browser.get("/admin/log")
            #expect(log.text.contains("disable the account") && log.text.contains(#"<a href="/admin/users/bob@example.org">bob@example.org</a>"#))
            let csv = try await browser.get("/admin/log.csv")
            #expect(csv.headers[.contentDisposition] == #"attachment; filename="postern-admin-log.csv""#)
            #expect(csv.text.hasPrefix("at,admin,action,target,detail,client_ip,id\r\n"))
            #expect(csv.text.contains(",admin@example.org,disable,bob@example.org,"))
            let jsonl = try await browser.get("/admin/log.jsonl")
            #expect(jsonl.headers[.contentDisposition]?.hasPrefix("attachment;") == true)
            let first = try #require(jsonl.text.split(separator: "\n").first)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
            #expect(object["action"] as? String == "disable" && object["target"] as? String == Self.bob)
        }
    }

    @Test("revoking one app password names it, takes its id from the form, and says so")
    func revokeOne() async throws {
        try await run { h, browser in
            _ = try await adminAndBob(h, browser)
            let bob = try await h.environment.accounts.account(username: Self.bob)
            let issued = try await h.environment.accounts.createAppPassword(account: bob, name: "Phone", protocols: ["imap"], expiresAt: nil)
            let page = try await browser.get("/admin/users/bob@example.org")
            #expect(page.text.contains("Phone") && !page.text.contains(issued.password), "never the secret")
            let confirm = "/admin/users/bob@example.org/confirm/revoke-app-password?app=\(issued.record.id)"
            #expect(try await browser.get(confirm).text.contains("Revoke \u{201C}Phone\u{201D} of bob@example.org?"))
            #expect(try await browser.get("/admin/users/bob@example.org/confirm/revoke-app-password?app=nope").status == .notFound)
            let done = try await browser.post("/admin/users/bob@example.org/revoke-app-password", from: confirm, ["app": issued.record.id])
            #expect(done.headers[.location] == "/admin/users/bob@example.org?done=revoke-app-password")
            #expect(try await h.environment.accounts.listAppPasswords(account: bob).isEmpty)
            #expect(try await h.environment.admin.log(before: nil).entries.first?.detail == "Phone")
        }
    }

    @Test("the overview lists a client still on the account password, and draws its charts without script")
    func overview() async throws {
        try await run { h, browser in
            _ = try await adminAndBob(h, browser)
            let login = await h.environment.authenticator.authenticate(ProtocolLoginRequest(username: Self.bob, password: Self.password,
                                                                                            loginProtocol: .imap, clientIP: "198.51.100.23"))
            if case .decided(.allow) = login {} else { Issue.record("the account password works: \(login)") }
            try await h.environment.recorder.flush(to: h.environment.store)
            let page = try await browser.get("/admin")
            #expect(page.status == .ok)
            let clients = try #require(page.text.range(of: #"<table class="list" id="account-password-clients"[\s\S]*?</table>"#,
                                                       options: .regularExpression).map { String(page.text[$0]) })
            #expect(clients.contains(#"<a href="/admin/users/bob@example.org">bob@example.org</a>"#))
            #expect(clients.contains("<td>IMAP</td>") && clients.contains("<td>198.51.100.23</td>"))
            #expect(page.text.contains("<svg") && page.text.contains("role=\"img\"") && page.text.contains("<title id=\"logins-chart-title\">"))
            #expect(!page.text.contains("<script>") && !page.text.contains("style="), "no inline script or style")
            #expect(try await browser.get("/admin?days=30").text.contains("in the last 30 days"))
            let users = try await browser.get("/admin/users?query=example.org")
            #expect(users.text.contains("bob@example.org") && users.text.contains("admin@example.org"))
            #expect(!(try await browser.get("/admin/users?query=nobody").text.contains("bob@example.org")))
            #expect(try await browser.get("/admin/policy").text.contains("Re-authentication window"))
        }
    }
}
