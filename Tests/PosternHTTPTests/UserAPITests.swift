import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import Testing
@testable import PosternApp

@Suite("User API and /v1/verify, in process")
struct UserAPITests {
    static let password = "violet staple orbit"

    func verify(_ auth: Client, _ username: String, _ password: String, _ proto: String = "imap", ip: String = "192.0.2.1") async throws -> Reply {
        try await auth.call(.post, "/v1/verify", json: ["username": username, "password": password, "protocol": proto, "client_ip": ip])
    }

    @Test("the whole flow: sign up, MFA, app passwords, verify, revoke")
    func flow() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let created = try await portal.call(.post, "/api/v1/accounts", json: ["username": "Alice@Example.org", "password": Self.password])
                #expect(created.status == .created)
                #expect(created["username"] == "alice@example.org")
                #expect(created.json["password"] == nil && created.json["password_hash"] == nil)

                let signedIn = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password])
                #expect(signedIn.status == .created)
                let token = try #require(signedIn["token"])
                #expect(signedIn["expires_at"] != nil)
                #expect(signedIn.headers[.cacheControl] == "no-store")

                var me = try await portal.call(.get, "/api/v1/account", token: token)
                #expect(me.status == .ok)
                #expect(me.json["mfa_enabled"] as? Bool == false)
                #expect(me["created_at"] != nil)

                #expect(try await verify(auth, "alice@example.org", Self.password).json["credential"] as? String == "account_password")

                // Turn on MFA.
                let enrolment = try await portal.call(.post, "/api/v1/mfa/totp", token: token)
                #expect(enrolment.status == .ok)
                let secret = try #require(enrolment["secret"])
                #expect(enrolment["otpauth_uri"]?.hasPrefix("otpauth://totp/Postern:alice@example.org?secret=\(secret)") == true)
                #expect(try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": "000000"], token: token).status == .badRequest)
                #expect(try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": h.totpCode(secret: secret)], token: token).status == .noContent)
                me = try await portal.call(.get, "/api/v1/account", token: token)
                #expect(me.json["mfa_enabled"] as? Bool == true)

                // The account password no longer opens IMAP, and the message says why.
                let refused = try await verify(auth, "alice@example.org", Self.password)
                #expect(refused.status == .unauthorized)
                #expect(refused["result"] == "deny")
                #expect(refused["message"]?.contains("app password") == true)
                #expect(refused["message"]?.contains("http://localhost:8080/security") == true)

                // Sign-in now needs a code.
                let noCode = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password])
                #expect(noCode.status == .unauthorized)
                #expect(noCode["error"] == "otp_required")
                let badCode = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password, "otp": "123456"])
                #expect(badCode["error"] == "otp_required")
                h.clock.advance(30)
                let withCode = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password, "otp": h.totpCode(secret: secret)])
                #expect(withCode.status == .created)

                // Two app passwords, each works; scopes hold.
                let mail = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Thunderbird on laptop", "protocols": ["imap", "smtp"]], token: token)
                #expect(mail.status == .created)
                let mailPassword = try #require(mail["password"])
                #expect(mailPassword.count == 12)
                #expect(mail.json["protocols"] as? [String] == ["imap", "smtp"])
                #expect(mail.json.keys.contains("expires_at"))
                let chat = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone chat", "expires_at": "2099-01-01T00:00:00Z"], token: token)
                #expect(chat.status == .created)
                let chatPassword = try #require(chat["password"])
                #expect(chat["expires_at"] == "2099-01-01T00:00:00Z")

                let allowed = try await verify(auth, "ALICE@example.org", AppPasswordFormat.grouped(mailPassword).uppercased())
                #expect(allowed.status == .ok)
                #expect(allowed["result"] == "allow")
                #expect(allowed["username"] == "alice@example.org")
                #expect(allowed["credential"] == "app_password")
                #expect(allowed["app_password_id"] == mail["id"])
                #expect(try await verify(auth, "alice@example.org", mailPassword, "pop3").status == .unauthorized)
                #expect(try await verify(auth, "alice@example.org", chatPassword, "xmpp").status == .ok)
                #expect(try await verify(auth, "alice@example.org", mailPassword, "submission").status == .ok, "service names map to protocols")

                // A quote joined with a combining mark is refused as a name.
                let markedName = "Work\"\u{0301} onmouseover=x"
                let marked = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": markedName], token: token)
                #expect(marked.status == .badRequest)
                #expect(marked["error"] == "invalid_name")

                // The list shows last use and never a password.
                let spare = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Spare"], token: token)
                try await h.environment.recorder.flush(to: h.environment.store)
                let list = try await portal.call(.get, "/api/v1/app-passwords", token: token)
                #expect(list.status == .ok)
                #expect(list.list.count == 3)
                let first = try #require(list.list.first { $0["id"] as? String == mail["id"] })
                #expect(first["name"] as? String == "Thunderbird on laptop")
                #expect(first["last_used_protocol"] as? String == "smtp")
                #expect(first["last_used_ip"] as? String == "192.0.2.1")
                #expect(first["password"] == nil && first["digest"] == nil)
                #expect(!list.text.contains(mailPassword) && !list.text.contains(chatPassword))
                let chatItem = try #require(list.list.first { $0["id"] as? String == chat["id"] })
                #expect(chatItem["last_used_protocol"] as? String == "xmpp")
                let unused = try #require(list.list.first { $0["id"] as? String == spare["id"] })
                #expect(unused["last_used_at"] is NSNull)
                #expect(unused["expires_at"] is NSNull)

                // Revoke one: it fails at once, the other still works.
                #expect(try await portal.call(.delete, "/api/v1/app-passwords/\(mail["id"]!)", token: token).status == .noContent)
                #expect(try await verify(auth, "alice@example.org", mailPassword).status == .unauthorized)
                #expect(try await verify(auth, "alice@example.org", chatPassword).status == .ok)
                #expect(try await portal.call(.delete, "/api/v1/app-passwords/\(mail["id"]!)", token: token).status == .notFound)
                #expect(try await portal.call(.delete, "/api/v1/app-passwords", token: token).status == .noContent)
                #expect(try await verify(auth, "alice@example.org", chatPassword).status == .unauthorized)
                #expect(try await portal.call(.get, "/api/v1/app-passwords", token: token).list.isEmpty)

                // Turn MFA off with password and a fresh code.
                h.clock.advance(30)
                #expect(try await portal.call(.delete, "/api/v1/mfa/totp", json: ["password": "wrong wrong", "code": h.totpCode(secret: secret)], token: token).status == .unauthorized)
                #expect(try await portal.call(.delete, "/api/v1/mfa/totp", json: ["password": Self.password, "code": h.totpCode(secret: secret)], token: token).status == .noContent)
                #expect(try await verify(auth, "alice@example.org", Self.password).status == .ok)

                // Sign out.
                #expect(try await portal.call(.delete, "/api/v1/sessions/current", token: token).status == .noContent)
                #expect(try await portal.call(.get, "/api/v1/account", token: token).status == .unauthorized)
            }
        }
    }

    @Test("sign-up: taken, closed, weak, invalid")
    func signUpErrors() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal)
                let taken = try await portal.call(.post, "/api/v1/accounts", json: ["username": "ALICE@example.org", "password": Self.password])
                #expect(taken.status == .conflict)
                #expect(taken["error"] == "username_taken")
                let weak = try await portal.call(.post, "/api/v1/accounts", json: ["username": "bob@example.org", "password": "iloveyou"])
                #expect(weak.status == .badRequest)
                #expect(weak["error"] == "weak_password")
                #expect(weak["message"]?.contains("common") == true)
                let short = try await portal.call(.post, "/api/v1/accounts", json: ["username": "bob@example.org", "password": "short"])
                #expect(short["error"] == "weak_password")
                let invalid = try await portal.call(.post, "/api/v1/accounts", json: ["username": "bob", "password": Self.password])
                #expect(invalid.status == .badRequest)
                #expect(invalid["error"] == "invalid_username")
            }
        }
        try await withHarness({ $0.signupOpen = false }) { h in
            try await h.run { portal, _ in
                let closed = try await portal.call(.post, "/api/v1/accounts", json: ["username": "bob@example.org", "password": Self.password])
                #expect(closed.status == .forbidden)
                #expect(closed["error"] == "signup_closed")
            }
        }
    }

    @Test("one refusal for unknown user, wrong password and disabled account; app passwords never open a session")
    func genericRefusals() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone"], token: token)
                let bodies = [
                    try await portal.call(.post, "/api/v1/sessions", json: ["username": "nobody@example.org", "password": Self.password]),
                    try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": "wrong password"]),
                    try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": app["password"]!]),
                ]
                for body in bodies {
                    #expect(body.status == .unauthorized)
                    #expect(body.text == bodies[0].text)
                }
                #expect(bodies[0]["error"] == "invalid_credentials")

                let wrong = try await verify(auth, "alice@example.org", "wrong password")
                let unknown = try await verify(auth, "nobody@example.org", "wrong password")
                try await h.environment.admin.perform(.disable, on: "alice@example.org", by: .commandLine)
                let disabled = try await verify(auth, "alice@example.org", Self.password)
                #expect([wrong, unknown, disabled].allSatisfy { $0.status == .unauthorized && $0.text == wrong.text })
                #expect(try await portal.call(.get, "/api/v1/account", token: token).status == .unauthorized)
            }
        }
    }

    @Test("guessing at sign-in gets 429 with Retry-After; /v1/verify answers later, with the same refusal")
    func throttling() async throws {
        try await withHarness { h in
            try await h.run(live: true) { portal, auth in
                _ = try await HTTPHarness.signUp(portal)
                var statuses: [HTTPResponse.Status] = []
                for i in 0..<7 {
                    statuses.append(try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": "guess \(i)"]).status)
                }
                #expect(statuses.prefix(5).allSatisfy { $0 == .unauthorized })
                let limited = try await portal.call(.post, "/api/v1/sessions", json: ["username": "nobody@example.org", "password": "guess"])
                #expect(limited.status == .tooManyRequests, "unknown users are throttled alike")
                #expect(limited["error"] == "too_many_attempts")
                #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)

                for i in 0..<5 { _ = try await verify(auth, "alice@example.org", "guess \(i)", ip: "198.51.100.9") }
                let started = ContinuousClock.now
                let slowed = try await verify(auth, "alice@example.org", "guess 5", ip: "198.51.100.9")
                #expect(ContinuousClock.now - started >= .milliseconds(250), "the sixth failure waits before it is answered")
                let unknown = try await verify(auth, "nobody@example.org", "guess", ip: "203.0.113.99")
                #expect(slowed.status == .unauthorized && slowed.text == unknown.text, "the same refusal, only later")
            }
        }
    }

    @Test("the configured denial message is what clients see")
    func denialMessage() async throws {
        try await withHarness({ $0.denialMessage = "Use an app password from https://mail.example.org/security" }) { h in
            try await h.run { _, auth in
                let refused = try await verify(auth, "nobody@example.org", "whatever")
                #expect(refused["message"] == "Use an app password from https://mail.example.org/security")
            }
        }
    }

    @Test("app-password limit and names")
    func appPasswordErrors() async throws {
        try await withHarness({ $0.appPasswordLimit = 2 }) { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "A"], token: token).status == .created)
                let duplicate = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "A"], token: token)
                #expect(duplicate.status == .conflict)
                #expect(duplicate["error"] == "name_taken")
                #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "B"], token: token).status == .created)
                let over = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "C"], token: token)
                #expect(over.status == .conflict)
                #expect(over["error"] == "app_password_limit")
                #expect(over["message"]?.contains("2") == true)
                for bad in [["name": ""], ["name": String(repeating: "n", count: 65)], ["name": "x", "protocols": ["ftp"]],
                            ["name": "x", "expires_at": "yesterday"], ["name": "x", "expires_at": "2001-01-01T00:00:00Z"]] as [[String: any Sendable]] {
                    let reply = try await portal.call(.post, "/api/v1/app-passwords", json: bad, token: token)
                    #expect(reply.status == .badRequest, "\(bad)")
                    #expect(reply["message"]?.isEmpty == false)
                }
            }
        }
    }

    @Test("signed-in routes refuse a missing or wrong token")
    func unauthorized() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let routes: [(HTTPRequest.Method, String)] = [
                    (.get, "/api/v1/account"), (.put, "/api/v1/account/password"), (.post, "/api/v1/mfa/totp"),
                    (.post, "/api/v1/mfa/totp/confirm"), (.delete, "/api/v1/mfa/totp"), (.get, "/api/v1/app-passwords"),
                    (.post, "/api/v1/app-passwords"), (.delete, "/api/v1/app-passwords/x"), (.delete, "/api/v1/app-passwords"),
                    (.delete, "/api/v1/sessions/current"),
                ]
                for (method, path) in routes {
                    for token in [nil, "bogus", String(repeating: "A", count: 5000)] {
                        let reply = try await portal.call(method, path, body: "{}", token: token)
                        #expect(reply.status == .unauthorized, "\(method) \(path)")
                        #expect(reply["error"] == "unauthorized")
                    }
                }
            }
        }
    }

    @Test("change password needs the current one")
    func changePassword() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                let wrong = try await portal.call(.put, "/api/v1/account/password", json: ["current_password": "nope nope", "new_password": "fresh new phrase"], token: token)
                #expect(wrong.status == .unauthorized)
                let weak = try await portal.call(.put, "/api/v1/account/password", json: ["current_password": Self.password, "new_password": "password1"], token: token)
                #expect(weak.status == .badRequest)
                #expect(try await portal.call(.put, "/api/v1/account/password", json: ["current_password": Self.password, "new_password": "fresh new phrase"], token: token).status == .noContent)
                #expect(try await verify(auth, "alice@example.org", Self.password).status == .unauthorized)
                #expect(try await verify(auth, "alice@example.org", "fresh new phrase").status == .ok)
                #expect(try await portal.call(.get, "/api/v1/account", token: token).status == .ok, "the session that changed it stays")
            }
        }
    }

    @Test("the auth endpoints require the shared secret when one is set")
    func sharedSecret() async throws {
        try await withHarness { h in
            try await h.run(sharedSecret: Array("s3cret-shared-value".utf8)) { _, auth in
                #expect(try await auth.call(.get, "/healthz").status == .ok)
                #expect(try await verify(auth, "a@example.org", "x").status == .unauthorized)
                let wrong = try await auth.call(.post, "/v1/verify", json: ["username": "a@example.org", "password": "x", "protocol": "imap"],
                                                headers: [HTTPField.Name("X-Postern-Auth-Secret")!: "not-it"])
                #expect(wrong["error"] == "unauthorized")
                let right = try await auth.call(.post, "/v1/verify", json: ["username": "a@example.org", "password": "x", "protocol": "imap"],
                                                headers: [HTTPField.Name("X-Postern-Auth-Secret")!: "s3cret-shared-value"])
                #expect(right["result"] == "deny")
                #expect(try await auth.call(.get, "/metrics").status == .unauthorized)
            }
        }
    }

    @Test("the auth endpoints are not on the portal listener, and the API is not on the auth listener")
    func separation() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let verifyOnPortal = try await portal.call(.post, "/v1/verify", json: ["username": "a", "password": "b", "protocol": "imap"])
                let metricsOnPortal = try await portal.call(.get, "/metrics")
                let apiOnAuth = try await auth.call(.post, "/api/v1/sessions", json: ["username": "a", "password": "b"])
                let health = try await portal.call(.get, "/healthz")
                #expect(verifyOnPortal.status == .notFound)
                #expect(metricsOnPortal.status == .notFound)
                #expect(apiOnAuth.status == .notFound)
                #expect(health.status == .ok)
            }
        }
    }

    @Test("metrics count logins by protocol, credential and result, and time /v1/verify")
    func metrics() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                _ = try await HTTPHarness.signUp(portal)
                _ = try await verify(auth, "alice@example.org", Self.password, "imap")
                _ = try await verify(auth, "alice@example.org", "nope", "smtp")
                let text = try await auth.call(.get, "/metrics").text
                #expect(text.contains(#"postern_protocol_logins_total{protocol="imap",credential="account_password",result="allow"} 1"#))
                #expect(text.contains(#"postern_protocol_logins_total{protocol="smtp",credential="account_password",result="deny"} 1"#))
                #expect(text.contains("postern_verify_duration_seconds_count 2"))
                #expect(text.contains("postern_password_hashes_in_flight 0"))
            }
        }
    }
}
