import Foundation
import HTTPTypes
import Logging
import PosternCore
import PosternProtocols
import Testing
@testable import PosternApp
@testable import PosternHTTP

/// Notifications, password reset and activity, through the API and the real store.
@Suite("Notifications, password reset, activity")
struct NotificationTests {
    static let password = "violet staple orbit"

    /// The unsent messages, opened: (id, recipient, subject, text). Messages
    /// written in the same instant have no order among them.
    func outbox(_ h: HTTPHarness) async throws -> [(id: String, to: String, subject: String, text: String)] {
        try await h.environment.recorder.flush(to: h.environment.store)
        return try await h.environment.store.pendingOutbox(limit: 500).map { message in
            let content = try h.environment.notices.open(message.sealed!, id: message.id)
            return (message.id, message.recipient, content.subject, content.text)
        }
    }

    func subjects(_ h: HTTPHarness) async throws -> [String] { try await outbox(h).map(\.subject) }

    func enableTOTP(_ h: HTTPHarness, _ portal: Client, _ token: String) async throws -> String {
        let secret = try await portal.call(.post, "/api/v1/mfa/totp", token: token)["secret"]!
        #expect(try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": h.totpCode(secret: secret)], token: token).status == .noContent)
        return secret
    }

    func verify(_ auth: Client, _ password: String, ip: String, user: String = "alice@example.org") async throws -> Reply {
        try await auth.call(.post, "/v1/verify", json: ["username": user, "password": password, "protocol": "imap", "client_ip": ip])
    }

