// The table of settings: the one place a user-facing setting is written down.
//
// Charter: each entry says what a setting accepts, its default, what it means
// and where it goes. The parser, the config-file keys, the environment
// variables, the flags' help and the README table are all derived from it;
// none of them lists settings of its own.

import Foundation
import PosternCore
import PosternSQL

extension PosternConfig {
    /// Every user-facing setting, in the order they are documented and read.
    ///
    /// A `.value` default must be what `PosternConfig()` holds (a test checks
    /// it), and the README's table must be `settingsMarkdownTable()` (a test
    /// checks that too).
    public static let settings: [Setting] = listenerSettings + accountSettings + portalSettings + protocolSettings + storageSettings
        + mailSettings + terminateSettings

    // MARK: - Listeners and logging

    private static let listenerSettings: [Setting] = [
        .stored("listen", \.listen, .hostAndPort, default: .value("127.0.0.1:8080"), flag: .option("listen"),
                "portal and user API listener"),
        .stored("auth_listen", \.authListen, .hostAndPort, default: .value("127.0.0.1:8081"), flag: .option("auth-listen"),
                "listener for the mail and chat servers' auth endpoints"),
        .stored("auth_secret_file", \.authSecretFile, .file, default: .none, flag: .option("auth-secret-file"),
                "file holding the shared secret (16 characters or more) mail and chat servers must send in `X-Postern-Auth-Secret`"),
        .stored("data", \.dataDirectory, .text("a directory", placeholder: "dir"), default: .value("./postern-data"), flag: .option("data"),
                "data directory: the SQLite database and the server key"),
        .stored("public_url", \.publicURL, .publicURL, default: .value("http://localhost:8080"), flag: .option("public-url"),
                "where users reach the portal"),
        .stored("log_level", \.logLevel, .oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"], placeholder: "level"),
                default: .value("info"), flag: .option("log-level"), "log messages at this level and more severe are written"),
    ]

    // MARK: - Accounts, passwords and pacing

    private static let accountSettings: [Setting] = [
        .stored("signup", \.signupOpen, .signup, default: .value("open"), flag: .option("signup"),
                "whether anyone may create an account; close it in production"),
        .stored("denial_message", \.denialMessage, .denialMessage, default: .described("mentions app passwords and `<public_url>/security`"),
                flag: .option("denial-message"), "what every refused mail or chat client is told"),
        .stored("totp_issuer", \.totpIssuer, .totpIssuer, default: .value("Postern"), flag: .option("totp-issuer"),
                "issuer name shown in authenticator apps"),
        .stored("app_password_limit", \.appPasswordLimit, .integer(1...10_000), default: .value("100"), flag: .option("app-password-limit"),
                "most active app passwords per account"),
        .stored("scrypt.log_n", \.scrypt.logN, .integer(10...22), default: .value("17"),
                "password hash cost, log2 of scrypt's N (OWASP); older hashes are upgraded at the next sign-in"),
        .stored("scrypt.r", \.scrypt.r, .integer(1...32), default: .value("8"), "password hash cost, scrypt's block size r"),
        .stored("scrypt.p", \.scrypt.p, .integer(1...16), default: .value("1"), "password hash cost, scrypt's parallelism p"),
        .stored("hash_concurrency", \.hashConcurrency, .integer(1...256), default: .described("CPU cores"), "password hashes computed at once"),
        .stored("password_cache_ttl", \.passwordCacheTTL, .seconds(clampedTo: 0...3600), default: .value("60"),
                "seconds a verified account password is remembered; 0 turns it off"),
        .stored("credential_cache_size", \.credentialCacheSize, .integer(0...10_000_000), default: .value("200000"),
                "app passwords kept in memory for protocol logins, kept true by the store's change feed; 0 turns the cache off"),
        .stored("session_lifetime", \.sessionLifetime, .seconds(clampedTo: 60...Double.infinity), default: .value("43200"),
                "seconds an API session lasts"),
        .stored("throttle.free_failures", \.throttle.freeFailures, .integer(1...1000), default: .value("5"),
                "failures a source may make in 15 minutes before answers slow down"),
        .stored("throttle.max_delay", \.throttle.maximumDelay, .seconds(clampedTo: 0...60), default: .value("8"),
                "the longest delay before a refusal"),
        .stored("throttle.account_failures_per_hour", \.throttle.accountFailuresPerHour, .integer(10...100_000), default: .value("100"),
                "account-password failures per account per hour before sources that never signed in with it are refused"),
        .stored("reset.token_lifetime", \.resetTokenLifetime, .seconds(clampedTo: 60...86_400), default: .value("1800"),
                "seconds a password-reset link works"),
        .stored("reset.revoke_app_passwords", \.revokeAppPasswordsOnReset, .boolean, default: .value("true"),
                "whether a password reset revokes every app password"),
        .stored("password_change.revoke_app_passwords", \.passwordChangeRevokesByDefault, .boolean, default: .value("false"),
                "whether \u{201C}also revoke all app passwords\u{201D} starts ticked when changing the password"),
        .stored("activity.retention_days", \.activityRetentionDays, .integer(1...3650), default: .value("90"), "days activity is kept"),
    ]

