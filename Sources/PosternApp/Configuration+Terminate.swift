import Foundation
import PosternCore

/// The `[terminate]` table: which servers are told to end open sessions after
/// a revocation, and how hard Postern tries. Every driver is optional.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `terminate.retry_base` | `5` | seconds before the first retry of a failed attempt; doubles each time, at most an hour |
/// | `terminate.max_attempts` | `8` | attempts per server before the order is shown as failed and the owner is told |
/// | `terminate.interval` | `0.5` | seconds between looks at the queue |
/// | `terminate.dovecot.url` | none | doveadm HTTP API, such as `http://127.0.0.1:8089/doveadm/v1` |
/// | `terminate.dovecot.api_key_file` | none | file holding `doveadm_api_key` (required with the URL) |
/// | `terminate.dovecot.timeout` | `5` | seconds one call may take |
/// | `terminate.dovecot.proxy_addresses` | none | addresses Dovecot sees proxied sessions come from (nginx's mail proxy), comma-separated; an app password's sessions from them end too |
/// | `terminate.ejabberd.url` | none | mod_http_api base, such as `http://127.0.0.1:5281/api` |
/// | `terminate.ejabberd.credentials_file` | none | file holding `user@host:password` of an admin allowed `kick_user` (none: the API's own access rules, such as loopback) |
/// | `terminate.ejabberd.timeout` | `5` | seconds one call may take |
/// | `terminate.prosody.url` | none | mod_postern_disconnect's endpoint, such as `http://127.0.0.1:5280/postern_disconnect` |
/// | `terminate.prosody.secret_file` | none | file holding the module's shared secret (required with the URL) |
/// | `terminate.prosody.timeout` | `5` | seconds one call may take |
public struct TerminateConfig: Sendable, Equatable {
    public struct Driver: Sendable, Equatable {
        public var url: URL
        /// The file holding its credential; read at start, never logged.
        public var secretFile: String?
        public var timeout: Double
    }

    public var retryBase: Double = 5
    public var maximumAttempts = 8
    public var interval: Double = 0.5
    public var dovecot: Driver?
    public var dovecotProxyAddresses: [String] = []
    public var ejabberd: Driver?
    public var prosody: Driver?

    public init() {}

    /// The configured servers, as the rules see them (no secrets needed: the
    /// admin CLI queues orders with these too).
    public var targets: [TerminationTarget] {
        var targets: [TerminationTarget] = []
        if dovecot != nil {
            targets.append(TerminationTarget(server: "dovecot", protocols: [.imap, .pop3], endsByAddress: true,
                                             proxyAddresses: dovecotProxyAddresses))
        }
        if ejabberd != nil { targets.append(TerminationTarget(server: "ejabberd", protocols: [.xmpp], endsByAddress: false)) }
        if prosody != nil { targets.append(TerminationTarget(server: "prosody", protocols: [.xmpp], endsByAddress: false)) }
        return targets
    }

    static let keys = ["terminate.retry_base", "terminate.max_attempts", "terminate.interval",
                       "terminate.dovecot.url", "terminate.dovecot.api_key_file", "terminate.dovecot.timeout", "terminate.dovecot.proxy_addresses",
                       "terminate.ejabberd.url", "terminate.ejabberd.credentials_file", "terminate.ejabberd.timeout",
                       "terminate.prosody.url", "terminate.prosody.secret_file", "terminate.prosody.timeout"]

    init(values: [String: String]) throws {
        func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let text = values[key] else { return nil }
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw ConfigError.invalid(key, "a number of seconds from \(range.lowerBound) to \(range.upperBound)", text)
            }
            return value
        }
        if let value = try number("terminate.retry_base", 0.1...3600) { retryBase = value }
        if let text = values["terminate.max_attempts"] {
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (1...100).contains(value) else {
                throw ConfigError.invalid("terminate.max_attempts", "a whole number from 1 to 100", text)
            }
            maximumAttempts = value
        }
        if let value = try number("terminate.interval", 0.05...60) { interval = value }
        func driver(_ name: String, secret: String, secretRequired: Bool) throws -> Driver? {
            let file = values["terminate.\(name).\(secret)"].flatMap { $0.isEmpty ? nil : $0 }
            guard let text = values["terminate.\(name).url"], !text.isEmpty else {
                if file != nil { throw ConfigError.invalid("terminate.\(name).url", "an http or https URL (\(secret) is set)", "") }
                return nil
            }
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  url.host?.isEmpty == false, url.user == nil, url.password == nil else {
                throw ConfigError.invalid("terminate.\(name).url", "an http or https URL with no credentials in it", text)
            }
            if secretRequired && file == nil {
                throw ConfigError.invalid("terminate.\(name).\(secret)", "a file holding the secret (terminate.\(name).url is set)", "")
            }
            return Driver(url: url, secretFile: file, timeout: try number("terminate.\(name).timeout", 0.1...120) ?? 5)
        }
        dovecot = try driver("dovecot", secret: "api_key_file", secretRequired: true)
        ejabberd = try driver("ejabberd", secret: "credentials_file", secretRequired: false)
        prosody = try driver("prosody", secret: "secret_file", secretRequired: true)
        if let text = values["terminate.dovecot.proxy_addresses"] {
            dovecotProxyAddresses = try text.split(separator: ",").map { item in
                let trimmed = item.trimmingCharacters(in: .whitespaces)
                guard let address = ClientAddress.canonical(trimmed) else {
                    throw ConfigError.invalid("terminate.dovecot.proxy_addresses", "IP addresses, comma-separated", trimmed)
                }
                return address
            }
        }
    }
}
