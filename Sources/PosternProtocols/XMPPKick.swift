import Foundation

/// Ending a user's XMPP sessions over HTTP, one call per server:
/// ejabberd's `mod_http_api` command `kick_user`, and Prosody's
/// `mod_postern_disconnect` (integrations/prosody/), which answer alike.
public enum XMPPKick {
    public enum Server: String, Sendable {
        case ejabberd, prosody
    }

    public enum Answer: Equatable, Sendable {
        /// How many sessions (resources) ended.
        case ended(Int)
        case failed(String)
    }

    /// Splits `user@host`; nil when either side is empty.
    public static func jid(_ username: String) -> (user: String, host: String)? {
        guard let at = username.lastIndex(of: "@") else { return nil }
        let user = String(username[..<at]), host = String(username[username.index(after: at)...])
        guard !user.isEmpty, !host.isEmpty else { return nil }
        return (user, host)
    }

    /// The JSON body naming the user whose sessions end: `{"host":…,"user":…}`.
    public static func requestBody(user: String, host: String) -> Data {
        (try? JSONSerialization.data(withJSONObject: ["user": user, "host": host], options: [.sortedKeys])) ?? Data()
    }

    /// Reads the answer: ejabberd returns the number of sessions ended as a
    /// bare JSON integer (or, by version, `{"num_resources": n}`); the
    /// Prosody module returns `{"ended": n}`.
    public static func parse(_ server: Server, status: Int, body: Data) -> Answer {
        guard status == 200 else {
            return .failed(status == 401 || status == 403 ? "\(server.rawValue) refused the credentials (HTTP \(status))"
                                                          : "\(server.rawValue) answered HTTP \(status)")
        }
        let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        let count: Int? = switch server {
        case .ejabberd: value as? Int ?? (value as? [String: Any])?["num_resources"] as? Int
        case .prosody: (value as? [String: Any])?["ended"] as? Int
        }
        guard let count, count >= 0 else {
            return .failed("\(server.rawValue)'s answer is not the expected JSON: \(String(decoding: body.prefix(80), as: UTF8.self))")
        }
        return .ended(count)
    }
}
