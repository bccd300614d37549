import Foundation
import Testing
@testable import PosternCore

@Suite("Login throttle (soft lockout with injected time)")
struct LoginThrottleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("delays start after the free failures, double, and stop growing at the maximum")
    func growingDelays() {
        let throttle = LoginThrottle()
        let delays = (0..<12).map { i in
            throttle.recordFailure(accountID: nil, clientIP: "203.0.113.9", countsForAccount: false, now: t0.addingTimeInterval(Double(i)))
        }
        #expect(delays == [0, 0, 0, 0, 0, 0.25, 0.5, 1, 2, 4, 8, 8])
        let later = throttle.recordFailure(accountID: nil, clientIP: "203.0.113.9", countsForAccount: false, now: t0.addingTimeInterval(16 * 60))
        #expect(later == 0, "the source window is 15 minutes")
    }

    @Test("neighbours in a /24 share a wider allowance; IPv6 counts per /64 and /48")
    func buckets() {
        let throttle = LoginThrottle()
        var last = 0.0
        for host in 1...40 { last = throttle.recordFailure(accountID: nil, clientIP: "198.51.100.\(host)", countsForAccount: false, now: t0) }
        #expect(last == 0, "40 failures across a /24: the allowance is 8 × 5")
        #expect(throttle.recordFailure(accountID: nil, clientIP: "198.51.100.200", countsForAccount: false, now: t0) == 0.25)
        #expect(ClientAddress.buckets("2001:db8:1:2::5") == ["net64:2001:db8:1:2", "net48:2001:db8:1"])
        #expect(ClientAddress.buckets("192.0.2.7") == ["ip4:192.0.2.7", "net24:192.0.2"])
        for i in 1...5 { _ = throttle.recordFailure(accountID: nil, clientIP: "2001:db8:1:2::\(i)", countsForAccount: false, now: t0) }
        #expect(throttle.recordFailure(accountID: nil, clientIP: "2001:db8:1:2::ff", countsForAccount: false, now: t0) > 0, "one /64")
    }

    @Test("a sprayed account is capped at 100 failures an hour, except for sources that have succeeded")
    func accountCap() {
        let throttle = LoginThrottle()
        throttle.recordSuccess(accountID: "alice", clientIP: "192.0.2.50", now: t0)
        for i in 0..<100 {
            _ = throttle.recordFailure(accountID: "alice", clientIP: "10.\(i / 250).\(i % 250).1", countsForAccount: true, now: t0.addingTimeInterval(Double(i)))
        }
        #expect(throttle.accountPasswordBlocked(accountID: "alice", clientIP: "203.0.113.1", now: t0.addingTimeInterval(200)))
        #expect(!throttle.accountPasswordBlocked(accountID: "alice", clientIP: "192.0.2.50", now: t0.addingTimeInterval(200)), "her phone still works")
        #expect(!throttle.accountPasswordBlocked(accountID: "bob", clientIP: "203.0.113.1", now: t0.addingTimeInterval(200)))
        #expect(!throttle.accountPasswordBlocked(accountID: "alice", clientIP: "203.0.113.1", now: t0.addingTimeInterval(3700)), "the window ends")
        #expect(throttle.recordFailure(accountID: "alice", clientIP: "192.0.2.50", countsForAccount: true, now: t0.addingTimeInterval(300)) == 0,
                "others' guessing does not slow a known-good source")
        #expect(throttle.accountPasswordBlocked(accountID: "alice", clientIP: "203.0.113.1", now: t0.addingTimeInterval(31 * 86_400 + 200)) == false)
    }

    @Test("a flood of new addresses cannot wipe an account's count")
    func floodKeepsAccountCap() {
        let throttle = LoginThrottle(maximumKeys: 50)
        for i in 0..<100 {
            _ = throttle.recordFailure(accountID: "alice", clientIP: "10.0.\(i).1", countsForAccount: true, now: t0.addingTimeInterval(Double(i)))
        }
        for i in 0..<500 {  // far more buckets than the throttle keeps
            _ = throttle.recordFailure(accountID: nil, clientIP: "172.16.\(i / 250).\(i % 250)", countsForAccount: false, now: t0.addingTimeInterval(200))
        }
        #expect(throttle.accountPasswordBlocked(accountID: "alice", clientIP: "203.0.113.1", now: t0.addingTimeInterval(300)))
    }

    @Test("a stale client is noted once a day")
    func stale() {
        let throttle = LoginThrottle()
        #expect(throttle.firstStaleAttempt(appPasswordID: "app", clientIP: "192.0.2.1", now: t0))
        #expect(!throttle.firstStaleAttempt(appPasswordID: "app", clientIP: "192.0.2.1", now: t0.addingTimeInterval(3600)))
        #expect(throttle.firstStaleAttempt(appPasswordID: "app", clientIP: "192.0.2.2", now: t0))
        #expect(throttle.firstStaleAttempt(appPasswordID: "app", clientIP: "192.0.2.1", now: t0.addingTimeInterval(86_401)))
    }

    @Test("a wave of failures everywhere slows every failure a little")
    func global() {
        var policy = ThrottlePolicy()
        policy.globalFailuresPerMinute = 50
        let throttle = LoginThrottle(policy: policy)
        var last = 0.0
        for i in 0..<51 { last = throttle.recordFailure(accountID: nil, clientIP: "10.\(i).0.1", countsForAccount: false, now: t0) }
        #expect(last == policy.baseDelay)
    }
}
