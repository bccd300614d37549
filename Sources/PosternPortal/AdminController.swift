import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// The operator's console under `/admin`: the rollout overview, users and a
/// user's page with its actions, the policy in force, and the admin log with
/// its exports. Pages only; no script.
///
/// Who may see what is `AdminService`'s rule, asked by `AdminGateMiddleware`
/// in front of every route here. Pages run on `BrowserContext`; every change
/// on `RecentlyProvenContext`, behind a confirmation page (a GET that only
/// asks) and the CSRF check every portal POST gets. Nothing here shows a
/// secret: the core's admin types hold none.
struct AdminController: Sendable {
    let admin: AdminService
    let views: PortalViews

    var accounts: AccountService { admin.accounts }

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        let gated = router.group().add(middleware: AdminGateMiddleware(admin: admin, views: views))
        let pages = gated.group(context: BrowserContext.self)
        pages.get("/admin", use: overview)
        pages.get("/admin/users", use: users)
        pages.get("/admin/users/:username", use: user)
        pages.get("/admin/users/:username/confirm/:action", use: confirm)
        pages.get("/admin/policy", use: policy)
        pages.get("/admin/log", use: log)
        pages.get("/admin/log.csv", use: exportCSV)
        pages.get("/admin/log.jsonl", use: exportJSONL)

        let changes = gated.group().add(middleware: AdminProveAgainMiddleware())
            .group(context: RecentlyProvenContext.self)
        changes.post("/admin/users/:username/:action", use: perform)
    }

    /// Every console page: the wide layout, and which section of the
    /// console's navigation is current.
    func page(_ template: String, status: HTTPResponse.Status = .ok, context: some PortalPageContext, section: String,
              data: [String: Any]) throws -> Response {
        var values = data
        values["wide"] = true
        values["section_" + section] = true
        return try views.page(template, status: status, context: context, data: values)
    }

    // MARK: - Overview

    /// `?days=7|30` chooses the window of the account-password clients; any
    /// other value shows 7.
    func overview(_ request: Request, context: BrowserContext) async throws -> Response {
        let days = request.uri.queryParameters["days"] == "30" ? 30 : 7
        let overview = try await admin.overview(days: days)
        let logins = AdminChart.logins(overview.hours, id: "logins-chart")
        let adoption = AdminChart.adoption(overview.adoption, id: "adoption-chart")
        var data: [String: Any] = [
            "days": days, "days7": days == 7, "days30": days == 30,
            "accounts": overview.accounts, "accountsWithMFA": overview.accountsWithMFA,
            "percentWithMFA": AdminChart.percent(overview.accountsWithMFA, of: overview.accounts),
            "domains": overview.domains.map { domain -> [String: Any] in
                ["domain": domain.domain, "accounts": domain.accounts, "withMFA": domain.withMFA,
                 "percent": AdminChart.percent(domain.withMFA, of: domain.accounts)]
            },
            "clients": overview.accountPasswordClients.map { client -> [String: Any] in
                ["name": client.username, "link": AdminWording.userPath(client.username), "protocol": client.loginProtocol.rawValue.uppercased(),
                 "from": client.clientIP ?? "unknown", "last": PortalViews.display(client.lastAt), "logins": client.logins]
            },
            "stale": overview.staleAppPasswords.map { app -> [String: Any] in
                ["name": app.username, "link": AdminWording.userPath(app.username), "app": app.name, "created": PortalViews.display(app.createdAt),
                 "lastUsed": app.lastUsedAt.map(PortalViews.display) ?? "never"]
            },
            "refusals": overview.refusals.map { refusal -> [String: Any] in
                ["reason": AdminWording.refusal(refusal.reason), "code": refusal.reason, "total": refusal.count]
            },
            "slowed": overview.slowedSources.map { source -> [String: Any] in
                ["source": source.source, "failures": source.failures, "until": PortalViews.display(source.until)]
            },
            "loginsChart": logins.svg, "loginsSummary": logins.summary,
            "adoptionChart": adoption.svg, "adoptionSummary": adoption.summary,
            "daily": AdminChart.dailyTotals(overview.hours).map { day -> [String: Any] in
                ["day": day.day.formatted(Date.FormatStyle(date: .abbreviated, time: .omitted, timeZone: .utcZone)),
                 "allowed": day.allowed, "refused": day.refused]
            },
        ]
        data["hasDomains"] = !overview.domains.isEmpty
        data["hasClients"] = !overview.accountPasswordClients.isEmpty
        data["hasStale"] = !overview.staleAppPasswords.isEmpty
        data["hasRefusals"] = !overview.refusals.isEmpty
        data["hasSlowed"] = !overview.slowedSources.isEmpty
        return try page("admin_overview", context: context, section: "overview", data: data)
    }

    // MARK: - Policy

    /// The settings in force, read-only: they are changed in the config file
    /// (or flags and environment) and take effect at the next start.
    func policy(_ request: Request, context: BrowserContext) async throws -> Response {
        let account = accounts.policy, throttle = accounts.credentialGuard.throttle.policy
        let rows: [(String, String)] = [
            ("Sign-up", account.signupOpen ? "open: anyone can make an account" : "closed: accounts are made with the command line"),
            ("App passwords per account", "at most \(account.appPasswordLimit)"),
            ("Session lifetime", AdminWording.duration(account.sessionLifetime)),
            ("Portal idle timeout", AdminWording.duration(account.portalIdleTimeout)),
            ("Re-authentication window", "changes need a sign-in or password confirmation within \(AdminWording.duration(account.reauthenticationWindow))"),
            ("Second sign-in step", "\(account.secondFactorAttempts) wrong codes within \(AdminWording.duration(account.secondFactorWindow))"),
            ("Password-reset link lifetime", AdminWording.duration(account.resetTokenLifetime)),
            ("A password reset revokes app passwords", account.revokeAppPasswordsOnReset ? "yes" : "no"),
            ("A password change revokes app passwords", account.passwordChangeRevokesByDefault ? "ticked by default" : "only when asked"),
        ]
        let limits: [(String, String)] = [
            ("Free failures per source", "\(throttle.freeFailures) in \(AdminWording.duration(throttle.sourceWindow)), then paced"),
            ("Pacing delay", "from \(AdminWording.duration(throttle.baseDelay)), doubling, up to \(AdminWording.duration(throttle.maximumDelay))"),
            ("Account-password failures per name", "\(throttle.accountFailuresPerHour) an hour, then refused from unknown sources"),
            ("Known-good sources", "exempt for \(AdminWording.duration(throttle.knownGoodFor)) after a sign-in with the account password"),
            ("Failures everywhere", "above \(throttle.globalFailuresPerMinute) a minute every failure is slowed"),
            ("Wrong second factors per account", "\(throttle.secondFactorFailuresPerHour) an hour; the owner is told from \(throttle.secondFactorNotifyAfter)"),
            ("Password-reset requests", "\(throttle.resetRequestsPerName) an hour per name, \(throttle.resetRequestsPerSource) per source"),
        ]
        func table(_ rows: [(String, String)]) -> [[String: String]] { rows.map { ["setting": $0.0, "value": $0.1] } }
        return try page("admin_policy", context: context, section: "policy", data: ["account": table(rows), "throttle": table(limits)])
    }
}

