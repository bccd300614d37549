import Foundation
import PosternCore
import Testing
import Hummingbird
import HummingbirdTesting
@testable import PosternApp

@Suite("Over real sockets")
struct LiveTests {
    @Test("the auth endpoints answer over a real socket")
    func live() async throws {
        try await withHarness { h in
            _ = try await h.environment.accounts.createAccount(username: "alice@example.org", password: "violet staple orbit")
            let app = Application(router: try h.environment.authEndpoints().router(sharedSecret: nil),
                                  configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let client = Client(client: client)
                let allowed = try await client.call(.post, "/v1/verify", json: ["username": "alice@example.org", "password": "violet staple orbit", "protocol": "smtp"])
                #expect(allowed.status == .ok)
                #expect(allowed["credential"] == "account_password")
                let denied = try await client.call(.post, "/v1/verify", json: ["username": "alice@example.org", "password": "nope", "protocol": "smtp"])
                #expect(denied.status == .unauthorized)
                #expect(try await client.call(.get, "/healthz").status == .ok)
            }
        }
    }
}
