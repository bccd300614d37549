import Foundation
import HTTPTypes
import Testing
@testable import PosternApp
@testable import PosternHTTP

@Suite("Behind a reverse proxy")
struct ProxyTests {
    func guesses(_ portal: Client, from forwarded: (Int) -> String) async throws -> [HTTPResponse.Status] {
        var statuses: [HTTPResponse.Status] = []
        for i in 0..<8 {
            statuses.append(try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": "guess \(i)"],
                                                  headers: [HTTPField.Name("X-Forwarded-For")!: forwarded(i)]).status)
        }
        return statuses
    }

    @Test("from a trusted proxy, X-Forwarded-For names the client: each client has its own allowance")
    func trusted() async throws {
        try await withHarness({ $0.trustedProxies = ["127.0.0.1"] }) { h in
            try await h.run(live: true) { portal, _ in
                _ = try await HTTPHarness.signUp(portal)
                // Eight guessers behind the proxy, one guess each: nobody is slowed.
                let spread = try await guesses(portal) { "198.51.100.\($0), 127.0.0.1" }
                #expect(spread.allSatisfy { $0 == .unauthorized })
                // One guesser eight times: throttled after the free allowance.
                let single = try await guesses(portal) { _ in "203.0.113.50" }
                #expect(single.contains(.tooManyRequests))
                let account = try await h.environment.store.account(username: "alice@example.org")!
                let addresses = Set(try await h.environment.store.auditEvents(accountID: account.id, limit: 100).compactMap(\.clientIP))
                #expect(addresses.contains("198.51.100.3") && addresses.contains("203.0.113.50"))
            }
        }
    }

    @Test("from anyone else the header is ignored: a client cannot pick its own address")
    func untrusted() async throws {
        try await withHarness { h in
            try await h.run(live: true) { portal, _ in
                _ = try await HTTPHarness.signUp(portal)
                let statuses = try await guesses(portal) { "198.51.100.\($0)" }
                #expect(statuses.contains(.tooManyRequests))
            }
        }
    }
}
