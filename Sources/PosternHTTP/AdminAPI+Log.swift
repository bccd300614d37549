import Foundation
import Hummingbird
import NIOCore
import PosternCore

extension AdminAPI {
    /// The admin log's formats: a JSON page, or the whole log (from `cursor`
    /// on) as a CSV or JSON Lines download.
    enum LogFormat: String {
        case json, csv, jsonl
    }

    func addLogRoutes(_ group: RouterGroup<SignedInContext>) {
        group.get("log") { request, context in
            try admin.authorize(context.account)
            let format = try request.uri.queryParameters["format"].map { text -> LogFormat in
                guard let format = LogFormat(rawValue: String(text)) else {
                    throw APIError(.badRequest, "invalid_format", "format must be json, csv or jsonl.")
                }
                return format
            } ?? .json
            let cursor = try request.uri.queryParameters["cursor"].map { text -> AuditCursor in
                guard let cursor = ActivityCursor.decode(String(text)) else { throw Self.invalidCursor }
                return cursor
            }
            if format == .json {
                let limit = try Self.integer(request, "limit", in: 1...1000, default: 100)
                let page = try await admin.log(before: cursor, limit: limit)
                return JSONBody.response(.ok, LogPage(entries: page.entries.map(LogEntry.init), nextCursor: page.next.map(ActivityCursor.encode)))
            }
            return try await export(format, from: cursor)
        }
    }

    func export(_ format: LogFormat, from cursor: AuditCursor?) async throws -> Response {
        try await AdminLogDownload.response(format == .csv ? .csv : .jsonl, admin: admin, from: cursor,
                                            pageSize: exportPageSize, maximum: exportMaximumLines)
    }
}

/// The admin log as a download, for the admin API (`format=csv|jsonl`) and
/// the console's links: streamed a page at a time, so a long log is never
/// held in memory, written by `AdminLogExport`. The first page is read
/// before answering, so a store that is down is an error and not an empty
/// file; a failure later can only cut the download short.
public enum AdminLogDownload {
    public enum Format: Sendable { case csv, jsonl }

    public static func response(_ format: Format, admin: AdminService, from cursor: AuditCursor?, pageSize: Int = 1000,
                                maximum: Int = 100_000) async throws -> Response {
        let first = try await admin.log(before: cursor, limit: pageSize)
        let body = ResponseBody { writer in
            var page = first
            var lines = 0
            var header = true
            while true {
                let rows = Array(page.entries.prefix(maximum - lines))
                let text = format == .csv ? AdminLogExport.csv(rows, header: header) : AdminLogExport.jsonl(rows)
                try await writer.write(ByteBuffer(string: text))
                header = false
                lines += rows.count
                guard let next = page.next, lines < maximum else { break }
                page = try await admin.log(before: next, limit: pageSize)
            }
            try await writer.finish(nil)
        }
        let (type, name) = format == .csv ? ("text/csv; charset=utf-8", "postern-admin-log.csv") : ("application/x-ndjson", "postern-admin-log.jsonl")
        return Response(status: .ok, headers: [
            .contentType: type, .cacheControl: "no-store", .contentDisposition: "attachment; filename=\"\(name)\"",
        ], body: body)
    }
}
