import Foundation
import Testing
@testable import PosternCore

@Suite("Login throttle (pacing with injected time)")
struct LoginThrottleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func fail(_ throttle: LoginThrottle, name: String? = nil, account: String? = nil, _ ip: String?, at seconds: Double) -> TimeInterval {
        throttle.recordFailure(name: name, accountID: account, clientIP: ip, countsForName: name != nil, now: t0.addingTimeInterval(seconds))
    }

    @Test("delays start after the free failures, double, and stop growing at the maximum")
    func growingDelays() {
        let throttle = LoginThrottle()
        let delays = (0..<12).map { i in fail(throttle, "203.0.113.9", at: Double(i)) }
        #expect(delays == [0, 0, 0, 0, 0, 0.25, 0.5, 1, 2, 4, 8, 8])
        #expect(fail(throttle, "203.0.113.9", at: 16 * 60) == 0, "the source window is 15 minutes")
    }

    func reserve(_ throttle: LoginThrottle, name: String? = nil, account: String? = nil, _ ip: String, at seconds: Double) -> LoginThrottle.Reservation? {
        try? throttle.reserve(name: name, accountID: account, clientIP: ip, now: t0.addingTimeInterval(seconds)).get()
    }

    @Test("attempts are counted when admitted: parallel ones cannot all pass a free allowance; past it, one per delay")
    func pacing() throws {
        let throttle = LoginThrottle()
        // Seven at once from one address: five free, the sixth takes the first paced slot, the seventh waits.
        let burst = (0..<7).map { _ in reserve(throttle, "203.0.113.9", at: 0) }
        #expect(burst.prefix(6).allSatisfy { $0 != nil })
        #expect(burst[6] == nil)
        if case .failure(let refusal) = throttle.reserve(name: nil, accountID: nil, clientIP: "203.0.113.9", now: t0.addingTimeInterval(0.1)) {
            #expect(abs(refusal.wait - 0.15) < 0.001, "told how long is left")
        } else {
            Issue.record("admitted inside the delay")
        }
        #expect(throttle.fail(try #require(burst[5]), accountID: nil, clientIP: "203.0.113.9", now: t0) == 0.25)
        #expect(reserve(throttle, "203.0.113.9", at: 0.3) != nil, "the next slot")
        #expect(reserve(throttle, "203.0.113.9", at: 0.3) == nil, "a parallel attempt finds it taken")
        #expect(reserve(throttle, "203.0.113.10", at: 0.3) != nil, "another address is free")
    }

    @Test("a right password gives its count back; a known-good source is left out of the name's count, never out of its own")
    func releaseAndKnownGood() throws {
        let throttle = LoginThrottle()
        for i in 0..<5 { throttle.release(try #require(reserve(throttle, name: "n", "192.0.2.1", at: Double(i)))) }
        #expect(throttle.nameFailures("n", now: t0.addingTimeInterval(10)) == 0)
        #expect((0..<5).allSatisfy { _ in reserve(throttle, "192.0.2.1", at: 10) != nil }, "the allowance is whole again")
        throttle.recordSuccess(accountID: "alice", clientIP: "198.51.100.7", now: t0)
        let known = try #require(reserve(throttle, name: "n-alice", account: "alice", "198.51.100.7", at: 20))
        #expect(known.knownGood)
        _ = throttle.fail(known, accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(20))
        #expect(throttle.nameFailures("n-alice", now: t0.addingTimeInterval(21)) == 0)
        var admitted = 1
        for _ in 0..<10 where reserve(throttle, name: "n-alice", account: "alice", "198.51.100.7", at: 21) != nil { admitted += 1 }
        #expect(admitted < 11, "a known-good source is paced by its own failures")
    }

    @Test("a known-good source that keeps failing on its own account loses its standing")
    func knownGoodLost() throws {
        let throttle = LoginThrottle()
        throttle.recordSuccess(accountID: "alice", clientIP: "198.51.100.7", now: t0)
        for i in 0..<10 {
            let attempt = try #require(reserve(throttle, name: "n-alice", account: "alice", "198.51.100.7", at: Double(i) * 10))
            #expect(attempt.knownGood)
            _ = throttle.fail(attempt, accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(Double(i) * 10))
        }
        #expect(!throttle.isKnownGood(accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(200)))
        #expect(!throttle.mayTrust(accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(200)), "nor may another instance vouch for it")
        #expect(throttle.mayTrust(accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(3800)), "for an hour")
        throttle.recordSuccess(accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(200))
        #expect(!throttle.isKnownGood(accountID: "alice", clientIP: "198.51.100.7", now: t0.addingTimeInterval(201)),
                "a success within the hour does not wipe the misses: a neighbour behind the same address cannot refresh the standing")
    }

    @Test("a refusal counts toward the name's cap only when the name's pacing caused it, once per source per delay")
    func refusalsForTheCap() {
        let throttle = LoginThrottle()
        for i in 0..<21 {
            if let attempt = reserve(throttle, name: "n", "10.7.\(i).1", at: 0) { _ = throttle.fail(attempt, accountID: nil, clientIP: "10.7.\(i).1", now: t0) }
        }
        func refusal(_ ip: String, at seconds: Double) -> LoginThrottle.Refusal? {
            if case .failure(let refusal) = throttle.reserve(name: "n", accountID: nil, clientIP: ip, now: t0.addingTimeInterval(seconds)) { return refusal }
            return nil
        }
        #expect(refusal("192.0.2.1", at: 0.01)?.countsForName == true, "the name is paced: a new source's refusal counts")
        #expect(refusal("192.0.2.1", at: 0.02)?.countsForName == false, "the same source again within the delay does not")
        #expect(refusal("192.0.2.2", at: 0.02)?.countsForName == true)
        for i in 0..<6 { _ = throttle.recordFailure(name: nil, accountID: nil, clientIP: "203.0.113.99", countsForName: false, now: t0.addingTimeInterval(0.03 + Double(i) * 0.001)) }
        #expect(refusal("203.0.113.99", at: 0.04)?.countsForName == false, "a paced source's hammering does not count for the name")
    }

    @Test("neighbours in a /24 share a wider allowance; IPv6 counts per /64 and /48; IPv4-mapped is IPv4")
    func buckets() {
        let throttle = LoginThrottle()
        var last = 0.0
        for host in 1...40 { last = fail(throttle, "198.51.100.\(host)", at: 0) }
        #expect(last == 0, "40 failures across a /24: the allowance is 8 × 5")
        #expect(fail(throttle, "198.51.100.200", at: 0) == 0.25)
        #expect(ClientAddress.buckets("2001:db8:1:2::5") == ["net64:2001:db8:1:2", "net48:2001:db8:1"])
        #expect(ClientAddress.buckets("192.0.2.7") == ["ip4:192.0.2.7", "net24:192.0.2"])
        for i in 1...5 { _ = fail(throttle, "2001:db8:1:2::\(i)", at: 0) }
        #expect(fail(throttle, "2001:db8:1:2::ff", at: 0) > 0, "one /64")
        #expect(ClientAddress.canonical("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(ClientAddress.canonical("::FFFF:c000:0207") == "192.0.2.7")
        #expect(ClientAddress.canonical("0:0:0:0:0:ffff:192.0.2.7") == "192.0.2.7")
        #expect(ClientAddress.canonical("::ffff:0:c000:207") == "::ffff:0:c000:207", "IPv4-translated is not mapped")
        #expect(ClientAddress.canonical("64:ff9b::192.0.2.7") == "64:ff9b::192.0.2.7")
        let mapped = ["::ffff:198.18.0.1", "::ffff:198.18.1.1", "::ffff:203.0.113.1"].compactMap(ClientAddress.canonical).map { ClientAddress.buckets($0)[0] }
        #expect(Set(mapped).count == 3, "mapped IPv4 sources are separate sources, not one /64")
    }

    @Test("a name is paced after 20 failures an hour, the same whether or not its account exists; known-good sources are left out")
    func names() {
        let throttle = LoginThrottle()
        var existing: [TimeInterval] = [], missing: [TimeInterval] = []
        for i in 0..<25 {
            existing.append(fail(throttle, name: "n-alice", account: "alice", "10.1.\(i).1", at: Double(i)))
            missing.append(fail(throttle, name: "n-nobody", "10.2.\(i).1", at: Double(i)))
        }
        #expect(existing == missing)
        #expect(existing.suffix(5) == [0.25, 0.5, 1, 2, 4])
        #expect(throttle.nameFailures("n-alice", now: t0.addingTimeInterval(30)) == 25)
        throttle.recordSuccess(accountID: "alice", clientIP: "192.0.2.50", now: t0)
        #expect(reserve(throttle, name: "n-alice", account: "alice", "192.0.2.50", at: 25) != nil, "her phone")
        #expect(reserve(throttle, name: "n-alice", account: "alice", "198.51.100.1", at: 25) == nil)
        #expect(fail(throttle, name: "n-alice", account: "alice", "192.0.2.50", at: 26) == 0, "others' guessing does not slow a known-good source")
        #expect(throttle.nameFailures("n-alice", now: t0.addingTimeInterval(30)) == 25, "nor does a known-good source add to the name's count")
        #expect(throttle.nameFailures("n-alice", now: t0.addingTimeInterval(3700)) == 0, "the window is an hour")
    }

    @Test("a flood of new addresses cannot wipe a name's count")
    func floodKeepsNameCount() {
        let throttle = LoginThrottle(maximumKeys: 50)
        for i in 0..<100 { _ = fail(throttle, name: "n-alice", "10.0.\(i).1", at: Double(i)) }
        for i in 0..<500 { _ = fail(throttle, "172.16.\(i / 250).\(i % 250)", at: 200) }  // far more buckets than it keeps
        #expect(throttle.nameFailures("n-alice", now: t0.addingTimeInterval(300)) == 100)
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
        for i in 0..<51 { last = fail(throttle, "10.\(i).0.1", at: 0) }
        #expect(last == policy.baseDelay)
    }
}
