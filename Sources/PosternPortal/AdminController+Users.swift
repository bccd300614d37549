import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

// The users list, a user's page, and the actions on it: each a confirmation
// page (GET, only asks) whose form posts the change.
extension AdminController {
    // MARK: - Users

    /// `?query=` searches names and domains; `?cursor=` is the last name of
    /// the page before.
    func users(_ request: Request, context: BrowserContext) async throws -> Response {
        let query = request.uri.queryParameters["query"].map(String.init) ?? ""
        let cursor = request.uri.queryParameters["cursor"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let page: (users: [AdminUserSummary], next: String?)
        do {
            page = try await admin.users(query: query, after: cursor)
        } catch let error as PosternError {
            return try self.page("admin_users", status: .badRequest, context: context, section: "users",
                                 data: ["query": query, "error": error.message, "rows": [[String: Any]]()])
        }
        var data: [String: Any] = [
            "query": query, "hasRows": !page.users.isEmpty,
            "rows": page.users.map { user -> [String: Any] in
                ["name": user.username, "link": AdminWording.userPath(user.username), "mfa": user.mfaEnabled, "apps": user.appPasswords,
                 "lastSignIn": user.lastSignInAt.map(PortalViews.display) ?? "never",
                 "lastLogin": user.lastProtocolLoginAt.map(PortalViews.display) ?? "never",
                 "disabled": user.disabled, "admin": user.isAdmin]
            },
        ]
        if let next = page.next {
            data["next"] = "/admin/users?query=" + PortalViews.component(query) + "&cursor=" + PortalViews.component(next)
        }
        return try self.page("admin_users", context: context, section: "users", data: data)
    }

    // MARK: - One user

    func user(_ request: Request, context: BrowserContext) async throws -> Response {
        let username = try Self.username(context)
        let notice = request.uri.queryParameters["done"].flatMap { AdminWording.action(slug: String($0)) }.map(AdminWording.done)
        return try await userPage(username, context: context, notice: notice)
    }

    /// The user page: the summary, factors by kind and name, app passwords
    /// with their last use, recent activity, and the actions.
    func userPage(_ username: String, context: some PortalPageContext, notice: String? = nil, error: String? = nil,
                  status: HTTPResponse.Status = .ok) async throws -> Response {
        let detail: AdminUserDetail
        do {
            detail = try await admin.user(username: username)
        } catch PosternError.notFound {
            return try notFound(context, "There is no account named \u{201C}\(username)\u{201D}.")
        }
        let user = detail.summary
        let base = AdminWording.userPath(user.username)
        func action(_ action: AdminAction, _ label: String, danger: Bool = true) -> [String: Any] {
            ["href": base + "/confirm/" + AdminWording.slug(action), "label": label, "danger": danger]
        }
        var actions = [user.disabled ? action(.enable, "Enable", danger: false) : action(.disable, "Disable")]
        if user.mfaEnabled || detail.unusedRecoveryCodes > 0 { actions.append(action(.resetMFA, "Reset MFA")) }
        if !detail.appPasswords.isEmpty { actions.append(action(.revokeAppPasswords, "Revoke all app passwords")) }
        actions.append(action(.endSessions, "End all sessions"))
        if !user.disabled { actions.append(action(.sendReset, "Send a password-reset email", danger: false)) }
        var data: [String: Any] = [
            "target": user.username, "base": base, "disabled": user.disabled, "admin": user.isAdmin, "mfa": user.mfaEnabled,
            "lastSignIn": user.lastSignInAt.map(PortalViews.display) ?? "never",
            "lastLogin": user.lastProtocolLoginAt.map(PortalViews.display) ?? "never",
            "hasTOTP": detail.hasTOTP, "keys": detail.securityKeys, "hasKeys": !detail.securityKeys.isEmpty,
            "codes": detail.unusedRecoveryCodes,
            "hasApps": !detail.appPasswords.isEmpty,
            "apps": detail.appPasswords.map { record -> [String: Any] in
                var row = SecurityPage.exactRow(record)
                row["revoke"] = base + "/confirm/" + AdminWording.slug(.revokeAppPassword) + "?app=" + PortalViews.component(record.id)
                return row
            },
            "hasActivity": !detail.activity.isEmpty,
            "activity": detail.activity.map { ["when": PortalViews.display($0.at), "summary": $0.summary, "from": $0.clientIP ?? "", "result": $0.result] },
            "actions": actions,
        ]
        if let notice { data["notice"] = notice }
        if let error { data["error"] = error }
        return try page("admin_user", status: status, context: context, section: "users", data: data)
    }

    // MARK: - Actions

    /// `GET /admin/users/:username/confirm/:action[?app=ID]`: names the user
    /// and the action, and changes nothing; its form posts the change.
    func confirm(_ request: Request, context: BrowserContext) async throws -> Response {
        let username = try Self.username(context)
        guard let action = AdminWording.action(slug: try context.parameters.require("action")) else {
            return try notFound(context, "There is no such action.")
        }
        let detail: AdminUserDetail
        do {
            detail = try await admin.user(username: username)
        } catch PosternError.notFound {
            return try notFound(context, "There is no account named \u{201C}\(username)\u{201D}.")
        }
        let target = detail.summary.username
        var heading = AdminWording.question(action, target)
        var data: [String: Any] = [
            "target": target, "back": AdminWording.userPath(target), "explanation": AdminWording.consequence(action),
            "button": AdminWording.button(action), "action": AdminWording.userPath(target) + "/" + AdminWording.slug(action),
        ]
        if action == .revokeAppPassword {
            let id = request.uri.queryParameters["app"].map(String.init) ?? ""
            guard let record = detail.appPasswords.first(where: { $0.id == id }) else {
                return try notFound(context, "That app password doesn't exist, or was already revoked.")
            }
            heading = "Revoke \u{201C}\(record.name)\u{201D} of \(target)?"
            data["app"] = record.id
        }
        data["heading"] = heading
        return try page("admin_confirm", context: context, section: "users", data: data)
    }

    /// `POST /admin/users/:username/:action`: the change, by this
    /// administrator from this address, then back to the user page with a
    /// notice. A refusal from the core comes back on the user page.
    func perform(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        do {
            try admin.authorizeChange(context.account, session: context.session)
        } catch PosternError.reauthenticationRequired {
            throw PortalRefusal.proveAgain
        }
        let username = try Self.username(context)
        guard let action = AdminWording.action(slug: try context.parameters.require("action")) else {
            return try notFound(context, "There is no such action.")
        }
        let app = context.form["app"]?.first
        do {
            try await admin.perform(action, on: username, appPasswordID: action == .revokeAppPassword ? app : nil,
                                    by: AdminActor(context.account, clientIP: context.peerAddress))
        } catch let error as PosternError {
            let status: HTTPResponse.Status = error == .notFound ? .notFound : error.retryAfter != nil ? .tooManyRequests : .badRequest
            let message = error == .notFound && action == .revokeAppPassword
                ? "That app password doesn't exist, or was already revoked." : error.message
            return try await userPage(username, context: context, error: message, status: status)
        }
        return PortalViews.redirect(AdminWording.userPath(Username.canonical(username) ?? username) + "?done=" + AdminWording.slug(action))
    }

    // MARK: - Helpers

    /// The `:username` of the path, decoded (the router leaves it as sent).
    static func username(_ context: some RequestContext) throws -> String {
        let raw = try context.parameters.require("username")
        guard let name = raw.removingPercentEncoding, !name.isEmpty else { throw HTTPError(.notFound) }
        return name
    }

    func notFound(_ context: some PortalPageContext, _ message: String) throws -> Response {
        try views.page("message", status: .notFound, context: context, data: [
            "heading": "Not found", "message": message, "link": "/admin/users", "linkText": "Back to users", "wide": true,
        ])
    }
}