    // MARK: - Portal

    private static let portalSettings: [Setting] = [
        .stored("portal.idle_timeout", \.portalIdleTimeout, .seconds(clampedTo: 60...Double.infinity), default: .value("1800"),
                "seconds without a request before a portal session ends"),
        .stored("portal.reauth_window", \.reauthWindow, .seconds(), default: .value("600"),
                "seconds after sign-in during which sensitive changes need no password"),
        .stored("portal.templates_dir", \.templatesDirectory, ValueParser<String>.text("a directory", placeholder: "dir").optional,
                default: .described("bundled"), "directory of Mustache templates to use instead, to reword pages without a rebuild"),
        .stored("trusted_proxies", \.trustedProxies, .trustedProxies, default: .none,
                "reverse proxies whose `X-Forwarded-For` gives the portal client's address"),
        .stored("client.imap", \.clientIMAP, .hostAndPort, default: .described("public URL host, port 993"),
                "IMAP server shown to users with a new app password"),
        .stored("client.pop3", \.clientPOP3, .hostAndPort, default: .described("public URL host, port 995"),
                "POP3 server shown to users with a new app password"),
        .stored("client.smtp", \.clientSMTP, .hostAndPort, default: .described("public URL host, port 587"),
                "SMTP submission server shown to users with a new app password"),
        .stored("client.xmpp", \.clientXMPP, .hostAndPort, default: .described("public URL host, port 5222"),
                "XMPP server shown to users with a new app password"),
        .stored("client.domains", \.clientDomains, .mailDomains, default: .described("the domains of existing accounts"),
                "mail domains whose addresses get autoconfig and Autodiscover answers; see docs/autoconfig.md"),
        .stored("device_setup.signing_certificate", \.deviceSetupSigningCertificate, .file, default: .none,
                "PEM certificate (intermediates may follow it) that signs the Apple profiles device-setup links deliver; "
                    + "needs `device_setup.signing_key`. Without both, profiles are unsigned"),
        .stored("device_setup.signing_key", \.deviceSetupSigningKey, .file, default: .none,
                "PEM private key (ECDSA P-256 or RSA) of `device_setup.signing_certificate`"),
    ]

    // MARK: - Mail and chat servers

    private static let protocolSettings: [Setting] = [
        .stored("sasl_listen", \.saslListen, .saslListen, default: .none, flag: .repeatable("sasl-listen"),
                "Dovecot-protocol SASL auth sockets, for Postfix, Prosody and Exim"),
        .stored("sasl_allow", \.saslAllow, .saslAllow, default: .value("127.0.0.0/8, ::1/128"), flag: .repeatable("sasl-allow"),
                "networks whose peers may connect to an `inet:` SASL socket; others are closed before the handshake. "
                    + "Unix sockets are guarded by file permissions instead"),
        .stored("sasl_default_domain", \.saslDefaultDomain, .domain, default: .none, flag: .option("sasl-default-domain"),
                "domain added to SASL, nginx and extauth usernames given without `@domain`"),
        .stored("nginx.imap", \.nginxIMAP, .nginxBackend, default: .none, "IMAP backend nginx's mail proxy sends an allowed client to"),
        .stored("nginx.pop3", \.nginxPOP3, .nginxBackend, default: .none, "POP3 backend nginx's mail proxy sends an allowed client to"),
        .stored("nginx.smtp", \.nginxSMTP, .nginxBackend, default: .none, "SMTP backend nginx's mail proxy sends an allowed client to"),
        .stored("nginx.backend_password_file", \.nginxBackendPasswordFile, .file, default: .none,
                "file with the password nginx hands the backend as `Auth-Pass` (with the canonical user), instead of the app password"),
    ]

    // MARK: - Storage

    private static let storageSettings: [Setting] = [
        .stored("database.url", \.databaseURL, .postgresURL, default: .described("SQLite in the data directory"), flag: .option("database"),
                "PostgreSQL instead of SQLite, so that several instances can share it; see docs/deploy.md"),
        .stored("database.password_file", \.databasePasswordFile, .file, default: .none,
                "file holding the PostgreSQL password, instead of putting it in the URL"),
        .stored("database.max_connections", \.databaseMaxConnections, .integer(1...1000), default: .value("20"),
                "most PostgreSQL connections per instance; further requests wait in a bounded queue"),
    ]

    // MARK: - Notifications

