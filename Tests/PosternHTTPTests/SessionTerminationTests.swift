import Foundation
import Logging
import PosternCore
import Synchronization
import Testing
@testable import PosternApp
@testable import PosternHTTP

/// A driver that answers as told and remembers what it was asked.
final class ScriptedDriver: SessionTerminationDriver {
    let target: TerminationTarget
    let answer: Mutex<Result<[String: Int]?, TerminationFailure>>
    let received = Mutex<[TerminationTask]>([])

    init(_ server: String = "dovecot", answer: Result<[String: Int]?, TerminationFailure>) {
        target = TerminationTarget(server: server, protocols: [.imap, .pop3], endsByAddress: true)
        self.answer = Mutex(answer)
    }

    func terminate(_ order: TerminationTask) async throws -> [String: Int]? {
        received.withLock { $0.append(order) }
        return try answer.withLock { $0 }.get()
    }
}

@Suite("Ending open sessions after a revocation")
struct SessionTerminationTests {
    static func configure(_ config: inout PosternConfig) {
        config.terminate.dovecot = .init(url: URL(string: "http://127.0.0.1:9/doveadm/v1")!, secretFile: "/nonexistent", timeout: 1)
        config.terminate.dovecotProxyAddresses = ["127.0.0.1"]
        config.terminate.retryBase = 10
        config.terminate.maximumAttempts = 2
    }

    func service(_ h: HTTPHarness, _ driver: ScriptedDriver) -> SessionTerminationService {
        SessionTerminationService(store: h.environment.store, drivers: [driver.target.server: driver], notices: h.environment.notices,
                                  metrics: h.environment.metrics, retryBase: 10, maximumAttempts: 2, interval: .seconds(1),
                                  clock: h.clock.clock, logger: Logger(label: "test"))
    }

    func activity(_ portal: Client, _ token: String) async throws -> [(result: String, summary: String)] {
        let entries = try await portal.call(.get, "/api/v1/activity?category=change", token: token).json["events"] as? [[String: any Sendable]] ?? []
        return entries.filter { $0["kind"] as? String == "sessions_ended" }
            .map { ($0["result"] as? String ?? "", $0["summary"] as? String ?? "") }
    }

    @Test("revoking one app password ends its sessions from its last address (and the proxy's), once")
    func revokeOne() async throws {
        try await withHarness(Self.configure) { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone"], token: token)
                let login = try await auth.call(.post, "/v1/verify", json: ["username": "alice@example.org", "password": app["password"]!,
                                                                            "protocol": "imap", "client_ip": "203.0.113.7"])
                #expect(login.status == .ok)
                try await h.environment.recorder.flush(to: h.environment.store)
                #expect(try await portal.call(.delete, "/api/v1/app-passwords/\(app["id"]!)", token: token).status == .noContent)
                let driver = ScriptedDriver(answer: .success(["imap": 2]))
                #expect(await service(h, driver).terminateDue() == 1)
                #expect(await service(h, driver).terminateDue() == 0, "acted on once")
                let order = try #require(driver.received.withLock { $0 }.first)
                #expect(order.username == "alice@example.org" && order.addresses == ["203.0.113.7", "127.0.0.1"])
                let entries = try await activity(portal, token)
                #expect(entries.map(\.result) == ["ok"])
                #expect(entries.first?.summary == "dovecot: ended 2 IMAP sessions from 203.0.113.7, 127.0.0.1")
            }
        }
    }

    @Test("an app password for XMPP only queues nothing for Dovecot; disabling the account ends every session")
    func scopeAndDisable() async throws {
        try await withHarness(Self.configure) { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Chat", "protocols": ["xmpp"]], token: token)
                #expect(try await portal.call(.delete, "/api/v1/app-passwords/\(app["id"]!)", token: token).status == .noContent)
                #expect(try await h.environment.store.terminations(accountID: nil, limit: 10).isEmpty)
                try await h.environment.admin.perform(.disable, on: "alice@example.org", by: .commandLine)
                let orders = try await h.environment.store.terminations(accountID: nil, limit: 10)
                #expect(orders.map(\.cause) == [.accountDisabled] && orders.first?.addresses == [])
            }
        }
    }

    @Test("a server that cannot be reached: retried with backoff, then shown as failed and the owner is told")
    func failureThenGiveUp() async throws {
        try await withHarness(Self.configure) { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                try await h.environment.admin.perform(.disable, on: "alice@example.org", by: .commandLine)
                let driver = ScriptedDriver(answer: .failure(TerminationFailure(description: "cannot reach 127.0.0.1:9 (connection refused)")))
                #expect(await service(h, driver).terminateDue() == 1)
                #expect(await service(h, driver).terminateDue() == 0, "waits for the retry")
                h.clock.advance(11)
                #expect(await service(h, driver).terminateDue() == 1)
                let order = try #require(try await h.environment.store.terminations(accountID: nil, limit: 1).first)
                #expect(order.state == .failed && order.attempts == 2)
                let account = try await h.environment.accounts.account(username: "alice@example.org")
                let events = try await h.environment.store.auditEvents(accountID: account.id, before: nil, kinds: [.sessionsEnded], limit: 10)
                #expect(events.map(\.result) == [.failed, .retrying])
                #expect(events.first?.reason == "dovecot: could not close open connections (cannot reach 127.0.0.1:9 (connection refused)); they end when the app next reconnects")
                let texts = try await h.environment.store.pendingOutbox(limit: 50).compactMap { message in
                    try? h.environment.notices.open(message.sealed!, id: message.id).text
                }
                #expect(texts.contains { $0.contains("we could not close open connections on dovecot; they end when the app next reconnects") })
            }
        }
    }

    @Test("config errors name the setting and refuse to start")
    func configErrors() async throws {
        #expect(throws: ConfigError.invalid("terminate.dovecot.url", "an http or https URL with no credentials in it", "ftp://x")) {
            try PosternConfig(values: ["terminate.dovecot.url": "ftp://x", "terminate.dovecot.api_key_file": "/k"])
        }
        #expect(throws: ConfigError.invalid("terminate.dovecot.api_key_file", "a file holding the secret (its server's url is set)", "")) {
            try PosternConfig(values: ["terminate.dovecot.url": "http://127.0.0.1:8089/doveadm/v1"]).terminate.drivers()
        }
        try await withHarness(Self.configure) { h in
            #expect(throws: ConfigError.file("/nonexistent", "cannot be read (terminate.dovecot.api_key_file)")) {
                try h.environment.terminationService(logger: Logger(label: "test"))
            }
        }
    }
}
