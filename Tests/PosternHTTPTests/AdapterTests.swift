import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import PosternCore
import PosternProtocols
import Testing
@testable import PosternApp
@testable import PosternHTTP

/// The adapters wired to a real store and core: nginx's auth_http endpoint,
/// the user lookup, and the Dovecot-protocol SASL handler on a test channel.
@Suite("Adapters over the core")
struct AdapterTests {
    static let password = "violet staple orbit"

    /// An account with TOTP on and one app password; returns the app password.
    func mfaAccount(_ h: HTTPHarness, _ portal: Client, _ username: String = "alice@example.org") async throws -> String {
        let token = try await HTTPHarness.signUp(portal, username, password: Self.password)
        let enrolment = try await portal.call(.post, "/api/v1/mfa/totp", token: token)
        let confirmed = try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": h.totpCode(secret: enrolment["secret"]!)], token: token)
        #expect(confirmed.status == .noContent)
        let app = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Thunderbird"], token: token)
        return app["password"]!
    }

    func nginx(_ auth: Client, user: String, pass: String, proto: String = "imap", attempt: Int = 1,
               ip: String = "192.0.2.7", method: String = "plain") async throws -> Reply {
        var headers: HTTPFields = [:]
        for (name, value) in [("Auth-Method", method), ("Auth-User", user), ("Auth-Pass", pass), ("Auth-Protocol", proto),
                              ("Auth-Login-Attempt", String(attempt)), ("Client-IP", ip)] {
            headers[HTTPField.Name(name)!] = value
        }
        return try await auth.call(.get, "/v1/nginx", headers: headers)
    }

    func header(_ reply: Reply, _ name: String) -> String? { reply.headers[HTTPField.Name(name)!] }

    static func configureNginx(_ config: inout PosternConfig) {
        config.nginxIMAP = HostAndPort(host: "127.0.0.1", port: 10143)
        config.nginxSMTP = HostAndPort(host: "127.0.0.1", port: 10025)
        config.saslDefaultDomain = "example.org"
    }

    @Test("nginx: an app password is sent to the protocol's backend; %-escapes are decoded")
    func nginxAllow() async throws {
        try await withHarness(Self.configureNginx) { h in
            try await h.run { portal, auth in
                let app = try await mfaAccount(h, portal)
                let spaced = app.prefix(4) + "%20" + app.dropFirst(4).prefix(4) + "%20" + app.suffix(4)
                let reply = try await nginx(auth, user: "alice%40example.org", pass: String(spaced))
                #expect(reply.status == .ok)
                #expect(header(reply, "Auth-Status") == "OK")
                #expect(header(reply, "Auth-Server") == "127.0.0.1")
                #expect(header(reply, "Auth-Port") == "10143")
                #expect(header(reply, "Auth-Pass") == nil, "no backend password configured")
                let smtp = try await nginx(auth, user: "alice", pass: app, proto: "smtp")
                #expect(header(smtp, "Auth-Port") == "10025", "the default domain completes a bare user name")
                // Allowed, but no POP3 backend is configured: a temporary failure, not a denial.
                let pop = try await nginx(auth, user: "alice@example.org", pass: app, proto: "pop3")
                #expect(header(pop, "Auth-Status")?.hasPrefix("[SYS/TEMP]") == true)
            }
        }
    }

