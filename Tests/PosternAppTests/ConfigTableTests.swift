import Foundation
import PosternCore
import Testing
@testable import PosternApp

/// The table of settings is the one place a setting is written; these check
/// what is derived from it.
extension ConfigTests {
    static let readmeBegin = "<!-- settings:begin -->"
    static let readmeEnd = "<!-- settings:end -->"

    @Test("the README's table of settings is the one the code writes")
    func readmeTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = try #require(readme.range(of: Self.readmeBegin), "README.md marks its table with \(Self.readmeBegin)")
        let end = try #require(readme.range(of: Self.readmeEnd, range: begin.upperBound..<readme.endIndex), "and \(Self.readmeEnd)")
        let section = readme[begin.upperBound..<end.lowerBound].trimmingCharacters(in: .newlines)
        let expected = PosternConfig.settingsMarkdownTable().trimmingCharacters(in: .newlines)
        #expect(section == expected, "Put this between the markers in README.md:\n\(expected)")
    }

    @Test("each key is listed once, and its environment name is POSTERN_ + the key")
    func keysAndEnvironment() {
        let keys = PosternConfig.settings.map(\.key)
        #expect(Set(keys).count == keys.count)
        #expect(PosternConfig.keys == keys)
        #expect(Set(PosternConfig.settings.map(\.environmentName)).count == keys.count)
        let names = Dictionary(uniqueKeysWithValues: PosternConfig.settings.map { ($0.key, $0.environmentName) })
        #expect(names["throttle.max_delay"] == "POSTERN_THROTTLE_MAX_DELAY")
        #expect(names["password_change.revoke_app_passwords"] == "POSTERN_PASSWORD_CHANGE_REVOKE_APP_PASSWORDS")
        let flags = PosternConfig.settings.compactMap(\.flag?.name)
        #expect(Set(flags).count == flags.count)
    }

    @Test("a documented default is the default", arguments: PosternConfig.settings.map { $0.key })
    func documentedDefault(key: String) throws {
        let setting = try #require(PosternConfig.settings.first { $0.key == key })
        guard case .value(let text) = setting.defaultValue else { return }
        #expect(try PosternConfig(values: [key: text]) == PosternConfig())
    }

    @Test("refusals name the setting and what it must be", arguments: [
        ("app_password_limit", "0", ConfigError.invalid("app_password_limit", "a whole number from 1 to 10000", "0")),
        ("throttle.max_delay", "-1", .invalid("throttle.max_delay", "a number of seconds, 0 or more", "-1")),
        ("session_lifetime", "inf", .invalid("session_lifetime", "a number of seconds, 0 or more", "inf")),
        ("reset.revoke_app_passwords", "maybe", .invalid("reset.revoke_app_passwords", "true or false", "maybe")),
        ("log_level", "loud", .invalid("log_level", "trace, debug, info, notice, warning, error or critical", "loud")),
        ("totp_issuer", "a:b", .invalid("totp_issuer", "1–64 characters, no colon", "a:b")),
        ("denial_message", "", .invalid("denial_message", "one line of at most 400 characters", "")),
        ("sasl_listen", "unix:/run/a, tcp:1", .invalid("sasl_listen", "unix:PATH or inet:HOST:PORT, comma-separated", "tcp:1")),
        ("trusted_proxies", "192.0.2.1, proxy", .invalid("trusted_proxies", "IP addresses, comma-separated", "proxy")),
        ("nginx.imap", "imap.example.org:143", .invalid("nginx.imap", "IP:PORT (an IP address, not a name)", "imap.example.org:143")),
        ("sasl_default_domain", "a b", .invalid("sasl_default_domain", "a domain name", "a b")),
        ("mail.from", "nobody", .invalid("mail.from", "an address like postern@example.org", "nobody")),
        ("database.url", "mysql://u:secret@h/db", .invalid("database.url", "postgres://user[:password]@host:port/database", "(hidden)")),
        ("mail.smtp_url", "http://u:secret@h", .invalid("mail.smtp_url", "smtp://[user:pass@]host:port or smtps://…", "(hidden)")),
    ])
    func refusals(key: String, text: String, error: ConfigError) {
        #expect(throws: error) { try PosternConfig(values: [key: text]) }
    }

    @Test("seconds out of bounds are brought within them, not refused")
    func clamping() throws {
        let high = try PosternConfig(values: ["throttle.max_delay": "600", "password_cache_ttl": "86400", "reset.token_lifetime": "999999"])
        #expect(high.throttle.maximumDelay == 60 && high.passwordCacheTTL == 3600 && high.resetTokenLifetime == 86_400)
        let low = try PosternConfig(values: ["session_lifetime": "1", "portal.idle_timeout": "0", "mail.retry_base": "0", "reset.token_lifetime": "1"])
        #expect(low.sessionLifetime == 60 && low.portalIdleTimeout == 60 && low.mailRetryBase == 0.1 && low.resetTokenLifetime == 60)
        #expect(try PosternConfig(values: ["app_password_limit": " 7 "]).appPasswordLimit == 7, "spaces around a number are ignored")
    }

    @Test("empty text leaves an optional setting unset; lists may be empty")
    func emptyValues() throws {
        let keys = ["auth_secret_file", "portal.templates_dir", "sasl_default_domain", "nginx.smtp", "nginx.backend_password_file",
                    "database.url", "database.password_file", "mail.smtp_url", "mail.from", "mail.ca_file", "sasl_listen", "trusted_proxies"]
        #expect(try PosternConfig(values: Dictionary(uniqueKeysWithValues: keys.map { ($0, "") })) == PosternConfig())
        let set = try PosternConfig(values: ["sasl_default_domain": "Example.ORG", "trusted_proxies": "::1, 192.0.2.1", "signup": "CLOSED",
                                             "public_url": "https://mail.example.org/", "sasl_listen": "unix:/run/postern, inet:127.0.0.1:3659"])
        #expect(set.saslDefaultDomain == "example.org")
        #expect(set.trustedProxies == ["::1", "192.0.2.1"])
        #expect(!set.signupOpen && set.publicURL == "https://mail.example.org")
        #expect(set.saslListen == [.unix(path: "/run/postern"), .inet(HostAndPort(host: "127.0.0.1", port: 3659))])
    }
}