// MARK: - Who may

/// In front of every console route: `AdminService.authorize` decides, and a
/// refusal is a page that says why. A browser that is not signed in passes
/// on, and the route's typed context sends it to sign in.
struct AdminGateMiddleware: RouterMiddleware {
    let admin: AdminService
    let views: PortalViews

    func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        if let account = context.browser?.account {
            do {
                try admin.authorize(account)
            } catch PosternError.mfaSetupRequired {
                return try views.page("message", status: .forbidden, context: context, data: [
                    "heading": "Set up two-step sign-in first",
                    "message": "Administrators need a second factor (an authenticator app or a security key) before they can use the console.",
                    "link": "/security", "linkText": "Go to Security",
                ])
            } catch PosternError.forbidden {
                return try views.page("message", status: .forbidden, context: context, data: [
                    "heading": "Administrators only", "message": "Only administrators may see this page.",
                    "link": "/security", "linkText": "Back to Security",
                ])
            }
        }
        return try await next(request, context)
    }
}

/// A change refused for want of a recent sign-in goes to the reauth page,
/// which then comes back to the change's confirmation page (a POST cannot be
/// repeated by a redirect; the confirmation asks again instead).
struct AdminProveAgainMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as PortalRefusal where refusal.asksToProveAgain {
            throw PortalRefusal.proveAgain(returningTo: AdminWording.confirmationPath(forChange: request.uri.path, app: context.form["app"]?.first))
        }
    }
}
