import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// What a page needs from any of the portal's contexts: the CSRF seed, the
/// posted form, and the signed-in account if there is one.
protocol PortalPageContext: RequestContext {
    var csrfSeed: String? { get }
    var form: [String: [String]] { get }
    var signedInAccount: Account? { get }
}

extension PortalPageContext {
    /// A form field's first value, or "" when it is missing.
    func field(_ name: String) -> String { form[name]?.first ?? "" }
}

extension PortalContext: PortalPageContext {
    var signedInAccount: Account? { browser?.account }
}

/// The context of portal routes that need a signed-in browser. Building one
/// fails with `PortalRefusal.signInFirst` when the session cookie names no
/// live portal session, so handlers never unwrap an optional account.
struct BrowserContext: ChildRequestContext, PortalPageContext {
    var coreContext: CoreRequestContextStorage
    let session: Session
    let account: Account
    let csrfSeed: String?
    let form: [String: [String]]
    /// The client's address, for records that say where a change came from.
    let peerAddress: String?
    var signedInAccount: Account? { account }

    init(context: PortalContext) throws {
        guard let browser = context.browser else { throw PortalRefusal.signInFirst }
        coreContext = context.coreContext
        session = browser.session
        account = browser.account
        csrfSeed = context.csrfSeed
        form = context.form
        peerAddress = context.peerAddress
    }
}

/// The context of sensitive changes: signed in, and proved recently (the
/// core decides how recently; `BrowserSessionMiddleware` asks it). Building
/// one fails with `PortalRefusal.sessionExpired` without a session, and with
/// `PortalRefusal.proveAgain` when the user must confirm their password first.
struct RecentlyProvenContext: ChildRequestContext, PortalPageContext {
    /// A signed-in browser, and more: its sign-in is recent.
    private var browser: BrowserContext
    var coreContext: CoreRequestContextStorage {
        get { browser.coreContext }
        set { browser.coreContext = newValue }
    }
    var session: Session { browser.session }
    var account: Account { browser.account }
    var csrfSeed: String? { browser.csrfSeed }
    var form: [String: [String]] { browser.form }
    var peerAddress: String? { browser.peerAddress }
    var signedInAccount: Account? { account }

    init(context: PortalContext) throws {
        guard context.browser != nil else { throw PortalRefusal.sessionExpired }
        guard context.browserRecentlyProven else { throw PortalRefusal.proveAgain }
        browser = try BrowserContext(context: context)
    }
}

/// Why a typed portal context could not be built, and where the request goes
/// instead (`PortalRefusalMiddleware`). A page or form route answers 303 to
/// `page`; a script route answers `scriptStatus` with
/// `{"redirect": scriptRedirect}`, which `postern.js` follows.
struct PortalRefusal: Error, Sendable {
    let page: String
    let scriptStatus: HTTPResponse.Status
    let scriptRedirect: String

    /// No session, on a page or a form that needs none to be recent: sign in.
    static let signInFirst = PortalRefusal(page: "/signin", scriptStatus: .unauthorized, scriptRedirect: "/signin?notice=expired")
    /// No session, on a sensitive change: it ended since the form was shown.
    static let sessionExpired = PortalRefusal(page: "/signin?notice=expired", scriptStatus: .unauthorized,
                                              scriptRedirect: "/signin?notice=expired")
    /// Signed in, but not recently enough: confirm the password (and code) first.
    static let proveAgain = PortalRefusal(page: "/security/reauth", scriptStatus: .forbidden, scriptRedirect: "/security/reauth")

    /// `proveAgain`, coming back to `next` (a path on this site) afterwards.
    static func proveAgain(returningTo next: String) -> PortalRefusal {
        let page = "/security/reauth?next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        return PortalRefusal(page: page, scriptStatus: .forbidden, scriptRedirect: page)
    }

    var asksToProveAgain: Bool { page.hasPrefix(Self.proveAgain.page) }
}
