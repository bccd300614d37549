import Foundation

/// The doveadm HTTP API's `kick` (Dovecot 2.3), as one request and its answer.
///
/// One POST carries, for each address (or once for all of the user's
/// sessions), a `who` that lists the connections about to end and a `kick`
/// that ends them: one call per server, however many sessions. doveadm takes
/// one network per mask, so several addresses are several commands in that
/// one call. A `kick` that finds nothing answers exit code 68 (no such
/// user), which here means "no open sessions".
public enum DoveadmKick {
    public enum RequestError: Error, Equatable, CustomStringConvertible {
        /// doveadm reads `*` and `?` in a user mask as wildcards, which would
        /// end other users' sessions.
        case wildcardInUsername
        case badAddress(String)

        public var description: String {
            switch self {
            case .wildcardInUsername: "the username holds * or ?, which doveadm reads as a wildcard"
            case .badAddress(let address): "not an IP address: \(address)"
            }
        }
    }

    /// What the server said.
    public enum Answer: Equatable, Sendable {
        /// Sessions ended, counted per service (`imap`, `pop3`…) from the `who`.
        case ended([String: Int])
        case failed(String)
    }

    /// The `Authorization` header's value for an API key.
    public static func authorization(apiKey: String) -> String {
        "X-Dovecot-API " + Data(apiKey.utf8).base64EncodedString()
    }

    /// The JSON body: who and kick per address; all sessions when `addresses` is empty.
    public static func requestBody(user: String, addresses: [String]) throws(RequestError) -> Data {
        guard !user.contains("*"), !user.contains("?") else { throw .wildcardInUsername }
        var commands: [Any] = []
        var masks: [[String]] = addresses.isEmpty ? [[user]] : []
        for address in addresses {
            guard !address.isEmpty, address.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else { throw .badAddress(address) }
            masks.append([user, address + (address.contains(":") ? "/128" : "/32")])
        }
        for (index, mask) in masks.enumerated() {
            commands.append(["who", ["mask": mask, "separateConnections": true], "who-\(index)"] as [Any])
            commands.append(["kick", ["mask": mask], "kick-\(index)"] as [Any])
        }
        // Only strings and booleans go in: serialising cannot fail.
        return (try? JSONSerialization.data(withJSONObject: commands, options: [.sortedKeys])) ?? Data()
    }

    /// Reads the answer to `requestBody`. `status` is the HTTP status.
    public static func parse(status: Int, body: Data, user: String) -> Answer {
        guard status == 200 else {
            return .failed(status == 401 || status == 403 ? "the doveadm API refused the key (HTTP \(status))" : "doveadm answered HTTP \(status)")
        }
        guard let replies = try? JSONSerialization.jsonObject(with: body) as? [[Any]] else {
            return .failed("doveadm's answer is not the expected JSON")
        }
        var ended: [String: Int] = [:]
        for reply in replies {
            guard reply.count == 3, let kind = reply[0] as? String, let tag = reply[2] as? String else {
                return .failed("doveadm's answer is not the expected JSON")
            }
            if kind == "error" {
                let code = (reply[1] as? [String: Any])?["exitCode"] as? Int
                // 68: nothing matched the mask, so there was nothing to end.
                if code == 68 { continue }
                return .failed("doveadm \(tag.split(separator: "-").first ?? "command") failed (\(code.map { "exit code \($0)" } ?? "error"))")
            }
            guard kind == "doveadmResponse", tag.hasPrefix("who-"), let rows = reply[1] as? [[String: Any]] else { continue }
            for row in rows where (row["username"] as? String) == user {
                ended[(row["service"] as? String) ?? "other", default: 0] += 1
            }
        }
        return .ended(ended)
    }
}
