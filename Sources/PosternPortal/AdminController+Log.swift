import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

// The admin log: a page at a time in the browser, or the whole log as a
// download (`AdminLogExport`, the same writer the admin API uses).
extension AdminController {
    /// `?cursor=` pages on from an entry, in the opaque form the activity
    /// pages use (a cursor this server did not make shows the first page).
    func log(_ request: Request, context: BrowserContext) async throws -> Response {
        let cursor = request.uri.queryParameters["cursor"].flatMap { ActivityCursor.decode(String($0)) }
        let page = try await admin.log(before: cursor, limit: 50)
        var data: [String: Any] = [
            "hasEntries": !page.entries.isEmpty,
            "entries": page.entries.map { entry -> [String: Any] in
                var row: [String: Any] = [
                    "when": PortalViews.display(entry.at), "who": entry.adminUsername, "what": entry.action.phrase, "from": entry.clientIP ?? "",
                ]
                if let detail = entry.detail, !detail.isEmpty { row["detail"] = detail }
                if let target = entry.targetUsername {
                    row["target"] = target
                    row["link"] = AdminWording.userPath(target)
                }
                return row
            },
        ]
        if let next = page.next { data["next"] = "/admin/log?cursor=" + ActivityCursor.encode(next) }
        return try self.page("admin_log", context: context, section: "log", data: data)
    }

    func exportCSV(_ request: Request, context: BrowserContext) async throws -> Response {
        try await AdminLogDownload.response(.csv, admin: admin, from: nil)
    }

    func exportJSONL(_ request: Request, context: BrowserContext) async throws -> Response {
        try await AdminLogDownload.response(.jsonl, admin: admin, from: nil)
    }
}
