import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PosternCore
import Testing
@testable import PosternApp
@testable import PosternPortal

/// The Security pages: the overview's cards, the pages they lead to, where
/// each change comes back to, and the apps-and-devices page.
@Suite("Security pages")
struct SecurityPagesTests {
    let portal = PortalTests()

    func account(_ h: HTTPHarness) async throws -> Account {
        try await h.environment.accounts.account(username: "alice@example.org")
    }

    /// Where `needle` first appears in `text`, for checking the order of a page's parts.
    func position(_ needle: String, in text: String) throws -> String.Index {
        try #require(text.range(of: needle), "\(needle) is on the page").lowerBound
    }

    @Test("the overview is four cards, each leading to its own page")
    func overview() async throws {
        try await portal.run { h, browser in
            try await portal.signUp(browser)
            _ = try await h.environment.accounts.createAppPassword(account: try await account(h), name: "Thunderbird on laptop",
                                                                     protocols: ["imap"], expiresAt: nil)
            let page = try await browser.get("/security")
            #expect(page.status == .ok)
            let html = page.text
            for (heading, link) in [("Two-step sign-in", "/security/two-step"), ("Apps and devices", "/security/devices"),
                                    ("Password", "/security/password"), ("Recent activity", "/security/activity")] {
                #expect(html.contains("<a href=\"\(link)\">\(heading)</a></h2>"), "\(heading) card")
            }
            #expect(html.contains("Set up a new device"))
            #expect(html.contains("1 app password<"))
            #expect(html.contains("No security keys") && html.contains("No recovery codes") && html.contains("Authenticator app: not set up"))
            #expect(!html.contains("name=\"current_password\""), "no forms on the overview")
            #expect(html.contains("created app password “Thunderbird on laptop”"), "the last activity entries")
            let now = RelativeTime(now: h.clock.now)
            #expect(html.contains("<time datetime=\"\(h.clock.now.formatted(.iso8601))\" title=\"\(now.exact(h.clock.now))\">just now</time>"))
        }
    }

