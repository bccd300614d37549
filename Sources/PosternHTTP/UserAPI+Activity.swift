import Foundation
import Hummingbird
import PosternCore

extension UserAPI {
    func addActivityRoutes(signedIn: RouterGroup<SignedInContext>) {
        signedIn.get("activity") { request, context in
            let limit = try request.uri.queryParameters["limit"].map { text -> Int in
                guard let value = Int(text), (1...200).contains(value) else {
                    throw APIError(.badRequest, "invalid_limit", "limit must be a whole number from 1 to 200.")
                }
                return value
            } ?? 50
            var categories: Set<ActivityEntry.Category>?
            if let text = request.uri.queryParameters["category"], !text.isEmpty {
                categories = try Set(text.split(separator: ",").map { name in
                    guard let category = ActivityEntry.Category(rawValue: String(name)) else {
                        throw APIError(.badRequest, "invalid_category", "category must be sign_in, protocol_login or change (comma-separated).")
                    }
                    return category
                })
            }
            let cursor = try request.uri.queryParameters["cursor"].map { text -> AuditCursor in
                guard let cursor = ActivityCursor.decode(String(text)) else {
                    throw APIError(.badRequest, "invalid_cursor", "cursor must be a next_cursor value from an earlier answer.")
                }
                return cursor
            }
            let page = try await accounts.activity(account: context.account, before: cursor, categories: categories, limit: limit)
            return JSONBody.response(.ok, ActivityPage(events: page.entries.map(ActivityEvent.init), nextCursor: page.next.map(ActivityCursor.encode)))
        }
    }
}
