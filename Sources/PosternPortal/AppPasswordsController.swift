import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP
import PosternQR

/// Where a mail or chat client connects, shown beside a new app password.
public struct ClientServer: Sendable {
    public var label: String
    public var host: String
    public var port: Int

    public init(label: String, host: String, port: Int) {
        self.label = label
        self.host = host
        self.port = port
    }

    var security: String { [993, 995, 465, 5223].contains(port) ? "SSL/TLS" : "STARTTLS" }
}

/// App passwords: generate one (and show it once, with what the kind of
/// device it is for needs to be told), revoke one, revoke all.
/// Each destructive change has a GET page that only asks; its form's POST acts.
struct AppPasswordsController: Sendable {
    let accounts: AccountService
    let views: PortalViews
    let securityPage: SecurityPage
    let servers: [ClientServer]

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        let signedIn = router.group(context: BrowserContext.self)
        signedIn.get("/security/app-passwords/new/:id", use: reveal)
        signedIn.get("/security/app-passwords/revoke-all", use: confirmRevokeAll)
        signedIn.get("/security/app-passwords/:id/revoke", use: confirmRevoke)

        let changes = router.group(context: RecentlyProvenContext.self)
            .add(middleware: SensitiveChangeErrorMiddleware(page: securityPage))
        changes.post("/security/app-passwords", use: generate)
        changes.post("/security/app-passwords/revoke-all", use: revokeAll)
        changes.post("/security/app-passwords/:id/revoke", use: revoke)
    }

    // MARK: - A new app password

    /// Makes the password and keeps it sealed for one showing to this session;
    /// the browser is sent to `reveal`.
    func generate(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        let protocols = context.form["protocols"] ?? []
        if protocols.isEmpty { throw PosternError.invalidProtocols("Choose at least one kind of app the password is for.") }
        let issued = try await accounts.createAppPassword(account: context.account, name: context.field("name"),
                                                          protocols: protocols, expiresAt: nil)
        let id = try await accounts.stashReveal(issued.password + "\n" + issued.record.name, session: context.session)
        // The kind is not secret, only wording: it rides in the URL, not the sealed reveal.
        let kind = DeviceKind(rawValue: context.field("kind")).map { "?for=\($0.rawValue)" } ?? ""
        return PortalViews.redirect("/security/app-passwords/new/\(id)" + kind)
    }

    /// Shows the new password once; a reload answers 410. Reading it spends the
    /// reveal: one of the documented exceptions to "nothing changes state
    /// on GET" (PosternPortal.swift).
    func reveal(_ request: Request, context: BrowserContext) async throws -> Response {
        let stashed = try await accounts.takeReveal(id: try context.parameters.require("id"), session: context.session)
        guard let stashed, let newline = stashed.firstIndex(of: "\n") else {
            return try views.page("app_password_new", status: .gone, context: context, data: ["shown": false, "name": "this app"])
        }
        let password = String(stashed[..<newline])
        let kind = request.uri.queryParameters["for"].flatMap { DeviceKind(rawValue: String($0)) } ?? .other
        var data: [String: Any] = [
            "shown": true, "name": String(stashed[stashed.index(after: newline)...]), "password": password,
            "grouped": AppPasswordFormat.grouped(password), "username": context.account.username,
            "servers": servers.map { ["label": $0.label, "host": $0.host, "port": String($0.port), "security": $0.security] },
        ]
        if let instruction = kind.instruction { data["instruction"] = instruction }
        if kind == .other, !servers.isEmpty { data["settingsQR"] = try settingsQR(username: context.account.username) }
        return try views.page("app_password_new", context: context, data: data)
    }

    /// A QR code of the settings another app needs, for copying them to a
    /// phone: the username and the servers, never the password (a photo of
    /// the screen, or the phone's scan history, must not hold it).
    func settingsQR(username: String) throws -> String {
        let lines = ["Username: \(username)"] + servers.map { "\($0.label): \($0.host), port \($0.port), \($0.security)" }
        return try QRCode.encode(lines.joined(separator: "\n"))
            .svg(moduleSize: 4, label: "QR code of these settings, without the password")
    }

    // MARK: - Revoking

    func confirmRevokeAll(_ request: Request, context: BrowserContext) async throws -> Response {
        try confirmPage(context, heading: "Revoke all app passwords?", button: "Revoke all",
                        explanation: "Every mail and chat app signed in with an app password will be signed out and will need a new one.",
                        action: "/security/app-passwords/revoke-all")
    }

    func revokeAll(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        try await accounts.revokeAllAppPasswords(account: context.account)
        return PortalViews.redirect("/security/devices?done=revoked_all")
    }

    func confirmRevoke(_ request: Request, context: BrowserContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try await accounts.listAppPasswords(account: context.account).first(where: { $0.id == id }) else {
            return try views.page("message", status: .notFound, context: context, data: [
                "heading": "Not found", "message": "That app password doesn't exist, or was already revoked.",
                "link": "/security/devices", "linkText": "Back to apps and devices",
            ])
        }
        return try confirmPage(context, heading: "Revoke \u{201C}\(record.name)\u{201D}?", button: "Revoke \u{201C}\(record.name)\u{201D}",
                               explanation: "The app using it will be signed out at its next login. Your other apps are not affected.",
                               action: "/security/app-passwords/\(record.id)/revoke")
    }

    func revoke(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        try await accounts.revokeAppPassword(account: context.account, id: try context.parameters.require("id"))
        return PortalViews.redirect("/security/devices?done=revoked")
    }

    /// A page that asks before a destructive change; only its form's POST acts.
    func confirmPage(_ context: BrowserContext, heading: String, button: String, explanation: String, action: String) throws -> Response {
        try views.page("confirm", context: context, data: ["heading": heading, "button": button, "explanation": explanation, "action": action,
                                                          "back": "/security/devices"])
    }
}
