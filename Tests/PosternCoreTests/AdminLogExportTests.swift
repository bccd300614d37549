import Foundation
import Testing
@testable import PosternCore

@Suite("Admin log export: CSV and JSON Lines")
struct AdminLogExportTests {
    static let at = Date(timeIntervalSince1970: 1_767_225_600.25)  // 2026-01-01 00:00:00.250 UTC

    static func entry(_ action: AdminAction = .disable, admin: String = "admin@example.org", target: String? = "bob@example.org",
                      detail: String? = nil, ip: String? = "198.51.100.7", id: String = "log1") -> AdminLogEntry {
        AdminLogEntry(id: id, at: at, adminID: "a1", adminUsername: admin, action: action, targetID: "b1", targetUsername: target,
                      detail: detail, clientIP: ip)
    }

    @Test("CSV: a header row, the documented column order, CRLF line ends")
    func csvShape() {
        let text = AdminLogExport.csv([Self.entry(), Self.entry(.revokeAppPassword, detail: "Phone", id: "log2")])
        #expect(text == """
            at,admin,action,target,detail,client_ip,id\r
            2026-01-01T00:00:00.250Z,admin@example.org,disable,bob@example.org,,198.51.100.7,log1\r
            2026-01-01T00:00:00.250Z,admin@example.org,revoke_app_password,bob@example.org,Phone,198.51.100.7,log2\r

            """)
        #expect(!AdminLogExport.csv([Self.entry()], header: false).contains("client_ip"), "no header when asked")
        #expect(AdminLogExport.csv([], header: true) == "at,admin,action,target,detail,client_ip,id\r\n")
    }

    @Test("CSV: commas, quotes and line breaks are quoted; quotes doubled")
    func csvQuoting() {
        #expect(AdminLogExport.csvCell("Mail, laptop") == "\"Mail, laptop\"")
        #expect(AdminLogExport.csvCell("the \"work\" phone") == "\"the \"\"work\"\" phone\"")
        #expect(AdminLogExport.csvCell("two\nlines") == "\"two\nlines\"")
        #expect(AdminLogExport.csvCell(" padded") == "\" padded\"")
        #expect(AdminLogExport.csvCell("plain") == "plain")
        #expect(AdminLogExport.csvCell("") == "")
    }

    @Test("CSV: a cell a spreadsheet would run as a formula starts with an apostrophe")
    func csvFormulas() {
        for hostile in ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd"] {
            let cell = AdminLogExport.csvCell(hostile)
            #expect(cell.hasPrefix("'") || cell.hasPrefix("\"'"), "\(hostile) → \(cell)")
        }
        #expect(AdminLogExport.csvCell("=1,2") == "\"'=1,2\"", "neutralised, then quoted")
        #expect(AdminLogExport.csvCell("a=b") == "a=b", "only a leading sign counts")
        let row = AdminLogExport.csv([Self.entry(.revokeAppPassword, detail: "=cmd|' /C calc'!A0")], header: false)
        #expect(row.contains(",'=cmd|' /C calc'!A0,"))
    }

    @Test("JSON Lines: one object per line, keys in column order, null for missing values")
    func jsonLines() throws {
        let text = AdminLogExport.jsonl([Self.entry(detail: "Phone \"work\"\n"), Self.entry(.enable, target: nil, ip: nil, id: "log2")])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "two lines, each ended by a newline")
        #expect(lines[1] == #"{"at":"2026-01-01T00:00:00.250Z","admin":"admin@example.org","action":"enable","target":null,"detail":null,"client_ip":null,"id":"log2"}"#)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["detail"] as? String == "Phone \"work\"\n")
        #expect(first["action"] as? String == "disable")
        #expect(first["client_ip"] as? String == "198.51.100.7")
        #expect(AdminLogExport.jsonl([]).isEmpty)
    }

    @Test("JSON Lines: control characters and line separators are escaped")
    func jsonEscaping() throws {
        let hostile = "a\u{0}b\u{1F}c\u{2028}d\\e\tf\r"
        let literal = AdminLogExport.jsonString(hostile)
        #expect(literal == #""a\u0000b\u001fc\u2028d\\e\tf\r""#)
        let decoded = try JSONSerialization.jsonObject(with: Data(("[" + literal + "]").utf8)) as? [String]
        #expect(decoded == [hostile])
    }
}
