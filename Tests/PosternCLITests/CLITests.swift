import Foundation
import PosternTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `postern` binary.
struct PosternProcess {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["POSTERN_BINARY"] { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("postern").path
    }

    /// Runs a command to completion, with `input` on standard input.
    static func run(_ arguments: [String], input: String = "", environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readAllRetryingInterrupts()
        let err = stderr.fileHandleForReading.readAllRetryingInterrupts()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

/// A `postern serve` running in the background, with its log collected.
final class LogBuffer: Sendable {
    let text = Mutex("")
}

final class Server: Sendable {
    let process: Process
    let log = LogBuffer()

    init(data: String, extra: [String] = [], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: PosternProcess.binary)
        process.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:0", "--auth-listen", "127.0.0.1:0"] + extra
        process.environment = ProcessInfo.processInfo.environment.merging(["POSTERN_SCRYPT_LOG_N": "10"].merging(environment) { $1 }) { $1 }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        let log = self.log
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { log.text.withLock { $0 += String(decoding: data, as: UTF8.self) } }
        }
        try process.run()
    }

    var text: String { log.text.withLock { $0 } }

    /// Waits, up to `seconds`, for `condition` to hold.
    func wait(seconds: Double = 60, for condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The port a listener reported, once it has.
    func port(of listener: String) async throws -> Int {
        var found: Int?
        try await wait {
            for line in text.split(separator: "\n") where line.contains(listener) {
                if let range = line.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    found = Int(line[range].split(separator: ":").last!)
                }
            }
            return found != nil
        }
        return found!
    }

    /// SIGKILL: no shutdown, no final flush.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() async throws -> Int32 {
        process.terminate()  // SIGTERM
        try await wait { !process.isRunning }
        return process.terminationStatus
    }
}

func request(_ method: String, _ url: String, json: [String: Any]? = nil, token: String? = nil) async throws -> (Int, [String: Any]) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    if let json { request.httpBody = try JSONSerialization.data(withJSONObject: json) }
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    return ((response as! HTTPURLResponse).statusCode, body)
}

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("postern-cli-\(UUID().uuidString)").path
}

