// The `[terminate]` table: which servers are told to end open sessions after
// a revocation, and how hard Postern tries. Every driver is optional; one is
// on when its `url` is set.

import Foundation
import PosternCore

/// Where the session terminator's settings go in `PosternConfig`.
public struct TerminateConfig: Sendable, Equatable {
    /// One server's driver: on when `url` is set.
    public struct Driver: Sendable, Equatable {
        public var url: URL?
        /// The file holding its credential; read at start, never logged.
        public var secretFile: String?
        /// Seconds one call may take.
        public var timeout: Double = 5

        public init(url: URL? = nil, secretFile: String? = nil, timeout: Double = 5) {
            self.url = url
            self.secretFile = secretFile
            self.timeout = timeout
        }
    }

    public var retryBase: Double = 5
    public var maximumAttempts = 8
    public var interval: Double = 0.5
    public var dovecot = Driver()
    public var dovecotProxyAddresses: [String] = []
    public var ejabberd = Driver()
    public var prosody = Driver()

    public init() {}

    /// The configured servers, as the rules see them (no secrets needed: the
    /// admin CLI queues orders with these too).
    public var targets: [TerminationTarget] {
        var targets: [TerminationTarget] = []
        if dovecot.url != nil {
            targets.append(TerminationTarget(server: "dovecot", protocols: [.imap, .pop3], endsByAddress: true,
                                             proxyAddresses: dovecotProxyAddresses))
        }
        if ejabberd.url != nil { targets.append(TerminationTarget(server: "ejabberd", protocols: [.xmpp], endsByAddress: false)) }
        if prosody.url != nil { targets.append(TerminationTarget(server: "prosody", protocols: [.xmpp], endsByAddress: false)) }
        return targets
    }
}

extension PosternConfig {
    static let terminateSettings: [Setting] = [
        .stored("terminate.retry_base", \.terminate.retryBase, .seconds(clampedTo: 0.1...3600), default: .value("5"),
                "ending open sessions: seconds before the first retry of a failed attempt; doubles each time, at most an hour"),
        .stored("terminate.max_attempts", \.terminate.maximumAttempts, .integer(1...100), default: .value("8"),
                "attempts per server before an order is shown as failed and the owner is told"),
        .stored("terminate.interval", \.terminate.interval, .seconds(clampedTo: 0.05...60), default: .value("0.5"),
                "seconds between looks at the queue of orders to end sessions"),
        .stored("terminate.dovecot.url", \.terminate.dovecot.url, .driverURL, default: .none,
                "Dovecot's doveadm HTTP API, such as `http://127.0.0.1:8089/doveadm/v1`: revoking ends IMAP and POP3 sessions"),
        .stored("terminate.dovecot.api_key_file", \.terminate.dovecot.secretFile, .file, default: .none,
                "file holding `doveadm_api_key` (required with the URL)"),
        .stored("terminate.dovecot.timeout", \.terminate.dovecot.timeout, .seconds(clampedTo: 0.1...120), default: .value("5"),
                "seconds one call to doveadm may take"),
        .stored("terminate.dovecot.proxy_addresses", \.terminate.dovecotProxyAddresses, .addresses, default: .none,
                "addresses Dovecot sees proxied sessions come from (nginx's mail proxy); an app password's sessions from them end too"),
        .stored("terminate.ejabberd.url", \.terminate.ejabberd.url, .driverURL, default: .none,
                "ejabberd's mod_http_api base, such as `http://127.0.0.1:5281/api`: revoking calls `kick_user`"),
        .stored("terminate.ejabberd.credentials_file", \.terminate.ejabberd.secretFile, .file, default: .none,
                "file holding `user@host:password` for mod_http_api, sent as Basic auth (none: its api_permissions, such as loopback)"),
        .stored("terminate.ejabberd.timeout", \.terminate.ejabberd.timeout, .seconds(clampedTo: 0.1...120), default: .value("5"),
                "seconds one call to ejabberd may take"),
        .stored("terminate.prosody.url", \.terminate.prosody.url, .driverURL, default: .none,
                "Prosody's mod_postern_disconnect endpoint, such as `http://127.0.0.1:5280/postern_disconnect`"),
        .stored("terminate.prosody.secret_file", \.terminate.prosody.secretFile, .file, default: .none,
                "file holding the module's shared secret (required with the URL)"),
        .stored("terminate.prosody.timeout", \.terminate.prosody.timeout, .seconds(clampedTo: 0.1...120), default: .value("5"),
                "seconds one call to Prosody may take"),
    ]
}

extension ValueParser where Value == URL? {
    /// An http or https URL with a host and no credentials in it.
    fileprivate static var driverURL: ValueParser {
        ValueParser<URL>.checked(expected: "an http or https URL with no credentials in it", shown: "an http or https URL", placeholder: "url") { text in
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  url.host?.isEmpty == false, url.user == nil, url.password == nil else { return nil }
            return url
        }.optional
    }
}

extension ValueParser where Value == [String] {
    /// IP addresses, comma-separated, stored in canonical form.
    fileprivate static var addresses: ValueParser {
        commaSeparated(expected: "IP addresses, comma-separated", shown: "IP addresses, comma-separated", placeholder: "ip",
                       skippingBlanks: true) { ClientAddress.canonical($0) }
    }
}
