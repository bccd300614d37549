import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP
import PosternQR

/// Setting up an iPhone, iPad or Mac with one scan: ask the core for a
/// one-time setup link, show it once as a QR code and a download link, list
/// the account's links, and cancel one that is still waiting.
///
/// The core decides everything (who may ask, how many may wait, how long a
/// link lives, what opening it makes); `GET /setup/{token}`, which the
/// device opens, is `DeviceSetupAPI`'s, not the portal's.
struct DeviceSetupController: Sendable {
    let accounts: AccountService
    let views: PortalViews
    let securityPage: SecurityPage
    /// The portal's public URL without a trailing "/": links are `<publicURL>/setup/<token>`.
    let publicURL: String

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        let signedIn = router.group(context: BrowserContext.self)
        signedIn.get("/security/devices/setup/:id", use: reveal)
        // Cancelling only takes a way in away, so it needs no fresh proof.
        signedIn.post("/security/devices/setup/:id/cancel", use: cancel)

        let changes = router.group(context: RecentlyProvenContext.self)
            .add(middleware: SensitiveChangeErrorMiddleware(page: securityPage))
        changes.post("/security/devices/setup", use: create)
    }

    /// Asks for a link, as generating an app password does (CSRF, a recent
    /// proof), and keeps its token sealed for one showing to this session.
    func create(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        let issued = try await accounts.createDeviceSetup(account: context.account, session: context.session, kind: .apple,
                                                          name: context.field("name"), protocols: context.form["protocols"] ?? [])
        let id = try await accounts.stashReveal(issued.token + "\n" + issued.setup.name, session: context.session)
        return PortalViews.redirect("/security/devices/setup/\(id)")
    }

    /// Shows the link once, as a QR code for the phone's camera and a link
    /// for this device; a reload answers 410 with the list, where the link
    /// can still be cancelled. Reading it spends the reveal: one of the
    /// documented exceptions to "nothing changes state on GET"
    /// (PosternPortal.swift).
    func reveal(_ request: Request, context: BrowserContext) async throws -> Response {
        let stashed = try await accounts.takeReveal(id: try context.parameters.require("id"), session: context.session)
        var data = try await securityPage.setupLinksData(context.account)
        guard let stashed, let newline = stashed.firstIndex(of: "\n") else {
            data["shown"] = false
            return try views.page("device_setup_link", status: .gone, context: context, data: data)
        }
        let url = publicURL + "/setup/" + stashed[..<newline]
        data["shown"] = true
        data["name"] = String(stashed[stashed.index(after: newline)...])
        data["url"] = url
        data["minutes"] = Int(AccountService.deviceSetupLifetime / 60)
        data["qrSVG"] = try QRCode.encode(url).svg(moduleSize: 4, label: "QR code of the setup link")
        return try views.page("device_setup_link", context: context, data: data)
    }

    func cancel(_ request: Request, context: BrowserContext) async throws -> Response {
        do {
            try await accounts.cancelDeviceSetup(account: context.account, id: try context.parameters.require("id"))
            return PortalViews.redirect("/security/devices/new/apple?done=setup_cancelled")
        } catch PosternError.notFound {
            return try await securityPage.render(context, context.account, section: .newDevice(.apple),
                                                 error: "That link was already used or cancelled.", status: .notFound)
        }
    }
}
