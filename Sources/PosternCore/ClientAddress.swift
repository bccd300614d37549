import Foundation

/// Client IP addresses as mail servers report them. Parsing only, no lookups.
public enum ClientAddress {
    /// The canonical text of an IPv4 or IPv6 address, or nil when `text` is
    /// neither. IPv6 is lower-cased; a zone (`%eth0`) is refused. An
    /// IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, as a dual-stack socket
    /// reports an IPv4 peer) is the IPv4 address it carries, so it is
    /// bucketed, logged and shown as that address.
    public static func canonical(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 45 else { return nil }
        if isIPv4(trimmed) { return trimmed }
        let lower = trimmed.lowercased()
        guard isIPv6(lower) else { return nil }
        if let groups = ipv6Groups(lower), groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xffff {
            return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].map(String.init).joined(separator: ".")
        }
        return lower
    }

    /// Four decimal numbers 0–255 joined by dots, without leading zeros.
    static func isIPv4(_ text: String) -> Bool {
        var parts = 0, digits = 0, value = 0, leadingZero = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0 else { return false }
                parts += 1
                digits = 0
                value = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 3, !leadingZero || digits == 0 else { return false }
            if digits == 0 { leadingZero = byte == UInt8(ascii: "0") } else if leadingZero { return false }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return false }
        }
        return parts == 3 && digits > 0
    }

    static func isIPv6(_ text: String) -> Bool {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        var groups = 0
        for (index, half) in halves.enumerated() where !half.isEmpty {
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            for (position, part) in parts.enumerated() {
                let isLast = index == halves.count - 1 && position == parts.count - 1
                if isLast, part.contains("."), isIPv4(String(part)) {
                    groups += 2
                    continue
                }
                guard (1...4).contains(part.count), part.allSatisfy({ $0.isHexDigit && $0.isASCII }) else { return false }
                groups += 1
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }

    /// The throttling buckets an address belongs to, most specific first:
    /// IPv4 address and /24; IPv6 /64 and /48 (a host's /128 is rarely stable).
    public static func buckets(_ canonical: String) -> [String] {
        if isIPv4(canonical) {
            let octets = canonical.split(separator: ".")
            return ["ip4:" + canonical, "net24:" + octets.prefix(3).joined(separator: ".")]
        }
        guard let groups = ipv6Groups(canonical) else { return ["other:" + canonical] }
        let hex = groups.map { String($0, radix: 16) }
        return ["net64:" + hex.prefix(4).joined(separator: ":"), "net48:" + hex.prefix(3).joined(separator: ":")]
    }

    /// The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail counts as two).
    static func ipv6Groups(_ text: String) -> [UInt16]? {
        func parse(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                if piece.contains(".") {
                    let octets = piece.split(separator: ".").compactMap { UInt16($0) }
                    guard octets.count == 4 else { return nil }
                    out += [octets[0] << 8 | octets[1], octets[2] << 8 | octets[3]]
                } else {
                    guard let value = UInt16(piece, radix: 16) else { return nil }
                    out.append(value)
                }
            }
            return out
        }
        let halves = text.components(separatedBy: "::")
        guard let head = parse(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 8 ? head : nil }
        guard halves.count == 2, let tail = parse(halves[1]), head.count + tail.count <= 7 else { return nil }
        return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}

extension ClientAddress {
    /// The address's bytes: 4 for IPv4, 16 for IPv6, or nil when `text` is
    /// neither. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, what a
    /// dual-stack socket reports for an IPv4 peer) gives the IPv4 address's
    /// 4 bytes, so it is judged as the IPv4 address it is.
    public static func bytes(_ text: String) -> [UInt8]? {
        guard let canonical = canonical(text) else { return nil }
        if isIPv4(canonical) {
            return canonical.split(separator: ".").map { UInt8($0)! }
        }
        guard let groups = ipv6Groups(canonical) else { return nil }
        if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xFFFF {
            return [UInt8(groups[6] >> 8), UInt8(groups[6] & 0xFF), UInt8(groups[7] >> 8), UInt8(groups[7] & 0xFF)]
        }
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

/// An IPv4 or IPv6 network in CIDR form (`127.0.0.0/8`, `2001:db8::/32`), to
/// decide whether a peer may connect. Parsing and matching only.
///
/// Strict: the prefix length is required to fit the family (0–32, 0–128),
/// and the address must have no bits set past the prefix (`10.0.0.1/8` is
/// refused as a likely typo). A bare address is the network of that one
/// address (`/32`, `/128`). An IPv4-mapped IPv6 network with a prefix of 96 or
/// more (`::ffff:10.0.0.0/104`) is the IPv4 network it maps (`10.0.0.0/8`),
/// because mapped peers are matched as IPv4.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, zero past the prefix.
    public let address: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let addressText: Substring
        var prefix: Int?
        if let slash = trimmed.firstIndex(of: "/") {
            addressText = trimmed[..<slash]
            let digits = trimmed[trimmed.index(after: slash)...]
            guard (1...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(digits.count > 1 && digits.first == "0"), let value = Int(digits) else { return nil }
            prefix = value
        } else {
            addressText = trimmed[...]
        }
        // Parsed as written (not through `canonical`, which turns a mapped
        // address into IPv4): the prefix length belongs to the written family.
        let written = addressText.trimmingCharacters(in: .whitespaces).lowercased()
        var bytes: [UInt8]
        if ClientAddress.isIPv4(written) {
            bytes = written.split(separator: ".").map { UInt8($0)! }
        } else {
            guard ClientAddress.isIPv6(written), let groups = ClientAddress.ipv6Groups(written) else { return nil }
            bytes = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        }
        var length = prefix ?? bytes.count * 8
        guard (0...bytes.count * 8).contains(length) else { return nil }
        if bytes.count == 16, length >= 96, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
            length -= 96
        }
        guard Self.masked(bytes, length) == bytes else { return nil }
        self.address = bytes
        self.prefixLength = length
    }

    /// Whether `address` (IPv4 or IPv6 text) lies in this network. Text that
    /// is not an address is in no network.
    public func contains(_ address: String) -> Bool {
        guard let bytes = ClientAddress.bytes(address) else { return false }
        return contains(bytes: bytes)
    }

    /// Whether the address with these bytes (4 or 16) lies in this network.
    /// An address of the other family never does.
    public func contains(bytes: [UInt8]) -> Bool {
        bytes.count == address.count && Self.masked(bytes, prefixLength) == address
    }

    public var description: String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") + "/\(prefixLength)" }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]) }
        // RFC 5952: the longest run of two or more zero groups becomes "::".
        var best = (start: 0, count: 0), run = (start: 0, count: 0)
        for (index, group) in groups.enumerated() {
            if group == 0 {
                run = run.count == 0 ? (index, 1) : (run.start, run.count + 1)
                if run.count > best.count { best = run }
            } else {
                run = (0, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        let text = best.count >= 2
            ? hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.count)...].joined(separator: ":")
            : hex.joined(separator: ":")
        return text + "/\(prefixLength)"
    }

    /// `bytes` with every bit past the first `length` cleared.
    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, length - index * 8))
            return bits == 8 ? byte : byte & ~(0xFF >> bits)
        }
    }
}

extension [IPNetwork] {
    /// Whether any network in the list holds `address`.
    public func containsAddress(_ address: String) -> Bool {
        guard let bytes = ClientAddress.bytes(address) else { return false }
        return contains { $0.contains(bytes: bytes) }
    }
}
