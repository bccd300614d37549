import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PosternCore
import Testing
@testable import PosternApp

/// The guard seen from outside: the API and the portal, with clients at many
/// addresses behind a trusted proxy, as an attacker would spread them.
@Suite("The guard at every HTTP door")
struct GuardTests {
    static let password = "violet staple orbit"
    static func proxied(_ config: inout PosternConfig) { config.trustedProxies = ["127.0.0.1"] }

    func from(_ ip: String) -> HTTPFields { [HTTPField.Name("X-Forwarded-For")!: ip] }

    func hashes(_ h: HTTPHarness) -> Int {
        let line = h.environment.metrics.render().split(separator: "\n").first { $0.hasPrefix("postern_password_hashes_total") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Signs alice up with an authenticator app; returns its secret and her token.
    func mfaAlice(_ h: HTTPHarness, _ portal: Client) async throws -> (secret: String, token: String) {
        let token = try await HTTPHarness.signUp(portal, "alice@example.org", password: Self.password)
        let secret = try await portal.call(.post, "/api/v1/mfa/totp", token: token)["secret"]!
        #expect(try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": h.totpCode(secret: secret)], token: token).status == .noContent)
        h.clock.advance(30)
        return (secret, token)
    }

    func wrongCode(_ h: HTTPHarness, _ secret: String) -> String {
        let valid = Set((-1...1).map { h.totpCode(secret: secret, offset: $0) })
        return (0..<1000).map { String(format: "%06d", $0) }.first { !valid.contains($0) }!
    }

    @Test("API: the second-factor limit holds across sources; the right code is then refused with 429, a recovery code still works")
    func apiSecondFactorCap() async throws {
        try await withHarness(Self.proxied) { h in
            try await h.run(live: true) { portal, _ in
                let (secret, token) = try await mfaAlice(h, portal)
                let codes = try await portal.call(.post, "/api/v1/mfa/recovery-codes", token: token).json["codes"] as! [String]
                let wrong = wrongCode(h, secret)
                for i in 0..<10 {
                    let reply = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password, "otp": wrong],
                                                      headers: from("198.51.100.\(i)"))
                    #expect(reply.status == .unauthorized && reply["error"] == "otp_required")
                }
                h.clock.advance(30)
                let right = try await portal.call(.post, "/api/v1/sessions",
                                                  json: ["username": "alice@example.org", "password": Self.password, "otp": h.totpCode(secret: secret)],
                                                  headers: from("192.0.2.200"))
                #expect(right.status == .tooManyRequests && right["error"] == "second_factor_locked")
                #expect(right.headers[.retryAfter] != nil)
                let recovery = try await portal.call(.post, "/api/v1/sessions",
                                                     json: ["username": "alice@example.org", "password": Self.password, "recovery_code": codes[0]],
                                                     headers: from("192.0.2.200"))
                #expect(recovery.status == .created)
            }
        }
    }

    @Test("portal: a fresh password post does not buy more guesses; the second step is capped per account")
    func portalSecondFactorCap() async throws {
        try await withHarness(Self.proxied) { h in
            let app = Application(router: try await h.environment.portalRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let api = Client(client: client)
                let (secret, _) = try await mfaAlice(h, api)
                let wrong = wrongCode(h, secret)
                var statuses: [HTTPResponse.Status] = []
                // Five sign-ins from five addresses, each with its own pending session, three wrong codes each.
                for i in 0..<5 {
                    let browser = Browser(api, origin: h.environment.config.publicURL)
                    browser.headers = from("203.0.113.\(i)")
                    let signIn = try await browser.post("/signin", from: "/signin", ["username": "alice@example.org", "password": Self.password])
                    #expect(signIn.headers[.location] == "/signin/verify")
                    for _ in 0..<3 { statuses.append(try await browser.post("/signin/verify", from: "/signin/verify", ["otp": wrong]).status) }
                }
                #expect(statuses.prefix(10).allSatisfy { $0 == .unauthorized }, "\(statuses)")
                #expect(statuses.suffix(5).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
                h.clock.advance(30)
                let browser = Browser(api, origin: h.environment.config.publicURL)
                browser.headers = from("192.0.2.201")
                _ = try await browser.post("/signin", from: "/signin", ["username": "alice@example.org", "password": Self.password])
                let right = try await browser.post("/signin/verify", from: "/signin/verify", ["otp": h.totpCode(secret: secret)])
                #expect(right.status == .tooManyRequests, "the right code is refused too")
                #expect(right.text.contains("security key or a recovery code"))
            }
        }
    }

