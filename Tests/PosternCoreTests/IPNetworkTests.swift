import Testing
@testable import PosternCore

@Suite("IP networks (CIDR) for peer allow lists")
struct IPNetworkTests {
    func network(_ text: String) throws -> IPNetwork {
        try #require(IPNetwork(text), "\(text) should parse")
    }

    @Test("IPv4 networks hold exactly the addresses under their prefix")
    func ipv4() throws {
        let loopback = try network("127.0.0.0/8")
        #expect(loopback.address == [127, 0, 0, 0] && loopback.prefixLength == 8)
        #expect(loopback.contains("127.0.0.1"))
        #expect(loopback.contains("127.255.255.254"))
        #expect(!loopback.contains("128.0.0.1"))
        #expect(!loopback.contains("126.255.255.255"))
        let odd = try network("192.0.2.64/27")
        #expect(odd.contains("192.0.2.64") && odd.contains("192.0.2.95"))
        #expect(!odd.contains("192.0.2.63") && !odd.contains("192.0.2.96"))
        #expect(!loopback.contains("::1"), "an IPv6 address is in no IPv4 network")
    }

    @Test("/32 and /128 hold one address; a bare address means the same")
    func hostRoutes() throws {
        let host = try network("192.0.2.7/32")
        #expect(host.contains("192.0.2.7"))
        #expect(!host.contains("192.0.2.6") && !host.contains("192.0.2.8"))
        #expect(IPNetwork("192.0.2.7") == host)
        let v6 = try network("::1/128")
        #expect(v6.contains("::1") && v6.contains("0:0:0:0:0:0:0:1"))
        #expect(!v6.contains("::2") && !v6.contains("::"))
        #expect(IPNetwork("::1") == v6)
    }

    @Test("/0 holds every address of its family and none of the other")
    func everything() throws {
        let all4 = try network("0.0.0.0/0")
        #expect(all4.contains("0.0.0.0") && all4.contains("255.255.255.255") && all4.contains("203.0.113.9"))
        #expect(!all4.contains("2001:db8::1"))
        let all6 = try network("::/0")
        #expect(all6.contains("2001:db8::1") && all6.contains("::") && all6.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        #expect(!all6.contains("203.0.113.9"))
    }

    @Test("IPv6 networks compare the prefix bit by bit, in any spelling")
    func ipv6() throws {
        let doc = try network("2001:DB8::/32")
        #expect(doc.contains("2001:db8::1"))
        #expect(doc.contains("2001:0db8:ffff:ffff:ffff:ffff:ffff:ffff"))
        #expect(!doc.contains("2001:db9::1"))
        let nibble = try network("fd00:1234:5678:9a00::/56")
        #expect(nibble.contains("fd00:1234:5678:9aff::1"))
        #expect(!nibble.contains("fd00:1234:5678:9b00::1"))
        #expect(!doc.contains("not an address"))
        #expect(!doc.contains("fe80::1%eth0"), "a zone is not an address Postern parses")
    }

    @Test("an IPv4-mapped IPv6 peer is matched as its IPv4 address")
    func mapped() throws {
        let loopback = try network("127.0.0.0/8")
        #expect(loopback.contains("::ffff:127.0.0.1"))
        #expect(loopback.contains("::FFFF:7f00:1"), "hex spelling of the same mapped address")
        #expect(!loopback.contains("::ffff:10.0.0.1"))
        #expect(ClientAddress.bytes("::ffff:192.0.2.1") == [192, 0, 2, 1])
        let all6 = try network("::/0")
        #expect(!all6.contains("::ffff:192.0.2.1"), "a mapped peer is an IPv4 peer")
        // A mapped network is written as the IPv4 network it stands for.
        #expect(IPNetwork("::ffff:10.0.0.0/104") == IPNetwork("10.0.0.0/8"))
        #expect(try network("::ffff:10.0.0.0/104").contains("::ffff:10.1.2.3"))
        // Not mapped: ::ffff:0:0 in other positions, or an IPv4-compatible address.
        #expect(ClientAddress.bytes("::1:ffff:7f00:1")?.count == 16)
        #expect(ClientAddress.bytes("::127.0.0.1")?.count == 16)
    }

    @Test("a list matches when any of its networks does", arguments: [
        ("127.0.0.1", true), ("::1", true), ("::ffff:127.0.0.53", true), ("192.0.2.7", false), ("2001:db8::1", false), ("", false),
    ])
    func list(address: String, allowed: Bool) throws {
        let list = [try network("127.0.0.0/8"), try network("::1/128")]
        #expect(list.containsAddress(address) == allowed)
    }

    @Test("malformed networks are refused", arguments: [
        "", "/8", "127.0.0.0/", "127.0.0.0/33", "::/129", "127.0.0.0/-1", "127.0.0.0/8/8", "127.0.0.0/08", "127.0.0.0/ 8",
        "127.0.0/8", "256.0.0.0/8", "localhost/8", "1::2::3/64", "fe80::1%eth0/64", "127.0.0.0/8a", "127.0.0.0/1000",
        // host bits set past the prefix: most likely a typo for another network
        "127.0.0.1/8", "192.0.2.7/24", "2001:db8::1/32", "::1/0",
    ])
    func malformed(text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test("networks print in their usual short form")
    func description() throws {
        #expect(try network("127.0.0.0/8").description == "127.0.0.0/8")
        #expect(try network("::1/128").description == "::1/128")
        #expect(try network("::/0").description == "::/0")
        #expect(try network("2001:db8:0:0:1:0:0:0/80").description == "2001:db8:0:0:1::/80")
        #expect(try network("fd00:0:0:1::/64").description == "fd00:0:0:1::/64")
    }
}