    @Test("the moved pages each hold their forms, with the same fields and paths")
    func movedPages() async throws {
        try await portal.run { _, browser in
            try await portal.signUp(browser)
            let twoStep = try await browser.get("/security/two-step").text
            #expect(twoStep.contains("action=\"/security/totp/start\"") && twoStep.contains("action=\"/security/recovery-codes\""))
            #expect(twoStep.contains("id=\"mfa-status\"") && twoStep.contains("data-webauthn-register"))
            let password = try await browser.get("/security/password").text
            #expect(password.contains("action=\"/security/password\"") && password.contains("name=\"new_password\"")
                && password.contains("name=\"revoke_app_passwords\""))
            let devices = try await browser.get("/security/devices").text
            #expect(devices.contains("action=\"/security/app-passwords\"") && devices.contains("name=\"protocols\""))
            for (old, new) in [("/security/app-passwords", "/security/devices"), ("/security/totp", "/security/two-step"),
                               ("/security/keys", "/security/two-step"), ("/security/recovery-codes", "/security/two-step")] {
                let moved = try await browser.get(old)
                #expect(moved.status == .seeOther && moved.headers[.location] == new, "\(old)")
            }
            #expect(try await browser.get("/security/devices/new/fax").status == .notFound)
        }
    }

    @Test("a change comes back to the page it was made on; /security?done= still says what was done")
    func redirects() async throws {
        try await portal.run { h, browser in
            try await portal.signUp(browser)
            let changed = try await browser.post("/security/password", from: "/security/password",
                                                 ["current_password": PortalTests.password, "new_password": "a brand new passphrase"])
            #expect(changed.headers[.location] == "/security/password?done=password_changed")
            #expect(try await browser.get("/security/password?done=password_changed").text.contains("Your password was changed."))
            let issued = try await h.environment.accounts.createAppPassword(account: try await account(h), name: "Phone",
                                                                            protocols: ["imap"], expiresAt: nil)
            let revoked = try await browser.post("/security/app-passwords/\(issued.record.id)/revoke", from: "/security/devices", [:])
            #expect(revoked.headers[.location] == "/security/devices?done=revoked")
            #expect(try await browser.post("/security/app-passwords/revoke-all", from: "/security/devices", [:]).headers[.location]
                == "/security/devices?done=revoked_all")
            #expect(try await browser.post("/security/totp/start", from: "/security/two-step", [:]).headers[.location] == "/security/totp/setup")
            #expect(try await browser.get("/security?done=revoked").text.contains("The app password was revoked."))
            let wrong = try await browser.post("/security/password", from: "/security/password",
                                               ["current_password": "not it at all", "new_password": "another passphrase"])
            #expect(wrong.status == .unauthorized && wrong.text.contains("<h1>Password</h1>"), "a refusal is shown beside its form")
        }
    }

    @Test("apps and devices: the list first, then setting up a device, then the form by hand; one label per scope")
    func devicesPage() async throws {
        try await portal.run { h, browser in
            try await portal.signUp(browser)
            _ = try await h.environment.accounts.createAppPassword(account: try await account(h), name: "Thunderbird",
                                                                     protocols: ["imap", "smtp"], expiresAt: nil)
            h.clock.advance(3 * 60 + 5)  // the store keeps whole seconds
            let html = try await browser.get("/security/devices").text
            let list = try position("<table class=\"list apps\"", in: html)
            let setUp = try position("Set up a new device", in: html)
            let byHand = try position("Generate an app password by hand", in: html)
            #expect(list < setUp && setUp < byHand)
            #expect(html.contains("<li>IMAP (reading mail)</li><li>SMTP (sending mail)</li>"), "the list's scopes")
            #expect(html.contains("value=\"imap\" checked> IMAP (reading mail)"), "the form's label is the list's")
            #expect(html.contains(">3 minutes ago</time>"))
            for kind in ["apple", "thunderbird", "outlook"] { #expect(html.contains("href=\"/security/devices/new/\(kind)\"")) }
            #expect(html.contains("href=\"#by-hand\""), "another app uses the form by hand")
        }
    }

    @Test("Thunderbird: its name and protocols are filled in, and its password comes with the line for it")
    func thunderbird() async throws {
        try await portal.run { h, browser in
            try await portal.signUp(browser)
            _ = try await h.environment.accounts.createAppPassword(account: try await account(h), name: "Thunderbird",
                                                                     protocols: ["imap"], expiresAt: nil)
            let form = try await browser.get("/security/devices/new/thunderbird").text
            #expect(form.contains("value=\"Thunderbird (2)\""), "a name not yet taken")
            #expect(form.contains("value=\"imap\" checked") && form.contains("value=\"smtp\" checked") && !form.contains("value=\"pop3\" checked"))
            let created = try await browser.post("/security/app-passwords", from: "/security/devices/new/thunderbird",
                                                 ["kind": "thunderbird", "name": "Thunderbird (2)", "protocols": "imap"])
            let location = try #require(created.headers[.location])
            #expect(location.hasPrefix("/security/app-passwords/new/") && location.hasSuffix("?for=thunderbird"))
            let shown = try await browser.get(location).text
            #expect(shown.contains("In Thunderbird, add your address and paste this as the password; it finds the servers itself."))
            #expect(!shown.contains("id=\"settings-qr\""))
            let taken = try await browser.post("/security/app-passwords", from: "/security/devices/new/thunderbird",
                                               ["kind": "thunderbird", "name": "Thunderbird", "protocols": "imap"])
            #expect(taken.status == .conflict && taken.text.contains("<h1>Set up Thunderbird</h1>"), "the refusal, beside its form")
        }
    }

    @Test("another app: the settings, and a QR code of them without the password")
    func anotherApp() async throws {
        try await portal.run { _, browser in
            try await portal.signUp(browser)
            let created = try await browser.post("/security/app-passwords", from: "/security/devices", ["name": "Script", "protocols": "other"])
            let shown = try await browser.get(try #require(created.headers[.location])).text
            #expect(shown.contains("id=\"settings-qr\"") && shown.contains("<svg"))
            #expect(shown.contains("Settings for your mail app"))
        }
    }

    @Test("iPhone: a setup link shown once as a QR code, opened once, listed as downloaded; a waiting one can be cancelled")
    func appleSetupLink() async throws {
        try await portal.run { h, browser in
            try await portal.signUp(browser)
            let form = try await browser.get("/security/devices/new/apple").text
            #expect(form.contains("action=\"/security/devices/setup\"") && form.contains("value=\"iPhone\""))
            #expect(form.contains("iOS will show it as Unverified"), "unsigned in tests")
            let narrow = try await browser.post("/security/devices/setup", from: "/security/devices/new/apple",
                                                ["kind": "apple", "name": "iPhone", "protocols": "imap"])
            #expect(narrow.status == .badRequest && narrow.text.contains("<h1>Set up iPhone, iPad or Mac</h1>"), "the core's refusal, beside the form")

            let created = try await browser.post("/security/devices/setup", from: "/security/devices/new/apple", ["kind": "apple", "name": "iPhone"])
            let location = try #require(created.headers[.location])
            #expect(location.hasPrefix("/security/devices/setup/"))
            let shown = try await browser.get(location)
            #expect(shown.status == .ok && shown.text.contains("Valid for 10 minutes, works once.") && shown.text.contains("<svg"))
            let prefix = h.environment.config.publicURL + "/setup/"
            let link = try #require(shown.text.range(of: #"href="[^"]+/setup/[A-Za-z0-9_-]{43}""#, options: .regularExpression)
                .map { String(shown.text[$0].dropFirst(6).dropLast()) })
            #expect(link.hasPrefix(prefix))
            #expect(try await browser.get(location).status == .gone, "shown once")

            let profile = try await browser.get(String(link.dropFirst(h.environment.config.publicURL.count)))
            #expect(profile.status == .ok && profile.headers[.contentType] == "application/x-apple-aspen-config")
            let listed = try await browser.get("/security/devices/new/apple").text
            #expect(listed.contains("Installed profile downloaded at"))
            #expect(try await h.environment.accounts.listAppPasswords(account: try await account(h)).map(\.name) == ["iPhone"])

            let waiting = try await browser.post("/security/devices/setup", from: "/security/devices/new/apple", ["kind": "apple", "name": "iPad"])
            #expect(waiting.status == .seeOther)
            let setups = try await h.environment.accounts.listDeviceSetups(account: try await account(h))
            let pending = try #require(setups.first { $0.state == .pending })
            let cancelled = try await browser.post("/security/devices/setup/\(pending.setup.id)/cancel", from: "/security/devices/new/apple", [:])
            #expect(cancelled.headers[.location] == "/security/devices/new/apple?done=setup_cancelled")
            #expect(try await browser.post("/security/devices/setup/\(pending.setup.id)/cancel", from: "/security/devices/new/apple", [:])
                .status == .notFound)
        }
    }
}
