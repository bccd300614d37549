import Foundation
import Hummingbird
import PosternCore
import PosternHTTP

/// Security › Activity: the account's sign-ins, mail and chat logins and
/// changes, newest first, fifty to a page, filtered by category.
struct ActivityController: Sendable {
    let accounts: AccountService
    let views: PortalViews

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        router.group(context: BrowserContext.self).get("/security/activity", use: show)
    }

    /// `?category=` filters; `?cursor=` pages on from an entry, in the same
    /// opaque form as the API's `next_cursor` (a cursor this server did not
    /// make is ignored: the first page is shown).
    func show(_ request: Request, context: BrowserContext) async throws -> Response {
        let categoryName = request.uri.queryParameters["category"].map(String.init)
        let category = categoryName.flatMap(ActivityEntry.Category.init(rawValue:))
        let cursor = request.uri.queryParameters["cursor"].flatMap { ActivityCursor.decode(String($0)) }
        let page = try await accounts.activity(account: context.account, before: cursor, categories: category.map { [$0] }, limit: 50)
        let time = RelativeTime(now: accounts.now)
        var data: [String: Any] = [
            "all": category == nil, "signIn": category == .signIn, "protocolLogin": category == .protocolLogin, "change": category == .change,
            "hasEntries": !page.entries.isEmpty,
            "entries": page.entries.map { entry -> [String: Any] in
                ["when": time.view(entry.at), "summary": entry.summary, "from": entry.clientIP ?? "", "result": entry.result]
            },
        ]
        if let next = page.next {
            data["next"] = (category.map { "category=\($0.rawValue)&" } ?? "") + "cursor=" + ActivityCursor.encode(next)
        }
        return try views.page("activity", context: context, data: data)
    }
}
