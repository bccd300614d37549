import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
                                                               audit: AuditEvent(accountID: account.id, kind: .accountDisabled, result: .ok, at: Date()))
                #expect(try await auth.call(.post, "/v1/user-exists", json: ["username": "bob@example.org"]).json["exists"] as? Bool == false)
                #expect(try await auth.call(.post, "/v1/user-exists", body: "{").status == .badRequest)
            }
        }
    }

    // MARK: - SASL handler

    func saslVerifier(_ h: HTTPHarness) -> SASLVerifier {
        SASLVerifier(authenticator: h.environment.authenticator, metrics: h.environment.metrics,
                     defaultDomain: "example.org", denialMessage: "Use an app password.", logger: Logger(label: "test"))
    }

    /// Runs the Dovecot-protocol handler on a test channel (no socket), as
    /// an `inet:` socket with the default allow list serves a peer at `peer`.
    func saslChannel(_ h: HTTPHarness, peer: SocketAddress? = nil,
                     allowedPeers: [IPNetwork]? = PosternConfig.defaultSASLAllow) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(DovecotAuthHandler(verifier: saslVerifier(h), connectionID: 1, allowedPeers: allowedPeers,
                                                                 logger: Logger(label: "test")))
        try await channel.connect(to: peer ?? SocketAddress(ipAddress: "127.0.0.1", port: 1))
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

    @Test("SASL: a peer outside the allow list is closed before the handshake, with nothing written", arguments: [
        ("127.0.0.1", ["192.0.2.0/24"]), ("192.0.2.9", ["127.0.0.0/8", "::1/128"]), ("2001:db8::9", ["127.0.0.0/8", "::1/128"]),
        ("::ffff:192.0.2.9", ["127.0.0.0/8", "::1/128"]), ("::1", ["127.0.0.0/8"]),
    ])
    func saslPeerRefused(peer: String, allow: [String]) async throws {
        try await withHarness { h in
            let channel = try await saslChannel(h, peer: SocketAddress(ipAddress: peer, port: 40000),
                                                allowedPeers: allow.map { IPNetwork($0)! })
            #expect(!channel.isActive, "closed as soon as it connected")
            try await channel.closeFuture.get()
            #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil, "no greeting, nothing at all")
            // Whatever reaches the handler after that is not read, and nothing is verified.
            _ = try? await channel.writeInbound(ByteBuffer(string: "VERSION\t1\t1\nAUTH\t1\tPLAIN\tservice=smtp\tresp=\(plain("a", "b"))\n"))
            #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil)
        }
    }

    @Test("SASL: peers inside the allow list, IPv4-mapped ones as IPv4, and unix-socket peers get the handshake", arguments: [
        ("127.0.0.1", Optional(["127.0.0.0/8", "::1/128"])), ("::1", ["127.0.0.0/8", "::1/128"]),
        ("::ffff:127.0.0.1", ["127.0.0.0/8", "::1/128"]), ("192.0.2.9", ["10.0.0.0/8", "192.0.2.0/24"]), ("unix", nil),
    ])
    func saslPeerAllowed(peer: String, allow: [String]?) async throws {
        try await withHarness { h in
            let address = peer == "unix" ? try SocketAddress(unixDomainSocketPath: "/tmp/postern-test.sock")
                                         : try SocketAddress(ipAddress: peer, port: 40000)
            let channel = try await saslChannel(h, peer: address, allowedPeers: allow.map { $0.map { IPNetwork($0)! } })
            #expect(try await line(channel, startingWith: "DONE") == "DONE")
            #expect(channel.isActive)
            _ = try? await channel.finish()
        }
    }

    @Test("SASL over real sockets: inet refuses a peer outside sasl_allow with no byte sent; the unix socket serves it")
    func saslSocketsAllowList() async throws {
        let path = "/tmp/postern-sasl-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        try await withHarness { h in
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            // 127.0.0.1 is not in the list, so the test's own connection over inet is refused.
            let service = SASLAuthSocketService(addresses: [.inet(HostAndPort(host: "127.0.0.1", port: 0)), .unix(path: path)],
                                                allowedPeers: [IPNetwork("192.0.2.0/24")!], verifier: saslVerifier(h),
                                                logger: Logger(label: "test"), onListening: { continuation.yield($0.port) })
            let running = Task {
                defer { continuation.finish() }
                try await service.run()
            }
            defer { running.cancel() }
            var listening = ports.makeAsyncIterator()
            let inetPort = try #require(await listening.next(), "the inet socket is listening")
            _ = try #require(await listening.next(), "the unix socket is listening")

            let refused = try await BlockingSocket.exchange(.inet(port: inetPort), until: { _ in false })
            #expect(refused.closedByPeer, "the peer outside sasl_allow is disconnected")
            #expect(refused.received.isEmpty, "before any byte of the handshake")

            let served = try await BlockingSocket.exchange(.unix(path: path), until: { String(decoding: $0, as: UTF8.self).contains("DONE\n") })
            #expect(String(decoding: served.received, as: UTF8.self).hasPrefix("VERSION\t1\t2\n"))
            #expect(!served.closedByPeer)

            running.cancel()
            _ = await running.result
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

/// A plain client socket for tests that need a real connection without an
/// event loop: it connects, then reads until `until` is satisfied, the peer
/// closes, or 10 seconds pass (the receive timeout), on a thread of its own.
enum BlockingSocket {
    enum Target: Sendable {
        case inet(port: Int)
        case unix(path: String)
    }

    struct Exchange: Sendable {
        var received: [UInt8]
        var closedByPeer: Bool
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func exchange(_ target: Target, until done: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Exchange {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try run(target, until: done) })
            }
        }
    }

    #if canImport(Glibc)
    private static let streamSocket = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamSocket = SOCK_STREAM
    #endif

    private static func run(_ target: Target, until done: ([UInt8]) -> Bool) throws -> Exchange {
        let fd: Int32
        switch target {
        case .inet(let port):
            fd = socket(AF_INET, streamSocket, 0)
            guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else { close(fd); throw Failure(description: "connect: \(errno)") }
        case .unix(let path):
            fd = socket(AF_UNIX, streamSocket, 0)
            guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(fd); throw Failure(description: "path too long") }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard result == 0 else { close(fd); throw Failure(description: "connect: \(errno)") }
        }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !done(received) {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return Exchange(received: received, closedByPeer: true) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return Exchange(received: received, closedByPeer: true) }
                throw Failure(description: "recv gave errno \(errno) after \(received.count) bytes (EAGAIN: the 10 s bound passed)")
            }
            received += chunk[..<count]
        }
        return Exchange(received: received, closedByPeer: false)
    }
}
