import Foundation
import Testing
@testable import PosternProtocols

/// Answers recorded from Dovecot 2.3.19's doveadm HTTP API.
@Suite("doveadm kick over HTTP")
struct DoveadmKickTests {
    func commands(_ data: Data) throws -> [[Any]] { try #require(try JSONSerialization.jsonObject(with: data) as? [[Any]]) }

    @Test("one request: who and kick per address, or once for all sessions")
    func request() throws {
        let one = try commands(try DoveadmKick.requestBody(user: "bob@example.org", addresses: ["127.0.0.2", "::1"]))
        #expect(one.map { $0[0] as? String } == ["who", "kick", "who", "kick"])
        #expect((one[1][1] as? [String: Any])?["mask"] as? [String] == ["bob@example.org", "127.0.0.2/32"])
        #expect((one[3][1] as? [String: Any])?["mask"] as? [String] == ["bob@example.org", "::1/128"])
        #expect((one[0][1] as? [String: Any])?["separateConnections"] as? Bool == true)
        let all = try commands(try DoveadmKick.requestBody(user: "bob@example.org", addresses: []))
        #expect((all[1][1] as? [String: Any])?["mask"] as? [String] == ["bob@example.org"])
        #expect(DoveadmKick.authorization(apiKey: "testkey") == "X-Dovecot-API dGVzdGtleQ==")
    }

    @Test("a username doveadm would read as a pattern, or an address that is not one, is refused")
    func refusals() {
        #expect(throws: DoveadmKick.RequestError.wildcardInUsername) { try DoveadmKick.requestBody(user: "*@example.org", addresses: []) }
        #expect(throws: DoveadmKick.RequestError.wildcardInUsername) { try DoveadmKick.requestBody(user: "b?b@example.org", addresses: []) }
        #expect(throws: DoveadmKick.RequestError.badAddress("1.2.3.4/0")) { try DoveadmKick.requestBody(user: "bob@x", addresses: ["1.2.3.4/0"]) }
    }

    @Test("answers: sessions counted from who; nothing to kick is no error; errors and refusals fail")
    func answers() {
        let recorded = #"[["doveadmResponse",[{"username":"bob","service":"imap","pid":"20310","ip":"127.0.0.2"},{"username":"bob","service":"imap","pid":"20313","ip":"127.0.0.2"},{"username":"bobby","service":"pop3","pid":"1","ip":"127.0.0.2"}],"who-0"],["doveadmResponse",[{"result":"bob"}],"kick-0"],["doveadmResponse",[],"who-1"],["error",{"type":"exitCode", "exitCode":68},"kick-1"]]"#
        #expect(DoveadmKick.parse(status: 200, body: Data(recorded.utf8), user: "bob") == .ended(["imap": 2]))
        let failed = #"[["doveadmResponse",[],"who-0"],["error",{"type":"exitCode", "exitCode":75},"kick-0"]]"#
        #expect(DoveadmKick.parse(status: 200, body: Data(failed.utf8), user: "bob") == .failed("doveadm kick failed (exit code 75)"))
        #expect(DoveadmKick.parse(status: 401, body: Data(), user: "bob") == .failed("the doveadm API refused the key (HTTP 401)"))
        #expect(DoveadmKick.parse(status: 200, body: Data("<html>".utf8), user: "bob") == .failed("doveadm's answer is not the expected JSON"))
    }
}
