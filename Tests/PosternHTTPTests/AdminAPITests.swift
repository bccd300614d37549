import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PosternCore
import Testing
@testable import PosternApp
@testable import PosternHTTP

@Suite("Admin API")
struct AdminAPITests {
    static let password = "violet staple orbit"
    static let admin = "root@example.org"
    static let bob = "bob@example.org"

    /// Every admin route, each with a harmless target.
    static let routes: [(HTTPRequest.Method, String)] = [
        (.get, "/api/v1/admin/overview"), (.get, "/api/v1/admin/users"), (.get, "/api/v1/admin/users/\(bob)"),
        (.get, "/api/v1/admin/log"), (.get, "/api/v1/admin/log?format=csv"), (.get, "/api/v1/admin/log?format=jsonl"),
        (.delete, "/api/v1/admin/users/\(bob)/app-passwords/nope"),
    ] + AdminAPI.actions.map { (.post, "/api/v1/admin/users/\(bob)/\($0.path)") }

    /// An administrator with an authenticator app, signed in just now.
    func makeAdmin(_ h: HTTPHarness, _ portal: Client) async throws -> (token: String, secret: String) {
        let token = try await HTTPHarness.signUp(portal, Self.admin, password: Self.password)
        let secret = try #require(try await portal.call(.post, "/api/v1/mfa/totp", token: token)["secret"])
        #expect(try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": h.totpCode(secret: secret)], token: token).status == .noContent)
        try await h.environment.admin.perform(.grantAdmin, on: Self.admin, by: .commandLine)
        h.clock.advance(30)
        return (token, secret)
    }

    func verify(_ auth: Client, _ username: String, _ password: String, ip: String = "192.0.2.7") async throws -> Reply {
        try await auth.call(.post, "/v1/verify", json: ["username": username, "password": password, "protocol": "imap", "client_ip": ip])
    }

    /// Every key of a JSON document, at any depth.
    func keys(_ value: Any) -> Set<String> {
        if let object = value as? [String: Any] { return object.values.reduce(Set(object.keys)) { $0.union(keys($1)) } }
        if let array = value as? [Any] { return array.reduce([]) { $0.union(keys($1)) } }
        return []
    }

    func log(_ portal: Client, _ token: String) async throws -> [[String: any Sendable]] {
        let reply = try await portal.call(.get, "/api/v1/admin/log", token: token)
        #expect(reply.status == .ok)
        return reply.json["entries"] as? [[String: any Sendable]] ?? []
    }

    func outbox(_ h: HTTPHarness, to recipient: String) async throws -> Int {
        try await h.environment.store.pendingOutbox(limit: 1000).filter { $0.recipient == recipient }.count
    }

    // MARK: - Who may

