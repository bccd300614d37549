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

    /// Streams the log from `cursor` on, a page at a time, so a long log is
    /// never held in memory. The first page is read before answering, so a
    /// store that is down is a 503 and not an empty file; a failure later
    /// can only cut the download short.
    func export(_ format: LogFormat, from cursor: AuditCursor?) async throws -> Response {
        let first = try await admin.log(before: cursor, limit: exportPageSize)
        let (admin, pageSize, maximum) = (self.admin, exportPageSize, exportMaximumLines)
        let body = ResponseBody { writer in
            var page = first
            var lines = 0
            if format == .csv { try await writer.write(ByteBuffer(string: LogExport.csvLine(LogEntry.csvHeader))) }
            while true {
                let rows = page.entries.prefix(maximum - lines)
                try await writer.write(ByteBuffer(string: rows.map { LogExport.line(LogEntry(entry: $0), format) }.joined()))
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

/// The admin log as lines of a file: CSV (RFC 4180, CRLF line ends) or JSON
/// Lines. CSV cells that a spreadsheet would run as a formula are defused.
enum LogExport {
    static func line(_ entry: AdminAPI.LogEntry, _ format: AdminAPI.LogFormat) -> String {
        switch format {
        case .csv: csvLine(entry.csvFields)
        case .jsonl, .json: String(decoding: (try? JSONBody.encoder.encode(entry)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
        }
    }

    static func csvLine(_ fields: [String]) -> String {
        fields.map(csvCell).joined(separator: ",") + "\r\n"
    }

    /// One cell, quoted when it holds a quote, comma or line break. A cell
    /// that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
    /// leading `'`: a target's name or an app password's name is chosen by a
    /// user, and a spreadsheet would otherwise evaluate it when the
    /// administrator opens the file.
    static func csvCell(_ value: String) -> String {
        var cell = value
        if let first = cell.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) { cell = "'" + cell }
        guard cell.unicodeScalars.contains(where: { "\",\r\n".unicodeScalars.contains($0) }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
