import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PosternProtocols

extension Postern {
    /// ejabberd's `extauth_program`: reads requests on stdin, asks Postern's
    /// auth listener, answers on stdout. One process serves one ejabberd
    /// connection pool slot and handles requests in order, as ejabberd sends them.
    struct XMPPExtAuth: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xmpp-extauth",
            abstract: "Speak ejabberd's external-auth protocol on stdin/stdout, asking Postern's auth listener.",
            discussion: """
            In ejabberd.yml: auth_method: external, extauth_program: "postern xmpp-extauth --auth-url http://127.0.0.1:8081", \
            and auth_use_cache: false so that a revoked app password stops working at once. \
            User@Server is looked up as the Postern username user@server. ejabberd's protocol has no temporary failure: \
            when Postern cannot be reached the answer is "no", and the reason goes to stderr.
            """)

        @Option(help: ArgumentHelp("Base URL of Postern's auth listener.", valueName: "url"))
        var authURL: String

        @Option(help: ArgumentHelp("File with the shared secret sent as X-Postern-Auth-Secret.", valueName: "file"))
        var authSecretFile: String?

        @Option(help: ArgumentHelp("Seconds to wait for Postern per request. Default 10.", valueName: "seconds"))
        var timeout: Double = 10

        func validate() throws {
            guard let url = URL(string: authURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--auth-url must be an http or https URL, e.g. http://127.0.0.1:8081")
            }
        }

        func run() async throws {
            var secret: String?
            if let authSecretFile {
                guard let data = FileManager.default.contents(atPath: authSecretFile) else {
                    throw ValidationError("cannot read \(authSecretFile)")
                }
                secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let client = AuthListenerClient(base: authURL, secret: secret, timeout: timeout)
            var decoder = ExtAuthDecoder()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                // Blocking read: this process does nothing else while ejabberd is silent.
                let count = read(0, &buffer, buffer.count)
                if count == 0 { return }  // ejabberd closed the pipe
                if count < 0 {
                    if errno == EINTR { continue }
                    throw ExitCode.failure
                }
                for request in decoder.receive(buffer[..<count]) {
                    let answer = await client.answer(request)
                    let reply = ExtAuthDecoder.reply(answer)
                    let written = reply.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                    if written != reply.count { throw ExitCode.failure }
                }
            }
        }
    }
}

/// Calls `/v1/verify` and `/v1/user-exists` on the auth listener.
struct AuthListenerClient: Sendable {
    let base: String
    let secret: String?
    let timeout: Double

    init(base: String, secret: String?, timeout: Double) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.secret = secret
        self.timeout = timeout
    }

    func answer(_ request: ExtAuthDecoder.Request) async -> Bool {
        switch request {
        case .auth(let user, let server, let password):
            return await post("/v1/verify", ["username": "\(user)@\(server)", "password": password, "protocol": "xmpp"]) == 200
        case .isUser(let user, let server):
            guard let data = await postForBody("/v1/user-exists", ["username": "\(user)@\(server)"]),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
            return object["exists"] as? Bool == true
        case .refused(let command):
            // Name only commands of the protocol: an unparseable frame could hold a password.
            let known = ["auth", "isuser", "setpass", "tryregister", "removeuser", "removeuser3"].contains(command)
            FileHandle.standardError.write(Data("postern xmpp-extauth: refused \(known ? command : "an unknown or malformed") request\n".utf8))
            return false
        }
    }

    private func post(_ path: String, _ body: [String: String]) async -> Int? {
        await send(path, body)?.status
    }

    private func postForBody(_ path: String, _ body: [String: String]) async -> Data? {
        guard let (status, data) = await send(path, body), status == 200 else { return nil }
        return data
    }

    private func send(_ path: String, _ body: [String: String]) async -> (status: Int, data: Data)? {
        guard let url = URL(string: base + path) else { return nil }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let secret { request.setValue(secret, forHTTPHeaderField: "X-Postern-Auth-Secret") }
        request.httpBody = try? JSONSerialization.data(withJSONObject: body)
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            if status >= 500 || status == 400 {
                FileHandle.standardError.write(Data("postern xmpp-extauth: auth listener answered \(status)\n".utf8))
            }
            return (status, data)
        } catch {
            FileHandle.standardError.write(Data("postern xmpp-extauth: auth listener unreachable: \(error.localizedDescription)\n".utf8))
            return nil
        }
    }
}
