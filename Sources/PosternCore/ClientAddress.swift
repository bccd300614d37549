import Foundation

/// Client IP addresses as mail servers report them. Parsing only, no lookups.
public enum ClientAddress {
    /// The canonical text of an IPv4 or IPv6 address, or nil when `text` is
    /// neither. IPv6 is lower-cased; a zone (`%eth0`) is refused.
    public static func canonical(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 45 else { return nil }
        if isIPv4(trimmed) { return trimmed }
        let lower = trimmed.lowercased()
        return isIPv6(lower) ? lower : nil
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
}
