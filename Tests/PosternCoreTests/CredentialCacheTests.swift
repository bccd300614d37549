import Foundation
import Synchronization
import Testing
@testable import PosternCore

@Suite("Credential cache (coherence rules, injected time)")
struct CredentialCacheTests {
    /// A clock the test moves by hand.
    final class Hands: Sendable {
        let instant = Mutex(ContinuousClock.now)
        func now() -> ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ by: Duration) { instant.withLock { $0 = $0.advanced(by: by) } }
    }

    func digest(_ n: Int) -> Data { withUnsafeBytes(of: UInt64(n).littleEndian) { Data($0) } + Data(repeating: 0xA5, count: 24) }

    func entry(_ n: Int, account: String) -> CredentialCache.Entry {
        let record = AppPasswordRecord(id: "app\(n)", accountID: account, name: "Phone \(n)", digest: digest(n), protocols: [.imap],
                                       createdAt: Date(timeIntervalSince1970: 0))
        return .init(record: record, account: .init(id: account, username: "\(account)@example.org", disabled: false, mfaEnabled: true))
    }

    func filled(_ count: Int, capacity: Int = 100, hands: Hands = Hands()) -> CredentialCache {
        let cache = CredentialCache(capacity: capacity, now: { hands.now() })
        for n in 0..<count { cache.insert(entry(n, account: "acct\(n % 3)"), digest: digest(n), ticket: cache.ticket(accountID: "acct\(n % 3)")) }
        cache.confirm(at: hands.now())
        return cache
    }

    @Test("answers only within a second of the feed's last confirmation")
    func freshness() {
        let hands = Hands()
        let cache = CredentialCache(capacity: 10, now: { hands.now() })
        cache.insert(entry(1, account: "a"), digest: digest(1), ticket: cache.ticket(accountID: "a"))
        #expect(cache.lookup(digest(1)) == nil, "never confirmed: the store answers")
        cache.confirm(at: hands.now())
        #expect(cache.lookup(digest(1))?.record.id == "app1")
        hands.advance(.milliseconds(999))
        #expect(cache.lookup(digest(1)) != nil)
        hands.advance(.milliseconds(1))
        #expect(cache.lookup(digest(1)) == nil, "a feed that stalled for a second stops the cache")
        #expect(!cache.isLive)
        cache.confirm(at: hands.now().advanced(by: .seconds(-5)))
        #expect(cache.lookup(digest(1)) == nil, "an older confirmation never extends it")
        cache.confirm(at: hands.now())
        #expect(cache.lookup(digest(1)) != nil)
    }

    @Test("an answer read before its account (or the whole cache) was invalidated is not kept; other accounts' changes do not matter")
    func staleInsertDropped() {
        let cache = filled(0)
        var ticket = cache.ticket(accountID: "a")
        cache.invalidate(accountIDs: ["someone else"])
        cache.insert(entry(1, account: "a"), digest: digest(1), ticket: ticket)
        #expect(cache.lookup(digest(1)) != nil, "another account's change")
        ticket = cache.ticket(accountID: "a")
        cache.invalidate(accountIDs: ["a"])
        cache.insert(entry(2, account: "a"), digest: digest(2), ticket: ticket)
        #expect(cache.lookup(digest(2)) == nil, "its own account's change")
        ticket = cache.ticket(accountID: "a")
        cache.invalidateAll()
        cache.insert(entry(3, account: "a"), digest: digest(3), ticket: ticket)
        #expect(cache.lookup(digest(3)) == nil, "everything forgotten")
        cache.insert(entry(3, account: "a"), digest: digest(3), ticket: cache.ticket(accountID: "a"))
        #expect(cache.lookup(digest(3)) != nil)
    }

    @Test("invalidating an account forgets all of its entries and no others")
    func invalidateAccount() {
        let cache = filled(30)
        cache.invalidate(accountIDs: ["acct1"])
        for n in 0..<30 {
            #expect((cache.lookup(digest(n)) == nil) == (n % 3 == 1), "entry \(n)")
        }
        cache.invalidateAll()
        #expect((0..<30).allSatisfy { cache.lookup(digest($0)) == nil })
        #expect(cache.count == 0)
    }

    @Test("bounded: past its capacity random entries give way, and what stays is right")
    func bounded() {
        let cache = filled(500, capacity: 64)
        #expect(cache.count == 64)
        var found = 0
        for n in 0..<500 {
            if let hit = cache.lookup(digest(n)) {
                #expect(hit.record.id == "app\(n)")
                found += 1
            }
        }
        #expect(found == 64)
        cache.invalidate(accountIDs: ["acct0", "acct1", "acct2"])
        #expect(cache.count == 0, "the account index followed every eviction")
    }

    @Test("a newer read of the same password replaces the entry")
    func replace() {
        let cache = filled(1)
        var revoked = entry(0, account: "acct0")
        revoked.record.revokedAt = Date(timeIntervalSince1970: 5)
        cache.insert(revoked, digest: digest(0), ticket: cache.ticket(accountID: "acct0"))
        #expect(cache.lookup(digest(0))?.record.revokedAt != nil)
        #expect(cache.count == 1)
    }

    @Test("off at capacity 0; digests of the wrong length are never cached")
    func offAndMalformed() {
        let off = filled(5, capacity: 0)
        #expect(off.lookup(digest(1)) == nil)
        let cache = filled(0)
        cache.insert(entry(1, account: "a"), digest: Data([1, 2, 3]), ticket: cache.ticket(accountID: "a"))
        #expect(cache.count == 0)
        #expect(cache.lookup(Data([1, 2, 3])) == nil)
    }
}