    @Test("a paced source is refused before any hash, with the right password too, on the API and the portal")
    func refusedBeforeHashing() async throws {
        try await withHarness(Self.proxied) { h in
            let app = Application(router: try await h.environment.portalRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let api = Client(client: client)
                _ = try await HTTPHarness.signUp(api, "alice@example.org", password: Self.password)
                for i in 0..<6 {
                    _ = try await api.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": "guess \(i)"], headers: from("203.0.113.66"))
                }
                let before = hashes(h)
                let right = try await api.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password],
                                               headers: from("203.0.113.66"))
                #expect(right.status == .tooManyRequests && right.headers[.retryAfter] != nil)
                let browser = Browser(api, origin: h.environment.config.publicURL)
                browser.headers = from("203.0.113.66")
                let page = try await browser.post("/signin", from: "/signin", ["username": "alice@example.org", "password": Self.password])
                #expect(page.status == .tooManyRequests && page.headers[.retryAfter] != nil)
                #expect(hashes(h) == before, "no hash ran for either refusal")
                let elsewhere = try await api.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password],
                                                   headers: from("192.0.2.9"))
                #expect(elsewhere.status == .created, "another source is not paced")
                #expect(hashes(h) == before + 1)
            }
        }
    }

    @Test("names that exist and names that don't get the same statuses and Retry-After, at sign-in and for reset requests")
    func equalAnswers() async throws {
        try await withHarness(Self.proxied) { h in
            try await h.run(live: true) { portal, _ in
                _ = try await HTTPHarness.signUp(portal, "alice@example.org", password: Self.password)
                func attempts(_ name: String, net: Int) async throws -> [String] {
                    var seen: [String] = []
                    for i in 0..<30 {
                        let reply = try await portal.call(.post, "/api/v1/sessions", json: ["username": name, "password": "guess \(i)"],
                                                          headers: from("10.\(net).\(i).1"))
                        seen.append("\(reply.status.code) \(reply["error"] ?? "") \(reply.headers[.retryAfter] ?? "-")")
                    }
                    return seen
                }
                let existing = try await attempts("alice@example.org", net: 1)
                let missing = try await attempts("nobody@example.org", net: 2)
                #expect(existing == missing)
                #expect(existing.contains { $0.hasPrefix("429") }, "a sprayed name is paced")
                func resets(_ name: String, net: Int) async throws -> [HTTPResponse.Status] {
                    var seen: [HTTPResponse.Status] = []
                    for i in 0..<7 {
                        seen.append(try await portal.call(.post, "/api/v1/password-reset", json: ["username": name], headers: from("10.\(net).\(i).9")).status)
                    }
                    return seen
                }
                let resetExisting = try await resets("alice@example.org", net: 3)
                #expect(resetExisting == [.accepted, .accepted, .accepted, .accepted, .accepted, .tooManyRequests, .tooManyRequests])
                #expect(try await resets("nobody@example.org", net: 4) == resetExisting)
            }
        }
    }

    @Test("the API asks for the password again before credential changes, like the portal")
    func apiReauthentication() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let (secret, token) = try await mfaAlice(h, portal)
                #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone"], token: token).status == .created)
                h.clock.advance(11 * 60)
                let gated: [(HTTPRequest.Method, String, [String: any Sendable])] = [
                    (.post, "/api/v1/app-passwords", ["name": "Tablet"]),
                    (.post, "/api/v1/mfa/recovery-codes", [:]),
                    (.post, "/api/v1/mfa/webauthn/registrations", [:]),
                    (.post, "/api/v1/mfa/totp", [:]),
                    (.delete, "/api/v1/mfa/totp", ["password": Self.password, "code": h.totpCode(secret: secret)]),
                    (.put, "/api/v1/account/password", ["current_password": Self.password, "new_password": "another fine passphrase"]),
                ]
                for (method, path, body) in gated {
                    let reply = try await portal.call(method, path, json: body, token: token)
                    #expect(reply.status == .forbidden && reply["error"] == "reauthentication_required", "\(method) \(path)")
                }
                let noCode = try await portal.call(.post, "/api/v1/sessions/current/reauthenticate", json: ["password": Self.password], token: token)
                #expect(noCode.status == .badRequest && noCode["error"] == "invalid_code")
                let wrong = try await portal.call(.post, "/api/v1/sessions/current/reauthenticate", json: ["password": "nope nope nope", "otp": "000000"],
                                                  token: token)
                #expect(wrong.status == .unauthorized)
                h.clock.advance(30)
                let renewed = try await portal.call(.post, "/api/v1/sessions/current/reauthenticate",
                                                    json: ["password": Self.password, "otp": h.totpCode(secret: secret)], token: token)
                #expect(renewed.status == .noContent)
                #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Tablet"], token: token).status == .created)
            }
        }
    }

    @Test("a cursor from outside cannot crash or upset the store: out-of-range times and odd ids are a 400")
    func hostileCursors() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                for plain in ["9223372036854775807:a", "-9223372036854775808:a", "1:\u{0}", "1:a b", "99999999999999999:a"] {
                    let cursor = Base64URL.encode(Array(plain.utf8))
                    let reply = try await portal.call(.get, "/api/v1/activity?cursor=\(cursor)", token: token)
                    #expect(reply.status == .badRequest && reply["error"] == "invalid_cursor", "\(plain)")
                }
                #expect(try await portal.call(.get, "/api/v1/activity", token: token).status == .ok, "still up")
            }
        }
    }

    @Test("portal sign-in: names that exist and names that don't get the same statuses, Retry-After and page")
    func portalEqualAnswers() async throws {
        try await withHarness(Self.proxied) { h in
            let app = Application(router: try await h.environment.portalRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let api = Client(client: client)
                _ = try await HTTPHarness.signUp(api, "alice@example.org", password: Self.password)
                func attempts(_ name: String, net: Int) async throws -> [String] {
                    var seen: [String] = []
                    for i in 0..<26 {
                        let browser = Browser(api, origin: h.environment.config.publicURL)
                        browser.headers = from("10.\(net).\(i).1")
                        let reply = try await browser.post("/signin", from: "/signin", ["username": name, "password": "guess \(i)"])
                        let message = reply.text.range(of: #"id="form-error">[^<]*"#, options: .regularExpression).map { String(reply.text[$0]) } ?? "-"
                        seen.append("\(reply.status.code) \(reply.headers[.retryAfter] ?? "-") \(message)")
                    }
                    return seen
                }
                let existing = try await attempts("alice@example.org", net: 5)
                #expect(existing == (try await attempts("nobody@example.org", net: 6)))
                #expect(existing.contains { $0.hasPrefix("429") })
            }
        }
    }
}