    private static let mailSettings: [Setting] = [
        .stored("mail.smtp_url", \.smtpURL, .smtpURL, default: .none, flag: .option("smtp-url"),
                "where notifications are sent, over STARTTLS with `smtp://` or TLS with `smtps://`; without it they are written to `<data>/outbox/*.eml`"),
        .stored("mail.from", \.mailFrom, .mailAddress, default: .described("`postern@<public host>`"), flag: .option("mail-from"),
                "sender of notifications"),
        .stored("mail.ca_file", \.mailCAFile, .file, default: .described("system CAs"),
                "extra CA certificates (PEM) to trust for the SMTP server"),
        .stored("mail.retry_base", \.mailRetryBase, .seconds(clampedTo: 0.1...Double.infinity), default: .value("30"),
                "seconds before the first retry of a failed delivery; doubles each time, at most an hour"),
    ]
}

// MARK: - Parsers for Postern's own values

extension ValueParser where Value == String {
    fileprivate static var publicURL: ValueParser {
        checked(expected: "an http or https URL", placeholder: "url") { text in
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else { return nil }
            return text.hasSuffix("/") ? String(text.dropLast()) : text
        }
    }

    fileprivate static var totpIssuer: ValueParser {
        checked(expected: "1–64 characters, no colon", placeholder: "name") { text in
            !text.isEmpty && text.count <= 64 && !text.contains(":") ? text : nil
        }
    }
}

extension ValueParser where Value == String? {
    fileprivate static var denialMessage: ValueParser {
        ValueParser<String>.checked(expected: "one line of at most 400 characters", placeholder: "text") { text in
            !text.isEmpty && text.count <= 400 && !text.contains(where: { $0.isNewline }) ? text : nil
        }.map { $0 }
    }

    /// Stored in lower case.
    fileprivate static var domain: ValueParser {
        ValueParser<String>.checked(expected: "a domain name", placeholder: "domain") { text in
            Username.canonical("x@" + text) != nil ? text.lowercased() : nil
        }.optional
    }

    fileprivate static var postgresURL: ValueParser {
        ValueParser<String>.checked(expected: "postgres://user[:password]@host:port/database", shown: "`postgres://user[:password]@host:port/db[?sslmode=require]`",
                                    placeholder: "url", secret: true) { PostgresSettingsCheck.valid($0) ? $0 : nil }.optional
    }

    fileprivate static var mailAddress: ValueParser {
        ValueParser<String>.checked(expected: "an address like postern@example.org", placeholder: "address") { text in
            Username.canonical(text) != nil ? text : nil
        }.optional
    }
}

extension ValueParser where Value == Bool {
    /// `open` or `closed`, in any case; true when open.
    fileprivate static var signup: ValueParser {
        checked(expected: "open or closed", placeholder: "open|closed") { text in
            switch text.lowercased() {
            case "open": true
            case "closed": false
            default: nil
            }
        }
    }
}

extension ValueParser where Value == HostAndPort? {
    /// nginx wants an address here; it does not resolve names.
    fileprivate static var nginxBackend: ValueParser {
        ValueParser<HostAndPort>.checked(expected: "IP:PORT (an IP address, not a name)", shown: "`IP:PORT`", placeholder: "ip:port") { text in
            HostAndPort(text).flatMap { ClientAddress.canonical($0.host) != nil ? $0 : nil }
        }.optional
    }
}

extension ValueParser where Value == SMTPURL? {
    fileprivate static var smtpURL: ValueParser {
        ValueParser<SMTPURL>.checked(expected: "smtp://[user:pass@]host:port or smtps://…", shown: "`smtp://[user:pass@]host:port` or `smtps://…`",
                                     placeholder: "url", secret: true) { SMTPURL($0) }.optional
    }
}

extension ValueParser where Value == [SASLAddress] {
    fileprivate static var saslListen: ValueParser {
        commaSeparated(expected: "unix:PATH or inet:HOST:PORT, comma-separated", shown: "`unix:PATH` or `inet:HOST:PORT`, comma-separated",
                       placeholder: "unix:path|inet:host:port") { SASLAddress($0) }
    }
}

extension ValueParser where Value == [IPNetwork] {
    fileprivate static var saslAllow: ValueParser {
        commaSeparated(expected: "IPv4 or IPv6 networks in CIDR form with no host bits set, comma-separated (such as 127.0.0.0/8, ::1/128)",
                       shown: "networks in CIDR form, comma-separated", placeholder: "cidr", skippingBlanks: true) { IPNetwork($0) }
    }
}

extension ValueParser where Value == [String] {
    /// Stored in canonical form (lower case, NFC).
    fileprivate static var mailDomains: ValueParser {
        commaSeparated(expected: "domain names, comma-separated (such as example.org, example.net)", shown: "domains, comma-separated",
                       placeholder: "domain") { MailDomains.canonical($0) }
    }
}

extension ValueParser where Value == Set<String> {
    /// Stored in canonical form.
    fileprivate static var trustedProxies: ValueParser {
        ValueParser<[String]>.commaSeparated(expected: "IP addresses, comma-separated", shown: "IP addresses, comma-separated",
                                             placeholder: "ip") { ClientAddress.canonical($0) }.map { Set($0) }
    }
}

enum PostgresSettingsCheck {
    static func valid(_ url: String) -> Bool { PostgresExecutor.Settings(url: url) != nil }
}
