import Foundation
import Hummingbird
import PosternCore

/// The admin JSON API under `/api/v1/admin`, on the portal listener: the
/// operator's console without the pages. It decides nothing itself; every
/// rule about who may see and change what is `AdminService`'s, and every
/// route asks it first (`authorize` to read, `authorizeChange` to change).
/// Nothing here returns a secret, a digest, or a reset link.
public struct AdminAPI: Sendable {
    public let admin: AdminService
    /// How many log lines an export reads at a time, and where it stops: an
    /// export is for an auditor's spreadsheet, not a backup.
    let exportPageSize: Int
    let exportMaximumLines: Int

    public init(admin: AdminService, exportPageSize: Int = 1000, exportMaximumLines: Int = 100_000) {
        self.admin = admin
        self.exportPageSize = max(1, min(exportPageSize, 1000))
        self.exportMaximumLines = max(1, exportMaximumLines)
    }

    static let noContent = Response(status: .noContent)

    /// The changes `POST /api/v1/admin/users/{username}/…` makes, by path.
    static let actions: [(path: String, action: AdminAction)] = [
        ("disable", .disable), ("enable", .enable), ("reset-mfa", .resetMFA), ("revoke-app-passwords", .revokeAppPasswords),
        ("end-sessions", .endSessions), ("send-reset", .sendReset),
    ]

    // MARK: - Routes

    /// Adds the admin routes. A request without a valid bearer token is 401
    /// (the `SignedInContext`); one from an account that is not an
    /// administrator with a second factor is 403.
    public func addRoutes(to router: Router<PortalContext>) {
        let group = router.group("api/v1/admin", context: SignedInContext.self)
        addReadingRoutes(group)
        addLogRoutes(group)
        addChangeRoutes(group)
    }

    func addChangeRoutes(_ group: RouterGroup<SignedInContext>) {
        for (path, action) in Self.actions {
            group.post("users/:username/\(path)") { _, context in
                try admin.authorizeChange(context.account, session: context.session)
                try await admin.perform(action, on: try Self.username(context), by: Self.actor(context))
                return Self.noContent
            }
        }
        group.delete("users/:username/app-passwords/:id") { _, context in
            try admin.authorizeChange(context.account, session: context.session)
            let id = try context.parameters.require("id")
            try await admin.perform(.revokeAppPassword, on: try Self.username(context), appPasswordID: id, by: Self.actor(context))
            return Self.noContent
        }
    }

    // MARK: - Parameters

    /// The administrator making a change, and where from, for the admin log.
    static func actor(_ context: SignedInContext) -> AdminActor {
        AdminActor(context.account, clientIP: context.peerAddress)
    }

    /// The `{username}` path segment, percent-decoded (an address may come
    /// encoded). Anything that cannot be a name finds no account: 404.
    static func username(_ context: SignedInContext) throws -> String {
        let raw = try context.parameters.require("username")
        guard let name = raw.removingPercentEncoding else { throw PosternError.notFound }
        return name
    }

    /// A whole-number query parameter within `range`, or `fallback` when absent.
    static func integer(_ request: Request, _ name: String, in range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        guard let text = request.uri.queryParameters[Substring(name)] else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw APIError(.badRequest, "invalid_\(name)", "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }

    static let invalidCursor = APIError(.badRequest, "invalid_cursor", "cursor must be a next_cursor value from an earlier answer.")
}

/// The users list's cursor, opaque to clients: base64url of the last
/// username of the page before. Only a name this server could have stored
/// decodes (no control characters, at most an address's length).
enum UserCursor {
    static func encode(_ username: String) -> String {
        Base64URL.encode(Array(username.utf8))
    }

    static func decode(_ text: String) -> String? {
        guard text.count <= 400, let bytes = Base64URL.decode(text), let name = String(validating: bytes, as: UTF8.self),
              !name.isEmpty, name.utf8.count <= 254, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return nil }
        return name
    }
}
