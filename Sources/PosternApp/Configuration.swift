// PosternApp: wires configuration, storage, the core and the listeners into
// one service group.
//
// Charter: assembly and lifecycle only. It makes no security decision.

import Foundation
import PosternCore
import PosternSQL
import TOMLKit

/// Every user-facing setting, in one place.
///
/// Each setting is read from, in order of precedence: a command-line flag, the
/// environment (`POSTERN_` + the key in upper case, dots and dashes as
/// underscores), the config file (`--config`, TOML or JSON, nested tables
/// flattened with dots), then the default below.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `listen` | `127.0.0.1:8080` | portal and user API listener |
/// | `auth_listen` | `127.0.0.1:8081` | listener for mail and chat servers |
/// | `auth_secret_file` | none | file holding the shared secret required in `X-Postern-Auth-Secret` |
/// | `data` | `./postern-data` | data directory: database, server key |
/// | `public_url` | `http://localhost:8080` | where users reach the portal |
/// | `signup` | `open` | `open` or `closed`; close it in production |
/// | `denial_message` | see `defaultDenialMessage` | what every refused protocol client is told |
/// | `totp_issuer` | `Postern` | issuer shown in authenticator apps |
/// | `app_password_limit` | `100` | most active app passwords per account |
/// | `scrypt.log_n`, `scrypt.r`, `scrypt.p` | `17`, `8`, `1` | password hash cost (OWASP) |
/// | `hash_concurrency` | CPU cores | password hashes run at once |
/// | `password_cache_ttl` | `60` | seconds a verified account password is remembered; 0 turns it off |
/// | `session_lifetime` | `43200` | seconds an API session lasts |
/// | `log_level` | `info` | trace, debug, info, notice, warning, error, critical |
/// | `portal.idle_timeout` | `1800` | seconds without a request before a portal session ends |
/// | `portal.reauth_window` | `600` | seconds after sign-in during which sensitive changes need no password |
/// | `portal.templates_dir` | bundled | directory of Mustache templates, to reword pages without a rebuild |
/// | `throttle.free_failures` | `5` | failures a source may make in 15 minutes before answers slow down |
/// | `throttle.max_delay` | `8` | seconds, the longest delay before a refusal |
/// | `throttle.account_failures_per_hour` | `100` | account-password failures per account per hour before unknown sources are refused |
/// | `sasl_listen` | none | Dovecot-protocol SASL auth sockets, comma-separated: `unix:PATH`, `inet:HOST:PORT` |
/// | `sasl_allow` | `127.0.0.0/8, ::1/128` | networks (CIDR, comma-separated) whose peers may connect to an `inet:` SASL socket; others are closed before the handshake. Unix sockets are guarded by file permissions instead |
/// | `sasl_default_domain` | none | domain added to SASL, nginx and extauth usernames given without `@domain` |
/// | `nginx.imap`, `nginx.pop3`, `nginx.smtp` | none | backend `IP:PORT` nginx's mail proxy sends an allowed client to |
/// | `nginx.backend_password_file` | none | file with the password nginx hands the backend as `Auth-Pass` (with the canonical user), instead of the app password |
/// | `database.url` | SQLite in the data directory | `postgres://user[:pass]@host:port/db[?sslmode=require]` selects PostgreSQL (flag `--database`) |
/// | `database.password_file` | none | file holding the PostgreSQL password, instead of putting it in the URL |
/// | `database.max_connections` | `20` | most PostgreSQL connections per instance; further requests wait in a bounded queue |
/// | `trusted_proxies` | none | reverse proxies (IP addresses, comma-separated) whose `X-Forwarded-For` gives the portal client's address |
/// | `mail.smtp_url` | none | `smtp://[user:pass@]host:port` (STARTTLS) or `smtps://…`; without it mail goes to `<data>/outbox/*.eml` |
/// | `mail.from` | `postern@<public host>` | sender of notifications |
/// | `mail.ca_file` | system CAs | extra trusted CA certificates (PEM) for the SMTP server |
/// | `mail.retry_base` | `30` | seconds before the first retry of a failed delivery; doubles each time, at most an hour |
/// | `reset.token_lifetime` | `1800` | seconds a password-reset link works |
/// | `reset.revoke_app_passwords` | `true` | a password reset revokes every app password |
/// | `password_change.revoke_app_passwords` | `false` | whether "also revoke all app passwords" starts ticked when changing the password |
/// | `activity.retention_days` | `90` | days activity is kept |
/// | `client.imap`, `client.pop3`, `client.smtp`, `client.xmpp` | public URL host, 993, 995, 587, 5222 | servers shown to users with a new app password |
/// | `terminate.*` | no drivers | servers told to end open sessions after a revocation: see `TerminateConfig` |
public struct PosternConfig: Sendable, Equatable {
    public var listen = HostAndPort(host: "127.0.0.1", port: 8080)
    public var authListen = HostAndPort(host: "127.0.0.1", port: 8081)
    public var authSecretFile: String?
    public var dataDirectory = "./postern-data"
    public var publicURL = "http://localhost:8080"
    public var signupOpen = true
    public var denialMessage: String?
    public var totpIssuer = "Postern"
    public var appPasswordLimit = 100
    public var scrypt = ScryptHasher.Parameters.owasp
    public var hashConcurrency = ProcessInfo.processInfo.activeProcessorCount
    public var passwordCacheTTL: Double = 60
    public var sessionLifetime: Double = 43_200
    public var logLevel = "info"
    public var portalIdleTimeout: Double = 1800
    public var reauthWindow: Double = 600
    public var templatesDirectory: String?
    public var throttle = ThrottlePolicy()
    /// host:port per protocol; nil host means the public URL's host.
    public var clientIMAP = HostAndPort(host: "", port: 993)
    public var clientPOP3 = HostAndPort(host: "", port: 995)
    public var clientSMTP = HostAndPort(host: "", port: 587)
    public var clientXMPP = HostAndPort(host: "", port: 5222)
    public var saslListen: [SASLAddress] = []
    /// Peers that may connect to an `inet:` SASL socket: loopback by default.
    public var saslAllow: [IPNetwork] = PosternConfig.defaultSASLAllow
    public var saslDefaultDomain: String?
    public var nginxIMAP: HostAndPort?
    public var nginxPOP3: HostAndPort?
    public var nginxSMTP: HostAndPort?
    public var nginxBackendPasswordFile: String?
    public var trustedProxies: Set<String> = []
    public var databaseURL: String?
    public var databasePasswordFile: String?
    public var databaseMaxConnections = 20
    public var smtpURL: SMTPURL?
    public var mailFrom: String?
    public var mailCAFile: String?
    public var mailRetryBase: Double = 30
    public var resetTokenLifetime: Double = 1800
    public var revokeAppPasswordsOnReset = true
    public var passwordChangeRevokesByDefault = false
    public var activityRetentionDays = 90
    public var terminate = TerminateConfig()

