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

    @Test("a last use is written again only when it moves by a minute or comes from another address or protocol")
    func lastUsePrecision() {
        let recorder = LoginRecorder()
        let t0 = Date(timeIntervalSince1970: 1000)
        func use(_ at: Double, _ ip: String, _ proto: LoginProtocol = .imap) -> LastUse {
            LastUse(appPasswordID: "app", at: t0.addingTimeInterval(at), clientIP: ip, loginProtocol: proto)
        }
        func login(_ use: LastUse) { recorder.record(AuditEvent(accountID: "a", kind: .protocolLogin, result: .allow, at: use.at), lastUse: use) }
        login(use(0, "192.0.2.1"))
        #expect(recorder.drain().lastUses == [use(0, "192.0.2.1")])
        login(use(30, "192.0.2.1"))
        var batch = recorder.drain()
        #expect(batch.lastUses.isEmpty, "half a minute later from the same place: not written")
        #expect(batch.events.count == 1, "but the login is still in the audit log")
        login(use(31, "192.0.2.1", .smtp))
        #expect(recorder.drain().lastUses == [use(31, "192.0.2.1", .smtp)])
        login(use(32, "198.51.100.7", .smtp))
        #expect(recorder.drain().lastUses == [use(32, "198.51.100.7", .smtp)])
        login(use(92, "198.51.100.7", .smtp))
        batch = recorder.drain()
        #expect(batch.lastUses == [use(92, "198.51.100.7", .smtp)], "a minute later: written")
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

@Suite("Fast paths agree with the full rules")
struct FastPathTests {
    /// The full rules for user names, without the ASCII fast path.
    func fullCanonical(_ raw: String) -> String? {
        let value = raw.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping.lowercased()
        guard !value.isEmpty, value.utf8.count <= Username.maximumLength else { return nil }
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        for scalar in value.unicodeScalars where scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
            || scalar.properties.generalCategory == .format || scalar == ":" { return nil }
        let domain = parts[1]
        guard !domain.hasPrefix("."), !domain.hasSuffix("."), !domain.contains("..") else { return nil }
        return value
    }

    @Test("user names: the ASCII path gives the full rules' answer whenever it answers")
    func usernames() {
        var samples = ["alice@example.org", "Alice@Example.ORG", "a@b", "@b", "a@", "a@@b", "a@b@c", "a@.b", "a@b.", "a@b..c", "a@b.c",
                       "a:b@c", "a b@c", "\ta@b", "a@b\u{7F}", "x@y-z.example", String(repeating: "a", count: 250) + "@b.cd",
                       String(repeating: "a", count: 251) + "@b.cd", "Ⅻ@example.org", "e\u{301}@example.org", "ǅ@x.org"]
        let alphabet = Array("aZ@.:-_ 09\t".unicodeScalars)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            samples.append(String(String.UnicodeScalarView((0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })))
        }
        for sample in samples {
            if let fast = Username.canonicalASCII(sample) { #expect(fast == fullCanonical(sample), "\(sample)") }
            #expect(Username.canonical(sample) == fullCanonical(sample), "\(sample)")
        }
    }

    @Test("IPv4: the byte parser accepts exactly dotted quads without leading zeros")
    func ipv4() {
        func reference(_ text: String) -> Bool {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return false }
            return parts.allSatisfy { part in
                guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(part) else { return false }
                return value <= 255 && !(part.count > 1 && part.first == "0")
            }
        }
        var samples = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3",
                       "1.2.3.4.", "", "a.b.c.d", "1.2.3.-4", "1000.1.1.1", "10.0.0.10", "1.2.3.4 ", "١.٢.٣.٤"]
        let alphabet = Array("0125.9a".unicodeScalars)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            samples.append(String(String.UnicodeScalarView((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })))
        }
        for sample in samples { #expect(ClientAddress.isIPv4(sample) == reference(sample), "\(sample)") }
    }
}