    @Test("nginx: backend credentials replace the app password when configured")
    func nginxBackendCredentials() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("backend-\(UUID().uuidString)")
        try "backend-secret-0123456789\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try await withHarness({ Self.configureNginx(&$0); $0.nginxBackendPasswordFile = file.path }) { h in
            try await h.run { portal, auth in
                let app = try await mfaAccount(h, portal)
                let reply = try await nginx(auth, user: "ALICE@example.org", pass: app)
                #expect(header(reply, "Auth-User") == "alice@example.org")
                #expect(header(reply, "Auth-Pass") == "backend-secret-0123456789")
            }
        }
    }

    @Test("nginx: refusals carry the message, SMTP's code, and Auth-Wait only while retries make sense")
    func nginxDeny() async throws {
        try await withHarness(Self.configureNginx) { h in
            try await h.run { portal, auth in
                _ = try await mfaAccount(h, portal)
                let message = h.environment.config.effectiveDenialMessage
                let imap = try await nginx(auth, user: "alice@example.org", pass: Self.password)
                #expect(header(imap, "Auth-Status") == "[AUTHENTICATIONFAILED] " + message)
                #expect(header(imap, "Auth-Wait") == "1")
                let smtp = try await nginx(auth, user: "alice@example.org", pass: Self.password, proto: "smtp", attempt: 2)
                #expect(header(smtp, "Auth-Error-Code") == "535 5.7.8")
                #expect(header(smtp, "Auth-Wait") == "1")
                let last = try await nginx(auth, user: "alice@example.org", pass: Self.password, attempt: NginxMailAuth.attemptsWithWait)
                #expect(header(last, "Auth-Wait") == nil, "the last attempt is final: nginx closes the connection")
                let unknown = try await nginx(auth, user: "nobody@example.org", pass: Self.password)
                #expect(header(unknown, "Auth-Status") == header(imap, "Auth-Status"))
                let cram = try await nginx(auth, user: "alice@example.org", pass: "x", method: "cram-md5")
                #expect(header(cram, "Auth-Status") == header(imap, "Auth-Status"))
                let notNginx = try await auth.call(.get, "/v1/nginx")
                #expect(notNginx.status == .badRequest)
                #expect(notNginx["error"] == "invalid_auth_protocol")
            }
        }
    }

    @Test("nginx: a guessing source's Auth-Wait grows; a known-good client is not slowed")
    func nginxThrottle() async throws {
        try await withHarness(Self.configureNginx) { h in
            try await h.run { portal, auth in
                let app = try await mfaAccount(h, portal)
                #expect(header(try await nginx(auth, user: "alice@example.org", pass: app, ip: "198.51.100.9"), "Auth-Status") == "OK")
                var waits: [Int] = []
                for i in 0..<12 {
                    let reply = try await nginx(auth, user: "alice@example.org", pass: "guess number \(i)", ip: "203.0.113.5")
                    waits.append(Int(header(reply, "Auth-Wait") ?? "0") ?? 0)
                    h.clock.advance(Double(waits.last!))  // nginx waits as told before the next try
                }
                #expect(waits.prefix(5).allSatisfy { $0 == 1 })
                #expect(waits.last! >= 4, "waits: \(waits)")
                #expect(waits == waits.sorted(), "waits never shrink while guessing goes on: \(waits)")
                let phone = try await nginx(auth, user: "alice@example.org", pass: app, ip: "198.51.100.9")
                #expect(header(phone, "Auth-Status") == "OK")
            }
        }
    }

    @Test("user-exists answers for active accounts only")
    func userExists() async throws {
        try await withHarness(Self.configureNginx) { h in
            try await h.run { portal, auth in
                _ = try await HTTPHarness.signUp(portal, "bob@example.org", password: Self.password)
                #expect(try await auth.call(.post, "/v1/user-exists", json: ["username": "Bob@Example.org"]).json["exists"] as? Bool == true)
                #expect(try await auth.call(.post, "/v1/user-exists", json: ["username": "bob"]).json["exists"] as? Bool == true)
                #expect(try await auth.call(.post, "/v1/user-exists", json: ["username": "carol@example.org"]).json["exists"] as? Bool == false)
                let account = try await h.environment.store.account(username: "bob@example.org")!
                _ = try await h.environment.store.setDisabled(accountID: account.id, true,
                                                               audit: AuditEvent(accountID: account.id, kind: .accountDisabled, result: "ok", at: Date()))
                #expect(try await auth.call(.post, "/v1/user-exists", json: ["username": "bob@example.org"]).json["exists"] as? Bool == false)
                #expect(try await auth.call(.post, "/v1/user-exists", body: "{").status == .badRequest)
            }
        }
    }

    // MARK: - SASL handler

    /// Runs the Dovecot-protocol handler on a test channel (no socket).
    func saslChannel(_ h: HTTPHarness) async throws -> NIOAsyncTestingChannel {
        let verifier = SASLVerifier(authenticator: h.environment.authenticator, metrics: h.environment.metrics,
                                    defaultDomain: "example.org", denialMessage: "Use an app password.", logger: Logger(label: "test"))
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(DovecotAuthHandler(verifier: verifier, connectionID: 1, logger: Logger(label: "test")))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        return channel
    }

    /// Reads written lines until one starts with `prefix`.
    func line(_ channel: NIOAsyncTestingChannel, startingWith prefix: String) async throws -> String {
        var pending = ""
        while true {
            let buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            pending += String(buffer: buffer)
            for line in pending.split(separator: "\n") where line.hasPrefix(prefix) { return String(line) }
        }
    }

    func plain(_ user: String, _ pass: String) -> String { Data("\u{0}\(user)\u{0}\(pass)".utf8).base64EncodedString() }

    @Test("SASL: handshake, an app password is OK with the canonical user, the account password FAILs with the message")
    func sasl() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let app = try await mfaAccount(h, portal)
                let channel = try await saslChannel(h)
                #expect(try await line(channel, startingWith: "DONE") == "DONE")
                try await channel.writeInbound(ByteBuffer(string: "VERSION\t1\t1\nCPID\t7\n"
                    + "AUTH\t1\tPLAIN\tservice=smtp\trip=192.0.2.9\tresp=\(plain("Alice", app))\n"
                    + "AUTH\t2\tPLAIN\tservice=imap\trip=192.0.2.9\tresp=\(plain("alice@example.org", Self.password))\n"))
                let ok = try await line(channel, startingWith: "OK\t1")
                #expect(ok == "OK\t1\tuser=alice@example.org")
                let fail = try await line(channel, startingWith: "FAIL\t2")
                #expect(fail == "FAIL\t2\treason=Use an app password.")
                try await channel.writeInbound(ByteBuffer(string: "AUTH\t3\tPLAIN\tservice=nntp\tresp=\(plain("alice@example.org", app))\n"))
                #expect(try await line(channel, startingWith: "FAIL\t3") == "FAIL\t3\treason=Use an app password.")
                _ = try? await channel.finish()
            }
        }
    }

    @Test("SASL and nginx: the store down is a temporary failure, never a denial")
    func storeDown() async throws {
        try await withHarness(Self.configureNginx) { h in
            try await h.run { portal, auth in
                let app = try await mfaAccount(h, portal, "dave@example.org")
                let channel = try await saslChannel(h)
                await h.environment.store.executor.shutdown()
                try await channel.writeInbound(ByteBuffer(string: "VERSION\t1\t1\nAUTH\t1\tPLAIN\tservice=xmpp\tresp=\(plain("dave", app))\n"))
                #expect(try await line(channel, startingWith: "FAIL\t1") == "FAIL\t1\tcode=temp_fail\ttemp\treason=Temporary authentication failure.")
                let reply = try await nginx(auth, user: "dave@example.org", pass: app, proto: "smtp")
                #expect(header(reply, "Auth-Status")?.hasPrefix("Temporary") == true)
                #expect(header(reply, "Auth-Error-Code") == "454 4.7.0")
                #expect(header(reply, "Auth-Wait") == nil)
                _ = try? await channel.finish()
            }
        }
    }
}
