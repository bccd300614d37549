import Foundation
import Testing
@testable import PosternCore

@Suite("Hashing, sealing, caching and recording")
struct PrimitivesTests {
    @Test("scrypt hashes are self-describing and verify")
    func scrypt() throws {
        let hasher = ScryptHasher(parameters: .init(logN: 10))
        let hash = try hasher.hashNow("correct horse")
        #expect(hash.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(try hasher.verifyNow("correct horse", against: hash))
        #expect(try !hasher.verifyNow("correct horsE", against: hash))
        #expect(try hasher.hashNow("correct horse") != hash, "a fresh salt each time")
        #expect(!hasher.needsRehash(hash))
        #expect(ScryptHasher(parameters: .init(logN: 11)).needsRehash(hash))
        #expect(try ScryptHasher(parameters: .init(logN: 11)).verifyNow("correct horse", against: hash), "old parameters still verify")
        for garbage in ["", "$scrypt$", "$2b$10$abc", "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            #expect(try !hasher.verifyNow("x", against: garbage))
            #expect(hasher.needsRehash(garbage))
        }
        #expect(try hasher.verifyNow("anything", against: hasher.dummyHash) == false)
    }

    @Test("sealed secrets open only for their account and key")
    func sealing() throws {
        let keys = KeyRing(serverKey: Array(repeating: 7, count: 32))
        let sealed = try keys.seal([1, 2, 3], accountID: "a")
        #expect(try keys.open(sealed, accountID: "a") == [1, 2, 3])
        #expect(throws: (any Error).self) { try keys.open(sealed, accountID: "b") }
        #expect(throws: (any Error).self) { try KeyRing(serverKey: Array(repeating: 8, count: 32)).open(sealed, accountID: "a") }
        #expect(keys.fingerprint != KeyRing(serverKey: Array(repeating: 8, count: 32)).fingerprint)
    }

    @Test("the verified-password cache expires, and a new stored hash misses")
    func cache() {
        let cache = VerifiedPasswordCache(key: .init(size: .bits256), ttl: 60, capacity: 3)
        let t0 = Date(timeIntervalSince1970: 1000)
        cache.insert(accountID: "a", storedHash: "h1", password: "pw", now: t0)
        #expect(cache.contains(accountID: "a", storedHash: "h1", password: "pw", now: t0.addingTimeInterval(59)))
        #expect(!cache.contains(accountID: "a", storedHash: "h1", password: "pw", now: t0.addingTimeInterval(60)))
        cache.insert(accountID: "a", storedHash: "h1", password: "pw", now: t0)
        #expect(!cache.contains(accountID: "a", storedHash: "h2", password: "pw", now: t0))
        #expect(!cache.contains(accountID: "a", storedHash: "h1", password: "pw2", now: t0))
        #expect(!cache.contains(accountID: "b", storedHash: "h1", password: "pw", now: t0))
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        cache.insert(accountID: "ab", storedHash: "c", password: "p", now: t0)
        #expect(!cache.contains(accountID: "a", storedHash: "bc", password: "p", now: t0))
        for index in 0..<10 { cache.insert(accountID: "x\(index)", storedHash: "h", password: "p", now: t0) }
        #expect(cache.count <= 3, "bounded by capacity")
        let off = VerifiedPasswordCache(key: .init(size: .bits256), ttl: 0)
        off.insert(accountID: "a", storedHash: "h", password: "p", now: t0)
        #expect(!off.contains(accountID: "a", storedHash: "h", password: "p", now: t0))
    }

    @Test("the login recorder keeps the newest last use and gives back a failed batch")
    func recorder() {
        let recorder = LoginRecorder(maximumEvents: 3)
        let t0 = Date(timeIntervalSince1970: 1000)
        func use(_ at: Double, _ ip: String) -> LastUse { LastUse(appPasswordID: "app", at: t0.addingTimeInterval(at), clientIP: ip, loginProtocol: .imap) }
        func event(_ n: Int) -> AuditEvent { AuditEvent(id: "e\(n)", accountID: "a", kind: .protocolLogin, result: .allow, at: t0) }
        recorder.record(event(1), lastUse: use(5, "new"))
        recorder.record(event(2), lastUse: use(1, "old"))
        var batch = recorder.drain()
        #expect(batch.lastUses == [use(5, "new")])
        #expect(batch.events.map(\.id) == ["e1", "e2"])
        #expect(recorder.drain().isEmpty)
        recorder.record(event(3), lastUse: use(7, "newer"))
        recorder.restore(batch)
        batch = recorder.drain()
        #expect(batch.lastUses == [use(7, "newer")])
        #expect(batch.events.map(\.id) == ["e1", "e2", "e3"])
        for n in 10..<15 { recorder.record(event(n), lastUse: nil) }
        #expect(recorder.drain().events.map(\.id) == ["e12", "e13", "e14"])
        #expect(recorder.droppedEvents == 2)
    }

    @Test("constant-time comparison and random identifiers")
    func secrets() {
        #expect(Secrets.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Secrets.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Secrets.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(Secrets.digestEquals(Array("secret".utf8), Array("secret".utf8)))
        #expect(!Secrets.digestEquals(Array("secret".utf8), Array("secreT".utf8)))
        let ids = Set((0..<1000).map { _ in Secrets.newIdentifier() })
        #expect(ids.count == 1000 && ids.allSatisfy { $0.count == 26 })
        #expect(Base64URL.decode(Secrets.newToken())?.count == 32)
        #expect(Base64URL.decode("a+b") == nil)
    }
}