    @Test("every credential change notifies the owner, saying from where")
    func changes() async throws {
        try await withHarness { h in
            try await h.run(live: true) { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Laptop"], token: token)
                _ = try await portal.call(.delete, "/api/v1/app-passwords/\(app["id"]!)", token: token)
                _ = try await enableTOTP(h, portal, token)
                _ = try await portal.call(.post, "/api/v1/mfa/recovery-codes", token: token)
                #expect(try await portal.call(.put, "/api/v1/account/password",
                                              json: ["current_password": Self.password, "new_password": "a new passphrase here"], token: token).status == .noContent)
                let messages = try await outbox(h)
                #expect(messages.map(\.subject).sorted() == ["App password revoked", "New app password created", "New recovery codes",
                                                             "Two-factor authentication turned on", "Your password was changed"])
                #expect(messages.allSatisfy { $0.to == "alice@example.org" })
                #expect(messages.first { $0.subject == "New app password created" }?.text.contains("\u{201C}Laptop\u{201D}") == true)
                #expect(messages.allSatisfy { $0.text.contains("from 127.0.0.1") && $0.text.contains("/security") })
            }
        }
    }

    @Test("protocol logins: first use and each new network once; MFA password once per address and day; stale once; never for guesses")
    func protocolAlerts() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                _ = try await enableTOTP(h, portal, token)
                let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone"], token: token)
                let before = Set(try await outbox(h).map(\.id))
                for ip in ["198.51.100.7", "198.51.100.8", "198.51.100.7", "203.0.113.9", "2001:db8:1:2::5", "2001:db8:1:3::5"] {
                    #expect(try await verify(auth, app["password"]!, ip: ip).status == .ok)
                }
                for _ in 0..<3 { #expect(try await verify(auth, Self.password, ip: "192.0.2.10").status == .unauthorized) }
                #expect(try await verify(auth, Self.password, ip: "192.0.2.11").status == .unauthorized)
                for i in 0..<5 { _ = try await verify(auth, "guess \(i)", ip: "192.0.2.66") }
                _ = try await verify(auth, "guess", ip: "192.0.2.66", user: "nobody@example.org")
                _ = try await portal.call(.delete, "/api/v1/app-passwords/\(app["id"]!)", token: token)
                for _ in 0..<3 { _ = try await verify(auth, app["password"]!, ip: "198.51.100.7") }
                let after = try await outbox(h).filter { !before.contains($0.id) }
                #expect(after.map(\.subject).sorted() == [
                    "A client is still using a revoked app password",
                    "A third-party application accessed your account",  // first use, 198.51.100.0/24
                    "An app password was used from a new network",      // 203.0.113.0/24
                    "An app password was used from a new network",      // 2001:db8:1::/48 (both v6 addresses)
                    "App password revoked",
                    "Your mail client is using your account password",  // 192.0.2.10
                    "Your mail client is using your account password",  // 192.0.2.11
                ])
                let first = try #require(after.first { $0.subject == "A third-party application accessed your account" })
                #expect(first.text.contains("\u{201C}Phone\u{201D}") && first.text.contains("IMAP") && first.text.contains("198.51.100.7"))
                #expect(first.text.contains("/security/app-passwords/\(app["id"]!)/revoke"))
                #expect(after.filter { $0.subject == "Your mail client is using your account password" }.map { $0.text.contains("192.0.2.10") || $0.text.contains("192.0.2.11") } == [true, true])
            }
        }
    }

    /// The reset link from the newest reset email, waiting for the background request.
    func resetToken(_ h: HTTPHarness) async throws -> String {
        for _ in 0..<400 {
            if let mail = try await outbox(h).last(where: { $0.subject == "Reset your password" }),
               let range = mail.text.range(of: #"/reset\?token=[A-Za-z0-9_-]+"#, options: .regularExpression) {
                return String(mail.text[range].dropFirst("/reset?token=".count))
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no reset email")
        return ""
    }

    @Test("password reset: the same answer for anyone, a single-use link, a second factor with MFA, everything reset")
    func reset() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                let secret = try await enableTOTP(h, portal, token)
                let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone"], token: token)
                let known = try await portal.call(.post, "/api/v1/password-reset", json: ["username": "alice@example.org"])
                let unknown = try await portal.call(.post, "/api/v1/password-reset", json: ["username": "nobody@example.org"])
                #expect(known.status == .accepted && unknown.status == .accepted && known.body == unknown.body)
                let link = try await resetToken(h)
                #expect(link.count >= 43, "at least 256 bits")
                func complete(_ body: [String: any Sendable]) async throws -> Reply {
                    try await portal.call(.post, "/api/v1/password-reset/complete", json: body.merging(["token": link]) { a, _ in a })
                }
                #expect(try await complete(["new_password": "brand new passphrase"])["error"] == "otp_required")
                #expect(try await complete(["new_password": "brand new passphrase", "otp": "000000"])["error"] == "invalid_code")
                #expect(try await complete(["new_password": "password", "otp": h.totpCode(secret: secret)])["error"] == "weak_password")
                h.clock.advance(30)
                #expect(try await complete(["new_password": "brand new passphrase", "otp": h.totpCode(secret: secret)]).status == .noContent)
                h.clock.advance(30)
                #expect(try await complete(["new_password": "another passphrase", "otp": h.totpCode(secret: secret)]).status == .notFound,
                        "the link works once")
                #expect(try await portal.call(.get, "/api/v1/account", token: token).status == .unauthorized, "sessions ended")
                #expect(try await verify(auth, app["password"]!, ip: "198.51.100.7").status == .unauthorized, "app passwords revoked")
                let signIn = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": "brand new passphrase",
                                                                                   "otp": h.totpCode(secret: secret, offset: 1)])
                #expect(signIn.status == .created)
                #expect(try await subjects(h).contains("Your password was reset"))
                #expect(try await portal.call(.post, "/api/v1/password-reset/complete",
                                              json: ["token": "made-up", "new_password": "brand new passphrase"]).status == .notFound)
            }
        }
    }

    @Test("password reset emails: at most one per account per 10 minutes")
    func resetFlood() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal)
                for _ in 0..<5 { _ = try await portal.call(.post, "/api/v1/password-reset", json: ["username": "alice@example.org"]) }
                _ = try await resetToken(h)
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await subjects(h).filter { $0 == "Reset your password" }.count == 1)
            }
        }
    }

    @Test("activity: newest first, plain-language reasons, pages by cursor, filters by category")
    func activity() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                _ = try await enableTOTP(h, portal, token)
                for i in 0..<6 {
                    h.clock.advance(1)
                    _ = try await verify(auth, Self.password, ip: "192.0.2.\(i)")
                }
                try await h.environment.recorder.flush(to: h.environment.store)
                let logins = try await portal.call(.get, "/api/v1/activity?category=protocol_login&limit=4", token: token)
                let events = logins.json["events"] as? [[String: Any]] ?? []
                #expect(events.count == 4)
                #expect(events.first?["summary"] as? String == "refused: account password used over IMAP while MFA is on; use an app password")
                #expect(events.first?["client_ip"] as? String == "192.0.2.5")
                let next = try #require(logins.json["next_cursor"] as? String)
                let rest = try await portal.call(.get, "/api/v1/activity?category=protocol_login&limit=4&cursor=\(next)", token: token)
                #expect((rest.json["events"] as? [[String: Any]])?.count == 2)
                #expect(rest.json["next_cursor"] is NSNull)
                let all = try await portal.call(.get, "/api/v1/activity", token: token)
                let kinds = (all.json["events"] as? [[String: Any]] ?? []).compactMap { $0["category"] as? String }
                #expect(Set(kinds) == ["protocol_login", "sign_in", "change"])
                #expect(try await portal.call(.get, "/api/v1/activity?cursor=%%%", token: token)["error"] == "invalid_cursor")
                #expect(try await portal.call(.get, "/api/v1/activity?category=bogus", token: token)["error"] == "invalid_category")
                #expect(try await portal.call(.get, "/api/v1/activity?limit=0", token: token)["error"] == "invalid_limit")
                #expect(try await portal.call(.get, "/api/v1/activity").status == .unauthorized)
            }
        }
    }

    /// A transport that fails a set number of times, then records.
    final class FlakyTransport: MailTransport, @unchecked Sendable {
        let lock = NSLock()
        var failuresLeft: Int
        let permanent: Bool
        var delivered: [String] = []
        init(failures: Int, permanent: Bool = false) {
            failuresLeft = failures
            self.permanent = permanent
        }
        func send(from: String, to: String, message: [UInt8]) async throws(SMTPClientSession.Failure) {
            let fail: Bool = lock.withLock {
                if failuresLeft > 0 { failuresLeft -= 1; return true }
                delivered.append(String(decoding: message, as: UTF8.self))
                return false
            }
            if fail { throw permanent ? .permanent("550 no") : .temporary("451 later") }
        }
    }

    @Test("delivery: retries with growing waits, sends each message once with a stable Message-ID, gives up on 5xx")
    func delivery() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                _ = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Laptop"], token: token)
                let flaky = FlakyTransport(failures: 2)
                let service = OutboxDeliveryService(store: h.environment.store, composer: h.environment.notices, transport: flaky,
                                                    from: "postern@example.org", domain: "example.org", retryBase: 30, maximumAttempts: 5,
                                                    interval: .seconds(1), clock: h.clock.clock, logger: Logger(label: "test"))
                #expect(await service.deliverDue() == 0)
                #expect(await service.deliverDue() == 0, "waits 30 s before the retry")
                h.clock.advance(31)
                #expect(await service.deliverDue() == 0, "second failure")
                h.clock.advance(31)
                #expect(await service.deliverDue() == 0, "now waits 60 s")
                h.clock.advance(30)
                #expect(await service.deliverDue() == 1)
                h.clock.advance(3600)
                #expect(await service.deliverDue() == 0, "sent once")
                #expect(flaky.delivered.count == 1)
                let message = try #require(flaky.delivered.first)
                #expect(message.contains("Subject: New app password created"))
                let pending = try await h.environment.store.pendingOutbox(limit: 10)
                #expect(pending.isEmpty)

                // An hour on, adding a credential needs the password again.
                #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Tablet"], token: token).status == .forbidden)
                #expect(try await portal.call(.post, "/api/v1/sessions/current/reauthenticate", json: ["password": "violet staple orbit"],
                                              token: token).status == .noContent)
                #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Tablet"], token: token).status == .created)
                let refusing = FlakyTransport(failures: 100, permanent: true)
                let strict = OutboxDeliveryService(store: h.environment.store, composer: h.environment.notices, transport: refusing,
                                                   from: "postern@example.org", domain: "example.org", retryBase: 30, maximumAttempts: 5,
                                                   interval: .seconds(1), clock: h.clock.clock, logger: Logger(label: "test"))
                _ = await strict.deliverDue()
                h.clock.advance(86_400)
                _ = await strict.deliverDue()
                #expect(refusing.failuresLeft == 99, "a permanent refusal is not retried")
            }
        }
    }

    @Test("without SMTP, messages become .eml files in <data>/outbox, one per message even when retried")
    func fileTransport() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                _ = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Laptop"], token: token)
                let service = h.environment.deliveryService(logger: Logger(label: "test"))
                #expect(await service.deliverDue() == 1)
                let directory = h.directory.appendingPathComponent("outbox").path
                let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".eml") }
                #expect(files.count == 1)
                let eml = try String(contentsOfFile: directory + "/" + files[0], encoding: .utf8)
                #expect(eml.contains("To: alice@example.org\r\n") && eml.contains("Message-ID: <\(files[0].dropLast(4))@localhost>"))
            }
        }
    }
}
