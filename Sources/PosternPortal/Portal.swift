import Foundation
import Hummingbird
import PosternCore
import PosternHTTP

/// The HTML portal: sign up, sign in (with a second step when MFA is on), the
/// Security pages (with setting up a device), and the operator's console under `/admin`. Paths and form field names are stable: `/signup`,
/// `/signin`, `/signout`, `/security`; `username`, `password`, `otp`, `name`,
/// `csrf_token`.
///
/// `Portal` is the entry point: it puts the error pages, the browser session
/// (cookies, CSRF) and the answer to a refused context in front of every
/// portal route, then lets each controller add its own routes with the
/// context they need.
public struct Portal: Sendable {
    let accounts: AccountService
    let admin: AdminService
    let keys: KeyRing
    let views: PortalViews
    let statics: StaticFiles
    let cookies: CookiePolicy
    let publicOrigin: String
    /// The public URL without a trailing "/", for setup links.
    let publicURL: String
    let servers: [ClientServer]
    let profilesSigned: Bool

    /// `profilesSigned`: whether the profiles setup links deliver are signed
    /// (`device_setup.signing_certificate`), which the Apple page says.
    public init(accounts: AccountService, admin: AdminService, keys: KeyRing, views: PortalViews, publicURL: String,
                servers: [ClientServer], profilesSigned: Bool = false) throws {
        self.accounts = accounts
        self.admin = admin
        self.keys = keys
        self.views = views
        statics = try StaticFiles()
        cookies = CookiePolicy(publicURL: publicURL)
        let url = URL(string: publicURL)!
        publicOrigin = "\(url.scheme!)://\(url.host!)" + (url.port.map { ":\($0)" } ?? "")
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.servers = servers
        self.profilesSigned = profilesSigned
    }

    public func addRoutes(to parent: Router<PortalContext>) {
        let router = parent.group()
        router.add(middleware: PortalErrorMiddleware(views: views))
        router.add(middleware: BrowserSessionMiddleware(accounts: accounts, keys: keys, cookies: cookies, publicOrigin: publicOrigin, views: views))
        router.add(middleware: PortalRefusalMiddleware(for: .browser))
        router.get("/static/:file") { _, context in statics.response(try context.parameters.require("file")) }
        router.get("/") { _, context in PortalViews.redirect(context.browser == nil ? "/signin" : "/security") }

        let signInPage = SignInPage(accounts: accounts, views: views)
        let securityPage = SecurityPage(accounts: accounts, views: views, profilesSigned: profilesSigned)
        SignInController(accounts: accounts, views: views, cookies: cookies, signInPage: signInPage).addRoutes(to: router)
        PasswordResetController(accounts: accounts, views: views, signInPage: signInPage).addRoutes(to: router)
        SecurityController(accounts: accounts, views: views, securityPage: securityPage).addRoutes(to: router)
        AppPasswordsController(accounts: accounts, views: views, securityPage: securityPage, servers: servers).addRoutes(to: router)
        DeviceSetupController(accounts: accounts, views: views, securityPage: securityPage, publicURL: publicURL).addRoutes(to: router)
        ActivityController(accounts: accounts, views: views).addRoutes(to: router)
        AdminController(admin: admin, views: views).addRoutes(to: router)
    }
}
