import Foundation
import HTTPTypes
import Hummingbird
import Testing
@testable import PosternApp

@Suite("Hostile and malformed input gets a clear 4xx, never a 5xx")
struct BadInputTests {
    /// Every endpoint that reads a body, with a valid body's fields.
    static let endpoints: [(method: HTTPRequest.Method, path: String, fields: [String], auth: Bool, listener: String)] = [
        (.post, "/api/v1/accounts", ["username", "password"], false, "portal"),
        (.post, "/api/v1/sessions", ["username", "password", "otp"], false, "portal"),
        (.put, "/api/v1/account/password", ["current_password", "new_password"], true, "portal"),
        (.post, "/api/v1/mfa/totp/confirm", ["code"], true, "portal"),
        (.delete, "/api/v1/mfa/totp", ["password", "code"], true, "portal"),
        (.post, "/api/v1/app-passwords", ["name", "protocols", "expires_at"], true, "portal"),
        (.post, "/v1/verify", ["username", "password", "protocol", "client_ip"], false, "auth"),
    ]

    static func hostileBodies(fields: [String]) -> [String] {
        var bodies = [
            "", " ", "{", "}", "[]", "null", "42", "\"text\"", "{\"a\":}", "{'username':'x'}", "\u{0}", "{}",
            String(repeating: "[", count: 100_000), String(repeating: "{\"a\":", count: 20_000),
            "{\"username\": \"\\ud800\", \"password\": \"x\"}",
            "\u{FEFF}{}",
        ]
        for field in fields {
            for value in ["1", "true", "null", "{}", "[1]", "1e400", "\"\\u0000\""] {
                let others = fields.filter { $0 != field }.map { "\"\($0)\": \"a\"" }
                bodies.append("{" + (others + ["\"\(field)\": \(value)"]).joined(separator: ",") + "}")
            }
        }
        return bodies
    }

    func assertClientError(_ reply: Reply, _ context: String) {
        #expect((400..<500).contains(reply.status.code), "\(context): \(reply.status)")
        #expect(!reply.json.isEmpty, "\(context): a JSON body")
        #expect((reply["message"]?.isEmpty ?? true) == false || reply["result"] != nil, "\(context): a message")
    }

    @Test("malformed bodies on every endpoint")
    func malformedBodies() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                for endpoint in Self.endpoints {
                    let client = endpoint.listener == "auth" ? auth : portal
                    for body in Self.hostileBodies(fields: endpoint.fields) {
                        let reply = try await client.call(endpoint.method, endpoint.path, body: body, token: endpoint.auth ? token : nil)
                        assertClientError(reply, "\(endpoint.method) \(endpoint.path) \(body.prefix(40))")
                    }
                }
                #expect(try await portal.call(.get, "/healthz").status == .ok)
            }
        }
    }

    @Test("bodies over 64 KiB are refused with 413")
    func hugeBodies() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                let huge = "{\"username\":\"" + String(repeating: "a", count: 200_000) + "\",\"password\":\"x\",\"protocol\":\"imap\"}"
                for endpoint in Self.endpoints {
                    let client = endpoint.listener == "auth" ? auth : portal
                    let reply = try await client.call(endpoint.method, endpoint.path, body: huge, token: endpoint.auth ? token : nil)
                    #expect(reply.status == .contentTooLarge, "\(endpoint.path)")
                    #expect(reply["error"] == "body_too_large")
                }
            }
        }
    }

    @Test("unicode edge cases in usernames, passwords and names")
    func unicode() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let strange = ["\u{202E}gro.elpmaxe@ecila", "alice\u{0}@example.org", "🦊@example.org", "a@b", "ｆｕｌｌ@example.org",
                               "Zoë@Example.org", String(repeating: "é", count: 200) + "@example.org", "alice@example.org\u{200B}"]
                for username in strange {
                    let reply = try await portal.call(.post, "/api/v1/accounts", json: ["username": username, "password": "violet staple orbit"])
                    #expect(reply.status == .created || reply.status == .badRequest, "\(username)")
                    let verify = try await auth.call(.post, "/v1/verify", json: ["username": username, "password": "violet staple orbit", "protocol": "imap"])
                    #expect(verify.status == .ok || verify.status == .unauthorized)
                }
                // Composed and decomposed forms are one account.
                #expect(try await portal.call(.post, "/api/v1/accounts", json: ["username": "jose\u{301}@example.org", "password": "violet staple orbit"]).status == .created)
                #expect(try await portal.call(.post, "/api/v1/accounts", json: ["username": "JOS\u{c9}@example.org", "password": "violet staple orbit"]).status == .conflict)

                // Passwords are bytes-exact Unicode: emoji, RTL, combining marks.
                let password = "🔑 пароль مرور e\u{301}"
                #expect(try await portal.call(.post, "/api/v1/accounts", json: ["username": "uni@example.org", "password": password]).status == .created)
                let ok = try await auth.call(.post, "/v1/verify", json: ["username": "uni@example.org", "password": password, "protocol": "imap"])
                #expect(ok.status == .ok)

                let token = try await HTTPHarness.signUp(portal, "names@example.org")
                for name in ["Thunderbird 💻", "iPhone Mail", "עברית", "名前", "👨\u{200D}👩\u{200D}👧"] {
                    #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": name], token: token).status == .created, "\(name)")
                }
                // Control and bidi-override characters could disguise a name in the list.
                for name in ["bad\u{7}", "\u{202E}liaM", "a\u{200B}b"] {
                    #expect(try await portal.call(.post, "/api/v1/app-passwords", json: ["name": name], token: token).status == .badRequest, "\(name)")
                }
            }
        }
    }

    @Test("odd values on /v1/verify")
    func verifyValues() async throws {
        try await withHarness { h in
            try await h.run { _, auth in
                for (proto, ip, expected) in [("ftp", "192.0.2.1", HTTPResponse.Status.badRequest), ("imap", "999.0.0.1", .badRequest),
                                              ("imap", "not-an-ip", .badRequest), ("IMAP", "2001:db8::1", .unauthorized), ("imap", "", .unauthorized)] {
                    let reply = try await auth.call(.post, "/v1/verify", json: ["username": "a@example.org", "password": "x", "protocol": proto, "client_ip": ip])
                    #expect(reply.status == expected, "\(proto) \(ip)")
                }
                let long = try await auth.call(.post, "/v1/verify", json: ["username": "a@example.org", "password": String(repeating: "p", count: 60_000), "protocol": "imap"])
                #expect(long.status == .unauthorized)
            }
        }
    }
}
