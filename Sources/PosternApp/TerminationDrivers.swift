import AsyncHTTPClient
import Foundation
import NIOCore
import PosternCore
import PosternProtocols

/// A mail or chat server that can be told to end a user's open sessions.
protocol SessionTerminationDriver: Sendable {
    /// What the rules need to know about it.
    var target: TerminationTarget { get }
    /// Ends the sessions `order` names, in one call. Returns the sessions
    /// ended per protocol when the server says, nil when it does not. Throws
    /// `TerminationFailure`, whose text is safe to show the owner.
    func terminate(_ order: TerminationTask) async throws -> [String: Int]?
}

/// Why an attempt failed, in words fit for the activity page (no secret).
struct TerminationFailure: Error, CustomStringConvertible {
    var description: String
    /// Retrying cannot help (the order itself cannot be carried out).
    var permanent = false
}

/// One POST over AsyncHTTPClient's shared client, bounded by `timeout`, with
/// the answer's body read up to 1 MiB.
enum TerminationHTTP {
    static func post(_ url: URL, headers: [(String, String)], contentType: String, body: Data,
                     timeout: Double) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let buffer = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), Data(buffer.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw TerminationFailure(description: "\(url.host ?? "the server") did not answer within \(timeout.formatted()) s")
        } catch {
            throw TerminationFailure(description: "cannot reach \(url.host ?? "the server"):\(url.port.map(String.init) ?? "") (\(Self.reason(error)))")
        }
    }

    /// A short reason for a transport error, such as "connection refused".
    static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("refused") { return "connection refused" }
        return String(text.prefix(120))
    }
}

/// Dovecot: the doveadm HTTP API's `who` and `kick` (`DoveadmKick`).
struct DovecotDriver: SessionTerminationDriver {
    let url: URL
    /// The `Authorization` value, from `terminate.dovecot.api_key_file`.
    let authorization: String
    let timeout: Double
    let target: TerminationTarget

    init(url: URL, apiKey: String, timeout: Double, target: TerminationTarget) {
        self.url = url
        authorization = DoveadmKick.authorization(apiKey: apiKey)
        self.timeout = timeout
        self.target = target
    }

    func terminate(_ order: TerminationTask) async throws -> [String: Int]? {
        let body: Data
        do {
            body = try DoveadmKick.requestBody(user: order.username, addresses: order.addresses)
        } catch {
            throw TerminationFailure(description: error.description, permanent: true)
        }
        let (status, answer) = try await TerminationHTTP.post(url, headers: [("Authorization", authorization)],
                                                             contentType: "application/json", body: body, timeout: timeout)
        switch DoveadmKick.parse(status: status, body: answer, user: order.username) {
        case .ended(let counts): return counts
        case .failed(let reason): throw TerminationFailure(description: reason)
        }
    }
}

/// ejabberd (`mod_http_api`'s `kick_user`) and Prosody
/// (`mod_postern_disconnect`): all of the user's sessions, one call.
struct XMPPDriver: SessionTerminationDriver {
    let server: XMPPKick.Server
    let url: URL
    /// The `Authorization` value from the driver's credential file, if any.
    let authorization: String?
    let timeout: Double
    let target: TerminationTarget

    func terminate(_ order: TerminationTask) async throws -> [String: Int]? {
        guard let jid = XMPPKick.jid(order.username) else {
            throw TerminationFailure(description: "the username is not user@host", permanent: true)
        }
        let (status, answer) = try await TerminationHTTP.post(url, headers: authorization.map { [("Authorization", $0)] } ?? [],
                                                             contentType: "application/json",
                                                             body: XMPPKick.requestBody(user: jid.user, host: jid.host), timeout: timeout)
        switch XMPPKick.parse(server, status: status, body: answer) {
        case .ended(let count): return ["xmpp": count]
        case .failed(let reason): throw TerminationFailure(description: reason)
        }
    }
}

extension TerminateConfig {
    /// The drivers, their credentials read from their files. Throws a
    /// `ConfigError` naming the setting when a driver's URL is set without its
    /// required file, or a file cannot be read: `serve` refuses to start.
    func drivers() throws -> [String: any SessionTerminationDriver] {
        var drivers: [String: any SessionTerminationDriver] = [:]
        for target in targets {
            switch target.server {
            case "dovecot":
                guard let url = dovecot.url else { continue }
                let key = try PosternServer.readSecret(try required(dovecot, "terminate.dovecot.api_key_file"),
                                                       setting: "terminate.dovecot.api_key_file", minimumLength: 1)
                drivers[target.server] = DovecotDriver(url: url, apiKey: key, timeout: dovecot.timeout, target: target)
            case "ejabberd":
                guard let url = ejabberd.url else { continue }
                // `user@host:password` of an account allowed kick_user, sent as Basic auth.
                let credentials = try ejabberd.secretFile.map {
                    try PosternServer.readSecret($0, setting: "terminate.ejabberd.credentials_file", minimumLength: 3)
                }
                drivers[target.server] = XMPPDriver(server: .ejabberd, url: url.appendingPathComponent("kick_user"),
                                                    authorization: credentials.map { "Basic " + Data($0.utf8).base64EncodedString() },
                                                    timeout: ejabberd.timeout, target: target)
            case "prosody":
                guard let url = prosody.url else { continue }
                let secret = try PosternServer.readSecret(try required(prosody, "terminate.prosody.secret_file"),
                                                          setting: "terminate.prosody.secret_file")
                drivers[target.server] = XMPPDriver(server: .prosody, url: url, authorization: "Bearer " + secret,
                                                    timeout: prosody.timeout, target: target)
            default:
                continue
            }
        }
        return drivers
    }

    private func required(_ driver: Driver, _ setting: String) throws -> String {
        guard let file = driver.secretFile else {
            throw ConfigError.invalid(setting, "a file holding the secret (its server's url is set)", "")
        }
        return file
    }
}
