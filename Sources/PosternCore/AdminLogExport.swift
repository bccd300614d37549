import Foundation

/// The admin log as files an auditor takes away: CSV for a spreadsheet, JSON
/// Lines for a log pipeline. One writer for every door (the console's
/// downloads and the admin API's `format=`), so both give the same columns.
///
/// Pure: entries in, text out. It never sees a secret because the admin log
/// holds none (`AdminLogEntry.detail` is a name at most).
///
/// Columns, in this order: `at` (ISO 8601, UTC, with milliseconds), `admin`,
/// `action` (the `AdminAction` raw value), `target`, `detail`, `client_ip`,
/// `id`. A missing value is an empty cell in CSV and `null` in JSON Lines.
public enum AdminLogExport {
    public static let columns = ["at", "admin", "action", "target", "detail", "client_ip", "id"]

    /// RFC 4180 CSV with CRLF line ends, a header row when `header` is true,
    /// and every cell a spreadsheet could run as a formula neutralised.
    public static func csv(_ entries: [AdminLogEntry], header: Bool = true) -> String {
        var lines: [String] = header ? [columns.joined(separator: ",")] : []
        for entry in entries {
            lines.append(cells(entry).map { csvCell($0 ?? "") }.joined(separator: ","))
        }
        return lines.map { $0 + "\r\n" }.joined()
    }

    /// One JSON object per line, keys in column order, each line ended by "\n".
    public static func jsonl(_ entries: [AdminLogEntry]) -> String {
        entries.map { entry in
            let pairs = zip(columns, cells(entry)).map { name, value in "\"\(name)\":" + (value.map(jsonString) ?? "null") }
            return "{" + pairs.joined(separator: ",") + "}\n"
        }.joined()
    }

    /// The entry's values in column order.
    static func cells(_ entry: AdminLogEntry) -> [String?] {
        [timestamp(entry.at), entry.adminUsername, entry.action.rawValue, entry.targetUsername, entry.detail, entry.clientIP, entry.id]
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }

    // MARK: - CSV

    /// A cell as CSV: formula-neutralised, then quoted when it holds a comma,
    /// a quote, a line break or leading or trailing space.
    static func csvCell(_ value: String) -> String {
        let text = neutralised(value)
        let needsQuotes = text.unicodeScalars.contains { ",\"\r\n".unicodeScalars.contains($0) }
            || text.first?.isWhitespace == true || text.last?.isWhitespace == true
        guard needsQuotes else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and, in
    /// some, a tab or carriage return first) as a formula. A user name or an
    /// app-password name is chosen by a user, so such a cell gets a leading
    /// `'`, which spreadsheets show as text (OWASP's advice for CSV injection).
    static func neutralised(_ value: String) -> String {
        guard let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return value }
        return "'" + value
    }

    // MARK: - JSON

    /// A JSON string literal. Escapes what RFC 8259 requires, and U+2028 and
    /// U+2029 so a line never breaks inside a JavaScript reader either.
    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}", "\u{2029}": out += String(format: "\\u%04x", scalar.value)
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
