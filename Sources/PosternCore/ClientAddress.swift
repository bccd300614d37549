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

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(part) else { return false }
            return value <= 255 && !(part.count > 1 && part.first == "0")
        }
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
