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

    /// `?category=` filters; `?before=<millis>.<id>` pages on from an entry.
    func show(_ request: Request, context: BrowserContext) async throws -> Response {
        let categoryName = request.uri.queryParameters["category"].map(String.init)
        let category = categoryName.flatMap(ActivityEntry.Category.init(rawValue:))
        var cursor: AuditCursor?
        if let text = request.uri.queryParameters["before"], let millis = Int64(text.prefix { $0 != "." }),
           let id = text.split(separator: ".", maxSplits: 1).dropFirst().first {
            cursor = AuditCursor(at: Date(timeIntervalSince1970: Double(millis) / 1000), id: String(id))
        }
        let page = try await accounts.activity(account: context.account, before: cursor, categories: category.map { [$0] }, limit: 50)
        var data: [String: Any] = [
            "all": category == nil, "signIn": category == .signIn, "protocolLogin": category == .protocolLogin, "change": category == .change,
            "hasEntries": !page.entries.isEmpty,
            "entries": page.entries.map { entry -> [String: Any] in
                ["when": PortalViews.display(entry.at), "summary": entry.summary, "from": entry.clientIP ?? "", "result": entry.result]
            },
        ]
        if let next = page.next {
            let before = "before=\(Int64(next.at.timeIntervalSince1970 * 1000)).\(next.id)"
            data["next"] = (category.map { "category=\($0.rawValue)&" } ?? "") + before
        }
        return try views.page("activity", context: context, data: data)
    }
}
