import Foundation
import Hummingbird
import PosternCore

extension AdminAPI {
    func addReadingRoutes(_ group: RouterGroup<SignedInContext>) {
        group.get("overview") { request, context in
            try admin.authorize(context.account)
            let days = try request.uri.queryParameters["days"].map { text -> Int in
                guard let days = Int(text) else { throw PosternError.invalidRequest("days must be 7 or 30.") }
                return days
            } ?? 7
            return JSONBody.response(.ok, OverviewBody(overview: try await admin.overview(days: days)))
        }
        group.get("users") { request, context in
            try admin.authorize(context.account)
            let query = request.uri.queryParameters["query"].map(String.init)
            // The name is matched as text in the store; control characters
            // cannot be in any name, and some databases refuse them outright.
            if let query, query.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw PosternError.invalidRequest("query must not contain control characters.")
            }
            let after = try request.uri.queryParameters["cursor"].map { text -> String in
                guard let name = UserCursor.decode(String(text)) else { throw Self.invalidCursor }
                return name
            }
            let limit = try Self.integer(request, "limit", in: 1...200, default: AdminService.pageSize)
            let page = try await admin.users(query: query, after: after, limit: limit)
            return JSONBody.response(.ok, UsersPage(users: page.users.map(UserSummary.init), nextCursor: page.next.map(UserCursor.encode)))
        }
        group.get("users/:username") { _, context in
            try admin.authorize(context.account)
            return JSONBody.response(.ok, UserDetail(detail: try await admin.user(username: try Self.username(context))))
        }
    }
}
