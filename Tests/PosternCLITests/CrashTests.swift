import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import PosternSQL
import SQLKit
import Synchronization
import Testing

/// Acknowledged changes, as the clients saw them.
final class Acknowledged: Sendable {
    struct State {
        var created: [String: String] = [:]  // id → password
        var revoked: Set<String> = []
        /// Revocations sent but not (yet) acknowledged: either outcome is allowed.
        var revoking: Set<String> = []
    }
    let state = Mutex(State())
    var count: Int { state.withLock { $0.created.count + $0.revoked.count } }
}

@Suite("Crashes lose nothing", .serialized)
struct CrashTests {
    @Test("kill -9 during concurrent generate and revoke: every acknowledged change holds, and the database is intact")
    func killNine() async throws {
        let data = temporaryDirectory()
        var server = try Server(data: data)
        let portal = try await server.port(of: "portal and user API listening")
        let base = "http://127.0.0.1:\(portal)/api/v1"
        let password = "violet staple orbit"
        #expect(try await request("POST", "\(base)/accounts", json: ["username": "alice@example.org", "password": password]).0 == 201)
        let token = try #require(try await request("POST", "\(base)/sessions", json: ["username": "alice@example.org", "password": password]).1["token"] as? String)

        let acknowledged = Acknowledged()
        // Kill once a random number of changes has been acknowledged.
        let killAfter = Int.random(in: 10...40)
        let workers = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for round in 0..<30 {
                            guard let (status, body) = try? await request("POST", "\(base)/app-passwords", json: ["name": "w\(worker)-\(round)"], token: token),
                                  status == 201, let id = body["id"] as? String, let secret = body["password"] as? String else { return }
                            acknowledged.state.withLock { $0.created[id] = secret }
                            if round % 2 == 0 {
                                acknowledged.state.withLock { _ = $0.revoking.insert(id) }
                                guard let (revoked, _) = try? await request("DELETE", "\(base)/app-passwords/\(id)", token: token), revoked == 204 else { return }
                                acknowledged.state.withLock { _ = $0.revoked.insert(id) }
                            }
                        }
                    }
                }
            }
        }
        try await server.wait(seconds: 120) { acknowledged.count >= killAfter }
        server.kill()
        await workers.value
        let (created, revoked, revoking) = acknowledged.state.withLock { ($0.created, $0.revoked, $0.revoking) }
        #expect(created.count >= 5)

        // The database file is intact.
        let executor = try await SQLiteExecutor.open(path: data + "/postern.sqlite", readers: 1, logger: Logger(label: "check"))
        let integrity = try await executor.read { db in try await db.raw("PRAGMA integrity_check").first()?.decode(column: "integrity_check", as: String.self) }
        await executor.shutdown()
        #expect(integrity == "ok")

        server = try Server(data: data)
        let auth = try await server.port(of: "auth endpoints listening")
        for (id, secret) in created {
            let (status, _) = try await request("POST", "http://127.0.0.1:\(auth)/v1/verify",
                                                json: ["username": "alice@example.org", "password": secret, "protocol": "imap"])
            if revoked.contains(id) {
                #expect(status == 401, "acknowledged revocation of \(id) holds")
            } else if revoking.contains(id) {
                #expect(status == 200 || status == 401, "a revocation cut off by the kill may or may not have landed")
            } else {
                #expect(status == 200, "acknowledged creation of \(id) holds")
            }
        }
        #expect(try await server.stop() == 0)
    }
}