    @Test("no token is 401, a user is 403 forbidden, an administrator without a second factor is 403 mfa_setup_required")
    func refusals() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let userToken = try await HTTPHarness.signUp(portal, Self.bob, password: Self.password)
                let adminToken = try await HTTPHarness.signUp(portal, Self.admin, password: Self.password)
                // The role is granted only with a factor; an administrator
                // left without one (a crash between two steps) is refused.
                await #expect(throws: PosternError.self) { try await h.environment.admin.perform(.grantAdmin, on: Self.admin, by: .commandLine) }
                try await h.forceAdmin(Self.admin)
                for (method, path) in Self.routes {
                    let anonymous = try await portal.call(method, path)
                    #expect(anonymous.status == .unauthorized && anonymous["error"] == "unauthorized", "\(method) \(path)")
                    let user = try await portal.call(method, path, token: userToken)
                    #expect(user.status == .forbidden && user["error"] == "forbidden", "\(method) \(path)")
                    let noFactor = try await portal.call(method, path, token: adminToken)
                    #expect(noFactor.status == .forbidden && noFactor["error"] == "mfa_setup_required", "\(method) \(path)")
                }
                #expect(try await h.environment.accounts.account(username: Self.bob).disabled == false, "nothing was done")
            }
        }
    }

    @Test("changes need a recent sign-in; reading does not; re-authenticating renews it")
    func staleSignIn() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal, Self.bob, password: Self.password)
                let (token, secret) = try await makeAdmin(h, portal)
                h.clock.advance(11 * 60)
                for (method, path) in Self.routes {
                    let reply = try await portal.call(method, path, token: token)
                    if method == .get {
                        #expect(reply.status == .ok, "\(path)")
                    } else {
                        #expect(reply.status == .forbidden && reply["error"] == "reauthentication_required", "\(method) \(path)")
                    }
                }
                #expect(try await h.environment.accounts.account(username: Self.bob).disabled == false)
                h.clock.advance(30)
                #expect(try await portal.call(.post, "/api/v1/sessions/current/reauthenticate",
                                              json: ["password": Self.password, "otp": h.totpCode(secret: secret)], token: token).status == .noContent)
                #expect(try await portal.call(.post, "/api/v1/admin/users/\(Self.bob)/disable", token: token).status == .noContent)
            }
        }
    }

    // MARK: - Reading

    @Test("the overview lists an account-password login made through /v1/verify, with its protocol and address")
    func overview() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                _ = try await HTTPHarness.signUp(portal, Self.bob, password: Self.password)
                let (token, _) = try await makeAdmin(h, portal)
                #expect(try await verify(auth, Self.bob, Self.password).json["credential"] as? String == "account_password")
                #expect(try await verify(auth, Self.bob, "wrong password").status == .unauthorized)
                try await h.environment.recorder.flush(to: h.environment.store)

                let reply = try await portal.call(.get, "/api/v1/admin/overview?days=30", token: token)
                #expect(reply.status == .ok)
                let body = reply.json
                #expect(body["days"] as? Int == 30)
                #expect(body["accounts"] as? Int == 2 && body["accounts_with_mfa"] as? Int == 1)
                let domains = try #require(body["domains"] as? [[String: any Sendable]])
                #expect(domains.first { $0["domain"] as? String == "example.org" }?["accounts_with_mfa"] as? Int == 1)
                let clients = try #require(body["account_password_clients"] as? [[String: any Sendable]])
                let bob = try #require(clients.first { $0["username"] as? String == Self.bob })
                #expect(bob["protocol"] as? String == "imap" && bob["client_ip"] as? String == "192.0.2.7" && bob["logins"] as? Int == 1)
                #expect((bob["last_at"] as? String).flatMap { try? Date($0, strategy: .iso8601) } != nil)
                #expect((body["refusals_24h"] as? [[String: any Sendable]])?.isEmpty == false)
                #expect((body["hourly"] as? [Any])?.count == 168)
                #expect((body["adoption"] as? [Any])?.isEmpty == false)
                #expect(body["stale_app_passwords"] is [Any] && body["slowed_sources"] is [Any])

                #expect(try await portal.call(.get, "/api/v1/admin/overview", token: token).json["days"] as? Int == 7)
                for bad in ["5", "abc", "", "7.0"] {
                    let refused = try await portal.call(.get, "/api/v1/admin/overview?days=\(bad)", token: token)
                    #expect(refused.status == .badRequest && refused["error"] == "invalid_request" && refused["message"]?.contains("7 or 30") == true, "\(bad)")
                }
            }
        }
    }

    @Test("users: a search, pages by cursor, one user's page; unknown user 404, bad cursor 400")
    func users() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                for name in ["carol@example.org", "dave@example.net", Self.bob] {
                    _ = try await HTTPHarness.signUp(portal, name, password: Self.password)
                }
                let (token, _) = try await makeAdmin(h, portal)
                var names: [String] = []
                var path = "/api/v1/admin/users?query=example.org&limit=1"
                while true {
                    let page = try await portal.call(.get, path, token: token)
                    #expect(page.status == .ok)
                    names += (page.json["users"] as? [[String: any Sendable]] ?? []).compactMap { $0["username"] as? String }
                    guard let next = page.json["next_cursor"] as? String else { break }
                    path = "/api/v1/admin/users?query=example.org&limit=1&cursor=\(next)"
                }
                #expect(names == [Self.bob, "carol@example.org", Self.admin])
                let all = try await portal.call(.get, "/api/v1/admin/users", token: token)
                let root = try #require((all.json["users"] as? [[String: any Sendable]])?.first { $0["username"] as? String == Self.admin })
                #expect(root["admin"] as? Bool == true && root["mfa_enabled"] as? Bool == true && root["disabled"] as? Bool == false)
                #expect(root["app_passwords"] as? Int == 0 && root["last_sign_in_at"] is String && root["last_protocol_login_at"] is NSNull)

                let page = try await portal.call(.get, "/api/v1/admin/users/\(Self.bob.replacingOccurrences(of: "@", with: "%40"))", token: token)
                #expect(page.status == .ok && page["username"] == Self.bob)
                #expect(page.json["factors"] as? [String: any Sendable] != nil && page.json["activity"] is [Any])
                for missing in ["/api/v1/admin/users/nobody@example.org", "/api/v1/admin/users/nobody@example.org/disable",
                                "/api/v1/admin/users/%ZZ"] {
                    let method: HTTPRequest.Method = missing.hasSuffix("disable") ? .post : .get
                    #expect(try await portal.call(method, missing, token: token).status == .notFound, "\(missing)")
                }
                for cursor in ["!!", Base64URL.encode(Array("a\u{0}b".utf8)), String(repeating: "A", count: 500)] {
                    let reply = try await portal.call(.get, "/api/v1/admin/users?cursor=\(cursor)", token: token)
                    #expect(reply.status == .badRequest && reply["error"] == "invalid_cursor", "\(cursor)")
                }
                #expect(try await portal.call(.get, "/api/v1/admin/users?limit=0", token: token).status == .badRequest)
                #expect(try await portal.call(.get, "/api/v1/admin/users?query=%00", token: token).status == .badRequest)
                let own = try await portal.call(.post, "/api/v1/admin/users/\(Self.admin)/disable", token: token)
                #expect(own.status == .badRequest && own["error"] == "invalid_request", "an administrator cannot lock themselves out")
                #expect(try await portal.call(.post, "/api/v1/admin/users/\(Self.admin)/reset-mfa", token: token).status == .badRequest)
            }
        }
    }
}