@Suite("The postern command", .serialized)
struct CLITests {
    @Test("help lists the commands")
    func help() throws {
        let root = try PosternProcess.run(["--help"])
        #expect(root.status == 0)
        for word in ["serve", "user", "app-password", "migrate"] { #expect(root.out.contains(word)) }
        let serve = try PosternProcess.run(["serve", "--help"])
        for flag in ["--listen", "--auth-listen", "--auth-secret-file", "--data", "--public-url", "--config", "--signup", "POSTERN_LISTEN"] {
            #expect(serve.out.contains(flag), "serve --help mentions \(flag)")
        }
        let user = try PosternProcess.run(["user", "--help"])
        for word in ["add", "list", "disable", "enable", "reset-mfa"] { #expect(user.out.contains(word)) }
        #expect(try PosternProcess.run(["app-password", "revoke", "--help"]).out.contains("--all"))
    }

    @Test("admin commands: add, list, disable, enable, app passwords")
    func admin() throws {
        let data = temporaryDirectory()
        let env = ["POSTERN_SCRYPT_LOG_N": "10"]
        let added = try PosternProcess.run(["user", "add", "Bob@Example.org", "--data", data], input: "violet staple orbit\n", environment: env)
        #expect(added.status == 0, "\(added.err)")
        #expect(added.out.contains("Created bob@example.org"))
        let weak = try PosternProcess.run(["user", "add", "carol@example.org", "--data", data], input: "password\n", environment: env)
        #expect(weak.status != 0)
        #expect(weak.err.contains("commonly used"))
        let again = try PosternProcess.run(["user", "add", "bob@example.org", "--data", data], input: "violet staple orbit\n", environment: env)
        #expect(again.status != 0)
        #expect(again.err.contains("taken"))

        var list = try PosternProcess.run(["user", "list", "--data", data])
        #expect(list.out.contains("bob@example.org") && list.out.contains("enabled"))
        #expect(try PosternProcess.run(["user", "disable", "bob@example.org", "--data", data]).status == 0)
        list = try PosternProcess.run(["user", "list", "--data", data])
        #expect(list.out.contains("disabled"))
        #expect(try PosternProcess.run(["user", "enable", "bob@example.org", "--data", data]).status == 0)
        #expect(try PosternProcess.run(["user", "reset-mfa", "bob@example.org", "--data", data]).status == 0)
        // Bob has no second factor: the role is refused (the browser suite grants it after one).
        let granted = try PosternProcess.run(["user", "grant-admin", "bob@example.org", "--data", data])
        #expect(granted.status != 0 && granted.err.contains("no second factor"))
        list = try PosternProcess.run(["user", "list", "--data", data])
        #expect(list.out.contains("ADMIN") && !list.out.split(separator: "\n").contains { $0.contains("bob@example.org") && $0.contains(" yes ") })
        #expect(try PosternProcess.run(["user", "revoke-admin", "bob@example.org", "--data", data]).status == 0)
        let activity = try PosternProcess.run(["activity", "bob@example.org", "--data", data]).out
        #expect(activity.contains("administrator role removed") && !activity.contains("made an administrator"))
        #expect(activity.contains("account disabled by an administrator"))
        let missing = try PosternProcess.run(["user", "disable", "nobody@example.org", "--data", data])
        #expect(missing.status != 0)
        #expect(missing.err.contains("No account"))

        let apps = try PosternProcess.run(["app-password", "list", "bob@example.org", "--data", data])
        #expect(apps.status == 0)
        #expect(apps.out.contains("ID") && apps.out.contains("LAST USED"))
        let revokeAll = try PosternProcess.run(["app-password", "revoke", "bob@example.org", "--all", "--data", data])
        #expect(revokeAll.out.contains("Revoked every app password of bob@example.org"))
        #expect(try PosternProcess.run(["app-password", "revoke", "bob@example.org", "--data", data]).status != 0, "needs an id or --all")

        let badConfig = try PosternProcess.run(["user", "list", "--data", data], environment: ["POSTERN_SIGNUP": "sometimes"])
        #expect(badConfig.status != 0)
        #expect(badConfig.err.contains("signup"))
    }

    @Test("serve: first start, a login, graceful shutdown, restart with the same key")
    func serve() async throws {
        let data = temporaryDirectory()
        var server = try Server(data: data)
        let portal = try await server.port(of: "portal and user API listening")
        let auth = try await server.port(of: "auth endpoints listening")
        #expect(server.text.contains("created a new server key"))
        #expect(server.text.contains("postern.sqlite"))

        let password = "violet staple orbit"
        #expect(try await request("POST", "http://127.0.0.1:\(portal)/api/v1/accounts", json: ["username": "alice@example.org", "password": password]).0 == 201)
        let (_, session) = try await request("POST", "http://127.0.0.1:\(portal)/api/v1/sessions", json: ["username": "alice@example.org", "password": password])
        let token = try #require(session["token"] as? String)
        let (status, created) = try await request("POST", "http://127.0.0.1:\(portal)/api/v1/app-passwords", json: ["name": "Phone"], token: token)
        #expect(status == 201)
        let appPassword = try #require(created["password"] as? String)
        let verify = { try await request("POST", "http://127.0.0.1:\(auth)/v1/verify", json: ["username": "alice@example.org", "password": appPassword, "protocol": "imap", "client_ip": "192.0.2.9"]) }
        #expect(try await verify().0 == 200)
        #expect(try await request("GET", "http://127.0.0.1:\(portal)/healthz").0 == 200)
        #expect(try await request("GET", "http://127.0.0.1:\(auth)/healthz").0 == 200)

        #expect(try await server.stop() == 0, "SIGTERM shuts down cleanly")
        #expect(server.text.contains("stopped"))
        let attributes = try FileManager.default.attributesOfItem(atPath: data + "/server.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect((attributes[.size] as? NSNumber)?.intValue == 32)
        for secret in [password, appPassword, token] {
            #expect(!server.text.contains(secret), "secrets never reach the log")
        }

        // The last use was flushed on shutdown, and everything survives a restart.
        let listed = try PosternProcess.run(["app-password", "list", "alice@example.org", "--data", data])
        #expect(listed.out.contains("imap 192.0.2.9"))
        server = try Server(data: data)
        let auth2 = try await server.port(of: "auth endpoints listening")
        #expect(!server.text.contains("created a new server key"))
        let again = try await request("POST", "http://127.0.0.1:\(auth2)/v1/verify", json: ["username": "alice@example.org", "password": appPassword, "protocol": "imap"])
        #expect(again.0 == 200)
        #expect(try await server.stop() == 0)
    }

    @Test("serve refuses to start with a key that is not the database's")
    func wrongKey() async throws {
        let data = temporaryDirectory()
        let first = try PosternProcess.run(["migrate", "--data", data])
        #expect(first.status == 0, "\(first.err)")
        try Data(repeating: 9, count: 32).write(to: URL(fileURLWithPath: data + "/server.key"))
        let refused = try PosternProcess.run(["user", "list", "--data", data])
        #expect(refused.status != 0)
        #expect(refused.err.contains("not the key this database was set up with"))
    }
}
