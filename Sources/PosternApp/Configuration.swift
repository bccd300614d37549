// PosternApp: wires configuration, storage, the core and the listeners into
// one service group.
//
// Charter: assembly and lifecycle only. It makes no security decision.

import Foundation
import PosternCore

/// Every user-facing setting, in one place.
///
/// Each setting is read from, in order of precedence: a command-line flag, the
/// environment (`POSTERN_` + the key in upper case, dots and dashes as
/// underscores), the config file (`--config`, TOML or JSON, nested tables
/// flattened with dots), then the defaults.
///
/// The settings themselves (key, what each accepts, default, meaning, and the
/// property it sets) are listed once, in `PosternConfig.settings`
/// (Configuration+Settings.swift); the README's table is generated from it.
/// The properties' initial values below are the defaults; a test checks that
/// the table documents them truly.
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
    public var credentialCacheSize = 200_000
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
    /// PEM files that sign device-setup profiles: both or neither.
    public var deviceSetupSigningCertificate: String?
    public var deviceSetupSigningKey: String?
    /// Domains served autoconfig and Autodiscover; empty means those of existing accounts.
    public var clientDomains: [String] = []
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

    /// The config-file keys, in the order of `settings`.
    public static let keys: [String] = settings.map(\.key)

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

    /// Reads the settings present in `values` (the layers already stacked),
    /// in the order of `settings`; the rest keep their defaults.
    init(values: [String: String]) throws(ConfigError) {
        for setting in Self.settings {
            guard let text = values[setting.key] else { continue }
            try setting.apply(text, &self)
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