    public init() {}

    public static let defaultSASLAllow = [IPNetwork("127.0.0.0/8")!, IPNetwork("::1/128")!]

    /// The sender of notifications.
    public var effectiveMailFrom: String { mailFrom ?? "postern@\(publicHost)" }

    /// The public URL's host, the default for client server names.
    public var publicHost: String { URL(string: publicURL)?.host ?? "localhost" }

    public static let keys: [String] = [
        "listen", "auth_listen", "auth_secret_file", "data", "public_url", "signup", "denial_message", "totp_issuer",
        "app_password_limit", "scrypt.log_n", "scrypt.r", "scrypt.p", "hash_concurrency", "password_cache_ttl",
        "session_lifetime", "log_level", "portal.idle_timeout", "portal.reauth_window", "portal.templates_dir",
        "client.imap", "client.pop3", "client.smtp", "client.xmpp",
        "throttle.free_failures", "throttle.max_delay", "throttle.account_failures_per_hour",
        "sasl_listen", "sasl_allow", "sasl_default_domain", "nginx.imap", "nginx.pop3", "nginx.smtp", "nginx.backend_password_file",
        "database.url", "database.password_file", "database.max_connections",
        "trusted_proxies", "mail.smtp_url", "mail.from", "mail.ca_file", "mail.retry_base", "reset.token_lifetime", "reset.revoke_app_passwords",
        "password_change.revoke_app_passwords", "activity.retention_days",
    ] + TerminateConfig.keys

