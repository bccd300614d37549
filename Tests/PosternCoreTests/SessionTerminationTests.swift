import Foundation
import Testing
@testable import PosternCore

@Suite("Which sessions a change ends, and where")
struct SessionTerminationRuleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let alice = Account(id: "acct", username: "alice@example.org", passwordHash: "x", createdAt: Date(timeIntervalSince1970: 0))
    let dovecot = TerminationTarget(server: "dovecot", protocols: [.imap, .pop3], endsByAddress: true, proxyAddresses: ["127.0.0.1"])
    let ejabberd = TerminationTarget(server: "ejabberd", protocols: [.xmpp], endsByAddress: false)

    func app(_ protocols: Set<LoginProtocol> = Set(LoginProtocol.allCases), lastIP: String? = nil) -> AppPasswordRecord {
        AppPasswordRecord(id: "app1", accountID: "acct", name: "Phone", digest: Data([1]), protocols: protocols, createdAt: now,
                          lastUse: lastIP.map { LastUse(appPasswordID: "app1", at: now, clientIP: $0, loginProtocol: .imap) })
    }

    func orders(_ cause: TerminationCause, _ revoked: AppPasswordRecord? = nil) -> [TerminationTask] {
        SessionTermination.orders(cause: cause, account: alice, revoked: revoked, targets: [dovecot, ejabberd], key: "k", at: now)
    }

    @Test("one app password: its last address and the proxy's where the server can end by address, all sessions elsewhere")
    func oneAppPassword() {
        let result = orders(.appPasswordRevoked, app(lastIP: "203.0.113.7"))
        #expect(result.map(\.server) == ["dovecot", "ejabberd"])
        #expect(result[0].addresses == ["203.0.113.7", "127.0.0.1"])
        #expect(result[1].addresses == [])
        #expect(result.allSatisfy { $0.username == "alice@example.org" && $0.accountID == "acct" && $0.createdAt == now })
        #expect(result.map(\.onceKey) == ["app_password_revoked:k@dovecot", "app_password_revoked:k@ejabberd"])
    }

    @Test("unknown last address: all of the user's sessions; the app password's scope picks the servers")
    func scope() {
        #expect(orders(.appPasswordRevoked, app([.imap])).map(\.server) == ["dovecot"])
        #expect(orders(.appPasswordRevoked, app([.imap])).first?.addresses == [])
        #expect(orders(.appPasswordRevoked, app([.xmpp], lastIP: "203.0.113.7")).map(\.server) == ["ejabberd"])
        #expect(orders(.appPasswordRevoked, app([.smtp])).isEmpty, "Postfix keeps no session to end")
        #expect(orders(.appPasswordRevoked, app(lastIP: "127.0.0.1")).first?.addresses == ["127.0.0.1"], "no address twice")
    }

    @Test("every other change ends all of the user's sessions on every server", arguments: [
        TerminationCause.allAppPasswordsRevoked, .accountDisabled, .passwordReset, .mfaReset])
    func everything(cause: TerminationCause) {
        let result = orders(cause, app(lastIP: "203.0.113.7"))
        #expect(result.map(\.server) == ["dovecot", "ejabberd"])
        #expect(result.allSatisfy { $0.addresses.isEmpty && $0.cause == cause })
        #expect(SessionTermination.orders(cause: cause, account: alice, revoked: nil, targets: [], key: "k", at: now).isEmpty)
    }

    @Test("retries back off, doubling, at most an hour, and stop after the last attempt")
    func backoff() {
        let next = { (n: Int) in SessionTermination.nextAttempt(after: n, base: 5, maximumAttempts: 8, now: now)?.timeIntervalSince(now) }
        #expect(next(1) == 5 && next(2) == 10 && next(3) == 20)
        #expect(SessionTermination.nextAttempt(after: 7, base: 1000, maximumAttempts: 8, now: now)?.timeIntervalSince(now) == 3600)
        #expect(next(8) == nil)
    }

    @Test("what the activity says")
    func summaries() {
        #expect(SessionTermination.summary(server: "dovecot", addresses: ["203.0.113.7"], ended: ["imap": 2], error: nil, final: true)
                == "dovecot: ended 2 IMAP sessions from 203.0.113.7")
        #expect(SessionTermination.summary(server: "dovecot", addresses: [], ended: ["imap": 1, "pop3": 1], error: nil, final: true)
                == "dovecot: ended 1 IMAP session and 1 POP3 session")
        #expect(SessionTermination.summary(server: "dovecot", addresses: [], ended: [:], error: nil, final: true) == "dovecot: no open sessions")
        #expect(SessionTermination.summary(server: "ejabberd", addresses: [], ended: nil, error: nil, final: true) == "ejabberd: asked to end the sessions")
        #expect(SessionTermination.summary(server: "prosody", addresses: [], ended: nil, error: "HTTP 401", final: false)
                == "prosody: could not close open connections yet (HTTP 401); will try again")
    }
}
