import Foundation
import Testing

@Suite("Ending open sessions, from the command line", .serialized)
struct TerminateCLITests {
    @Test("a termination that cannot reach its server ends as failed in `postern activity`; a missing key file refuses to start")
    func failedAttemptShows() async throws {
        let data = temporaryDirectory()
        let keyFile = data + "-doveadm-key"
        try "0123456789abcdef".write(toFile: keyFile, atomically: true, encoding: .utf8)
        // Port 9 (discard) has no listener on loopback: the call is refused.
        let env = ["POSTERN_SCRYPT_LOG_N": "10", "POSTERN_TERMINATE_DOVECOT_URL": "http://127.0.0.1:9/doveadm/v1",
                   "POSTERN_TERMINATE_DOVECOT_API_KEY_FILE": keyFile, "POSTERN_TERMINATE_MAX_ATTEMPTS": "1",
                   "POSTERN_TERMINATE_INTERVAL": "0.1"]
        #expect(try PosternProcess.run(["user", "add", "bob@example.org", "--data", data], input: "violet staple orbit\n", environment: env).status == 0)
        // The admin's change queues the order; the server carries it out.
        #expect(try PosternProcess.run(["user", "disable", "bob@example.org", "--data", data], environment: env).status == 0)

        let missing = try PosternProcess.run(["serve", "--data", data, "--listen", "127.0.0.1:0", "--auth-listen", "127.0.0.1:0"],
                                             environment: env.merging(["POSTERN_TERMINATE_DOVECOT_API_KEY_FILE": data + "-nothing"]) { $1 })
        #expect(missing.status != 0)
        #expect((missing.err + missing.out).contains("terminate.dovecot.api_key_file"))

        let server = try Server(data: data, extra: [], environment: env)
        try await server.wait { server.text.contains("result=failed") }
        #expect(try await server.stop() == 0)
        let activity = try PosternProcess.run(["activity", "bob@example.org", "--data", data], environment: env)
        #expect(activity.status == 0, "\(activity.err)")
        #expect(activity.out.contains("dovecot: could not close open connections (cannot reach 127.0.0.1:9 (connection refused)); they end when the app next reconnects"),
                "\(activity.out)")
        #expect(!server.text.contains("0123456789abcdef"), "the key is never logged")
    }
}