    /// The message protocol clients get for every refusal, unless configured.
    public var effectiveDenialMessage: String {
        denialMessage ?? "Authentication failed. If your account uses two-factor authentication, use an app password from \(publicURL)/security"
    }

    /// The environment variable for a key: `scrypt.log_n` → `POSTERN_SCRYPT_LOG_N`.
    public static func environmentName(_ key: String) -> String {
        "POSTERN_" + key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// Builds the configuration from its layers. `flags` holds the keys given on
    /// the command line; `configFile` is the path from `--config` or
    /// `POSTERN_CONFIG`.
    public static func load(flags: [String: String], environment: [String: String], configFile: String?) throws -> PosternConfig {
        var values: [String: String] = [:]
        let file = configFile ?? environment["POSTERN_CONFIG"]
        if let file {
            for (key, value) in try readFile(file) { values[key] = value }
        }
        for key in keys {
            if let value = environment[environmentName(key)] { values[key] = value }
        }
        for (key, value) in flags {
            guard keys.contains(key) else { throw ConfigError.unknownKey(key, source: "flags") }
            values[key] = value
        }
        return try PosternConfig(values: values)
    }

    init(values: [String: String]) throws {
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = values[key] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw ConfigError.invalid(key, "a whole number from \(range.lowerBound) to \(range.upperBound)", text)
            }
            return value
        }
        func seconds(_ key: String) throws -> Double? {
            guard let text = values[key] else { return nil }
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value >= 0, value.isFinite else {
                throw ConfigError.invalid(key, "a number of seconds, 0 or more", text)
            }
            return value
        }
        if let text = values["listen"] {
            guard let value = HostAndPort(text) else { throw ConfigError.invalid("listen", "HOST:PORT", text) }
            listen = value
        }
        if let text = values["auth_listen"] {
            guard let value = HostAndPort(text) else { throw ConfigError.invalid("auth_listen", "HOST:PORT", text) }
            authListen = value
        }
        authSecretFile = values["auth_secret_file"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = values["data"] { dataDirectory = text }
        if let text = values["public_url"] {
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigError.invalid("public_url", "an http or https URL", text)
            }
            publicURL = text.hasSuffix("/") ? String(text.dropLast()) : text
        }
        if let text = values["signup"] {
            switch text.lowercased() {
            case "open": signupOpen = true
            case "closed": signupOpen = false
            default: throw ConfigError.invalid("signup", "open or closed", text)
            }
        }
        if let text = values["denial_message"] {
            guard !text.isEmpty, text.count <= 400, !text.contains(where: { $0.isNewline }) else {
                throw ConfigError.invalid("denial_message", "one line of at most 400 characters", text)
            }
            denialMessage = text
        }
        if let text = values["totp_issuer"] {
            guard !text.isEmpty, text.count <= 64, !text.contains(":") else { throw ConfigError.invalid("totp_issuer", "1–64 characters, no colon", text) }
            totpIssuer = text
        }
        if let value = try int("app_password_limit", 1...10_000) { appPasswordLimit = value }
        if let value = try int("scrypt.log_n", 10...22) { scrypt.logN = value }
        if let value = try int("scrypt.r", 1...32) { scrypt.r = value }
        if let value = try int("scrypt.p", 1...16) { scrypt.p = value }
        if let value = try int("hash_concurrency", 1...256) { hashConcurrency = value }
        if let value = try seconds("password_cache_ttl") { passwordCacheTTL = min(value, 3600) }
        if let value = try seconds("session_lifetime") { sessionLifetime = max(60, value) }
        if let value = try seconds("portal.idle_timeout") { portalIdleTimeout = max(60, value) }
        if let value = try seconds("portal.reauth_window") { reauthWindow = value }
        templatesDirectory = values["portal.templates_dir"].flatMap { $0.isEmpty ? nil : $0 }
        if let value = try int("throttle.free_failures", 1...1000) { throttle.freeFailures = value }
        if let value = try seconds("throttle.max_delay") { throttle.maximumDelay = min(value, 60) }
        if let value = try int("throttle.account_failures_per_hour", 10...100_000) { throttle.accountFailuresPerHour = value }
        for (key, path) in [("client.imap", \PosternConfig.clientIMAP), ("client.pop3", \.clientPOP3), ("client.smtp", \.clientSMTP),
                            ("client.xmpp", \.clientXMPP)] as [(String, WritableKeyPath<PosternConfig, HostAndPort>)] {
            guard let text = values[key] else { continue }
            guard let value = HostAndPort(text) else { throw ConfigError.invalid(key, "HOST:PORT", text) }
            self[keyPath: path] = value
        }
        if let text = values["sasl_listen"] {
            saslListen = try text.split(separator: ",").map { item in
                let trimmed = item.trimmingCharacters(in: .whitespaces)
                guard let address = SASLAddress(trimmed) else {
                    throw ConfigError.invalid("sasl_listen", "unix:PATH or inet:HOST:PORT, comma-separated", trimmed)
                }
                return address
            }
        }
        if let text = values["sasl_allow"] {
            let expected = "IPv4 or IPv6 networks in CIDR form with no host bits set, comma-separated (such as 127.0.0.0/8, ::1/128)"
            let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !items.isEmpty else { throw ConfigError.invalid("sasl_allow", expected, text) }
            saslAllow = try items.map { item in
                guard let network = IPNetwork(item) else { throw ConfigError.invalid("sasl_allow", expected, item) }
                return network
            }
        }
        if let text = values["sasl_default_domain"], !text.isEmpty {
            guard Username.canonical("x@" + text) != nil else { throw ConfigError.invalid("sasl_default_domain", "a domain name", text) }
            saslDefaultDomain = text.lowercased()
        }
        for (key, path) in [("nginx.imap", \PosternConfig.nginxIMAP), ("nginx.pop3", \.nginxPOP3), ("nginx.smtp", \.nginxSMTP)]
            as [(String, WritableKeyPath<PosternConfig, HostAndPort?>)] {
            guard let text = values[key], !text.isEmpty else { continue }
            // nginx wants an address here; it does not resolve names.
            guard let value = HostAndPort(text), ClientAddress.canonical(value.host) != nil else {
                throw ConfigError.invalid(key, "IP:PORT (an IP address, not a name)", text)
            }
            self[keyPath: path] = value
        }
        nginxBackendPasswordFile = values["nginx.backend_password_file"].flatMap { $0.isEmpty ? nil : $0 }
        func bool(_ key: String) throws -> Bool? {
            guard let text = values[key] else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ConfigError.invalid(key, "true or false", text)
            }
        }
        if let text = values["database.url"], !text.isEmpty {
            guard PostgresSettingsCheck.valid(text) else {
                throw ConfigError.invalid("database.url", "postgres://user[:password]@host:port/database", "(hidden)")
            }
            databaseURL = text
        }
        databasePasswordFile = values["database.password_file"].flatMap { $0.isEmpty ? nil : $0 }
        if let value = try int("database.max_connections", 1...1000) { databaseMaxConnections = value }
        if let text = values["trusted_proxies"] {
            trustedProxies = try Set(text.split(separator: ",").map { item in
                let trimmed = item.trimmingCharacters(in: .whitespaces)
                guard let address = ClientAddress.canonical(trimmed) else {
                    throw ConfigError.invalid("trusted_proxies", "IP addresses, comma-separated", trimmed)
                }
                return address
            })
        }
        if let text = values["mail.smtp_url"], !text.isEmpty {
            guard let url = SMTPURL(text) else { throw ConfigError.invalid("mail.smtp_url", "smtp://[user:pass@]host:port or smtps://…", "(hidden)") }
            smtpURL = url
        }
        if let text = values["mail.from"], !text.isEmpty {
            guard Username.canonical(text) != nil else { throw ConfigError.invalid("mail.from", "an address like postern@example.org", text) }
            mailFrom = text
        }
        mailCAFile = values["mail.ca_file"].flatMap { $0.isEmpty ? nil : $0 }
        if let value = try seconds("mail.retry_base") { mailRetryBase = max(0.1, value) }
        if let value = try seconds("reset.token_lifetime") { resetTokenLifetime = min(max(60, value), 86_400) }
        if let value = try bool("reset.revoke_app_passwords") { revokeAppPasswordsOnReset = value }
        if let value = try bool("password_change.revoke_app_passwords") { passwordChangeRevokesByDefault = value }
        if let value = try int("activity.retention_days", 1...3650) { activityRetentionDays = value }
        terminate = try TerminateConfig(values: values)
        if let text = values["log_level"] {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(text) else {
                throw ConfigError.invalid("log_level", "trace, debug, info, notice, warning, error or critical", text)
            }
            logLevel = text
        }
    }

    /// Reads a TOML or JSON file (by extension; TOML otherwise) into flat keys.
    static func readFile(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError.file(path, "cannot be read")
        }
        let json: String
        if path.lowercased().hasSuffix(".json") {
            json = text
        } else {
            do {
                json = try TOMLTable(string: text).convert(to: .json)
            } catch {
                throw ConfigError.file(path, "is not valid TOML: \(error)")
            }
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ConfigError.file(path, "must hold a table of settings")
        }
        var flat: [String: String] = [:]
        try flatten(object, prefix: "", into: &flat, path: path)
        for key in flat.keys where !keys.contains(key) {
            throw ConfigError.unknownKey(key, source: path)
        }
        return flat
    }

    private static func flatten(_ object: [String: Any], prefix: String, into flat: inout [String: String], path: String) throws {
        for (key, value) in object {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case let table as [String: Any]: try flatten(table, prefix: name, into: &flat, path: path)
            case let string as String: flat[name] = string
            case let list as [String]: flat[name] = list.joined(separator: ",")
            case let number as NSNumber:
                flat[name] = number.stringValue
            default: throw ConfigError.file(path, "has a value of an unsupported type at \(name)")
            }
        }
    }
}

public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unknownKey(String, source: String)
    case invalid(String, String, String)
    case file(String, String)

    public var description: String {
        switch self {
        case .unknownKey(let key, let source): "Unknown setting \u{201C}\(key)\u{201D} in \(source)."
        case .invalid(let key, let expected, let got): "Setting \u{201C}\(key)\u{201D} must be \(expected); got \u{201C}\(got.prefix(80))\u{201D}."
        case .file(let path, let problem): "Config file \(path) \(problem)."
        }
    }
}

/// `HOST:PORT`, with IPv6 hosts in brackets (`[::1]:8081`).
public struct HostAndPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where a Dovecot-protocol SASL auth socket listens.
public enum SASLAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case inet(HostAndPort)

    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
        } else if text.hasPrefix("inet:") {
            guard let address = HostAndPort(String(text.dropFirst(5))) else { return nil }
            self = .inet(address)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .inet(let address): "inet:\(address)"
        }
    }
}

enum PostgresSettingsCheck {
    static func valid(_ url: String) -> Bool { PostgresExecutor.Settings(url: url) != nil }
}
