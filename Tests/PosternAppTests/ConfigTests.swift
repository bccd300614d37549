import Foundation
import PosternCore
import Testing
@testable import PosternApp

@Suite("Configuration layers: flags, then environment, then file, then defaults")
struct ConfigTests {
    func write(_ text: String, ext: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("postern-\(UUID().uuidString).\(ext)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults")
    func defaults() throws {
        let config = try PosternConfig.load(flags: [:], environment: [:], configFile: nil)
        #expect(config.listen == HostAndPort(host: "127.0.0.1", port: 8080))
        #expect(config.authListen == HostAndPort(host: "127.0.0.1", port: 8081))
        #expect(config.dataDirectory == "./postern-data")
        #expect(config.publicURL == "http://localhost:8080")
        #expect(config.signupOpen)
        #expect(config.scrypt == .init(logN: 17, r: 8, p: 1))
        #expect(config.effectiveDenialMessage.contains("http://localhost:8080/security"))
        #expect(config.saslAllow == [IPNetwork("127.0.0.0/8"), IPNetwork("::1/128")], "SASL over inet: loopback only")
    }

    @Test("precedence across TOML, environment and flags")
    func precedence() throws {
        let file = try write("""
            listen = "127.0.0.1:9000"
            auth_listen = "127.0.0.1:9001"
            public_url = "https://mail.example.org/"
            signup = "closed"
            [scrypt]
            log_n = 15
            """, ext: "toml")
        let environment = ["POSTERN_AUTH_LISTEN": "127.0.0.1:9101", "POSTERN_SCRYPT_LOG_N": "14", "POSTERN_LISTEN": "127.0.0.1:9100"]
        let config = try PosternConfig.load(flags: ["listen": "127.0.0.1:9200"], environment: environment, configFile: file)
        #expect(config.listen.port == 9200, "flag beats environment")
        #expect(config.authListen.port == 9101, "environment beats file")
        #expect(config.scrypt.logN == 14)
        #expect(config.publicURL == "https://mail.example.org", "file beats default")
        #expect(!config.signupOpen)
        #expect(config.effectiveDenialMessage.contains("https://mail.example.org/security"))
    }

    @Test("JSON files, and POSTERN_CONFIG")
    func json() throws {
        let file = try write(#"{"data": "/srv/postern", "scrypt": {"r": 4}, "app_password_limit": 5}"#, ext: "json")
        let config = try PosternConfig.load(flags: [:], environment: ["POSTERN_CONFIG": file], configFile: nil)
        #expect(config.dataDirectory == "/srv/postern")
        #expect(config.scrypt.r == 4)
        #expect(config.appPasswordLimit == 5)
    }

    @Test("clear errors for bad settings", arguments: [
        (["listen": "8080"], "listen"), (["listen": "[::1]"], "listen"), (["signup": "maybe"], "signup"),
        (["public_url": "ftp://x"], "public_url"), (["app_password_limit": "0"], "app_password_limit"), (["scrypt.log_n": "40"], "scrypt.log_n"),
        (["sasl_allow": "10.0.0.0/33"], "sasl_allow"), (["sasl_allow": "127.0.0.1/8"], "sasl_allow"), (["sasl_allow": "localhost"], "sasl_allow"),
        (["sasl_allow": "127.0.0.0/8, ::1/129"], "sasl_allow"), (["sasl_allow": ""], "sasl_allow"), (["sasl_allow": " , "], "sasl_allow"),
    ])
    func errors(flags: [String: String], key: String) {
        #expect {
            try PosternConfig.load(flags: flags, environment: [:], configFile: nil)
        } throws: { error in
            (error as? ConfigError)?.description.contains(key) == true
        }
    }

    @Test("sasl_allow: CIDRs from flags, the environment, or a TOML list")
    func saslAllow() throws {
        let flag = try PosternConfig.load(flags: ["sasl_allow": " 192.0.2.0/24 ,2001:db8::/32,198.51.100.7"], environment: [:], configFile: nil)
        #expect(flag.saslAllow == [IPNetwork("192.0.2.0/24"), IPNetwork("2001:db8::/32"), IPNetwork("198.51.100.7/32")])
        let environment = try PosternConfig.load(flags: [:], environment: ["POSTERN_SASL_ALLOW": "10.0.0.0/8"], configFile: nil)
        #expect(environment.saslAllow == [IPNetwork("10.0.0.0/8")])
        let file = try write(#"sasl_allow = ["127.0.0.0/8", "::1/128", "fd00::/8"]"#, ext: "toml")
        let fromFile = try PosternConfig.load(flags: [:], environment: [:], configFile: file)
        #expect(fromFile.saslAllow.map(\.description) == ["127.0.0.0/8", "::1/128", "fd00::/8"])
        #expect(fromFile.saslAllow.containsAddress("fd12::1") && !fromFile.saslAllow.containsAddress("192.0.2.1"))
        #expect {
            try PosternConfig.load(flags: [:], environment: ["POSTERN_SASL_ALLOW": "10.0.0.1/8"], configFile: nil)
        } throws: { error in
            (error as? ConfigError)?.description.contains("sasl_allow") == true && "\(error)".contains("10.0.0.1/8")
        }
    }

    @Test("unknown keys and unreadable files are refused")
    func fileErrors() throws {
        let typo = try write("lisen = \"127.0.0.1:1\"", ext: "toml")
        #expect(throws: ConfigError.unknownKey("lisen", source: typo)) { try PosternConfig.load(flags: [:], environment: [:], configFile: typo) }
        let broken = try write("listen = ", ext: "toml")
        #expect(throws: ConfigError.self) { try PosternConfig.load(flags: [:], environment: [:], configFile: broken) }
        #expect(throws: ConfigError.self) { try PosternConfig.load(flags: [:], environment: [:], configFile: "/nonexistent/postern.toml") }
    }

    @Test("host and port parsing")
    func hostAndPort() {
        #expect(HostAndPort("[::1]:8081") == HostAndPort(host: "::1", port: 8081))
        #expect(HostAndPort("localhost:0") == HostAndPort(host: "localhost", port: 0))
        #expect(HostAndPort("::1:8081") == nil)
        #expect(HostAndPort("host:99999") == nil)
    }
}
