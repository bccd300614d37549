import Foundation
import Mustache
import PosternCore
import Testing
@testable import PosternPortal

/// HTML escaping of every value a portal template renders: by Unicode scalar,
/// so a quote followed by a combining mark (one Swift `Character`, but a bare
/// quote to an HTML parser) cannot end an attribute.
@Suite("Portal HTML escaping")
struct PortalEscapingTests {
    static let hostile = "\"\u{0301} onmouseover=x"
    // Kept out of #expect: the macro mishandles a quote then a mark in a literal.
    static let quoteMark = "\"\u{0301}"
    static let apostropheMark = "'\u{0301}"
    static let escapedHostile = "&quot;\u{0301} onmouseover=x"
    static let keys = KeyRing(serverKey: Array(repeating: 7, count: 32))

    /// Whether `html` holds `fragment`, compared as UTF-8 bytes (String's own
    /// `contains` compares Characters and would hide exactly this problem).
    func has(_ html: String, _ fragment: String) -> Bool {
        Data(html.utf8).range(of: Data(fragment.utf8)) != nil
    }

    func templates(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files {
            let url = directory.appendingPathComponent(name + ".mustache")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return directory.path
    }

    @Test("the escaper works per scalar: a quote with a combining mark becomes &quot; followed by the mark")
    func escaper() {
        #expect(HTMLEscaping.escape(Self.hostile) == Self.escapedHostile)
        let tags = "<a href='x'>&\u{0301}</a>\u{0338}", escapedTags = "&lt;a href=&#39;x&#39;&gt;&amp;\u{0301}&lt;/a&gt;\u{0338}"
        #expect(HTMLEscaping.escape(tags) == escapedTags)
        #expect(HTMLEscaping.escape("Café 日本語 👩‍💻") == "Café 日本語 👩‍💻")
        #expect(HTMLEscaping.escape("") == "")
        // The library's own escaper, per Character, leaves that quote alone: the reason for all this.
        #expect(Self.hostile.first != "\"")
    }

    @Test("a value in an attribute, a partial, a parent template's block and a section is escaped per scalar")
    func everyPlace() async throws {
        let directory = try templates([
            "page": #"<a title="{{name}}">{{name}}</a>{{>part}}{{#items}}<i data-x="{{.}}"></i>{{/items}}"#,
            "part": "<b data-y='{{name}}'></b>",
            "base": "<main>{{$body}}{{/body}}</main><footer title=\"{{name}}\"></footer>",
            "child": "{{<base}}{{$body}}<p title=\"{{name}}\"></p>{{/body}}{{/base}}",
            "nested/deep": "<q cite=\"{{name}}\"></q>",
            // A template that names the content type itself gets the same escaping.
            "declared": "{{% CONTENT_TYPE: HTML }}\n<s title=\"{{name}}\"></s>",
        ])
        let views = try await PortalViews(directory: directory, keys: Self.keys)
        let values: [String: Any] = ["name": Self.hostile, "items": [Self.hostile, Self.apostropheMark]]
        let escaped = Self.escapedHostile
        let items = "<i data-x=\"\(escaped)\"></i><i data-x=\"&#39;\u{0301}\"></i>"

        let page = try #require(views.html("page", values))
        #expect(has(page, "<a title=\"\(escaped)\">\(escaped)</a>"))
        #expect(has(page, "<b data-y='\(escaped)'></b>"))
        #expect(has(page, items))
        let child = try #require(views.html("child", values))
        #expect(child == "<main><p title=\"\(escaped)\"></p></main><footer title=\"\(escaped)\"></footer>")
        #expect(try #require(views.html("nested/deep", values)) == "<q cite=\"\(escaped)\"></q>")
        #expect(try #require(views.html("declared", values)) == "<s title=\"\(escaped)\"></s>")
        for html in [page, child] {
            #expect(!has(html, Self.quoteMark), "no bare quote with the mark anywhere")
            #expect(!has(html, Self.apostropheMark))
        }
    }

    @Test("a template that does not parse names its file and line")
    func parseError() async throws {
        let directory = try templates(["ok": "fine", "broken": "line one\nline two {{#open}}"])
        await #expect {
            _ = try await PortalViews(directory: directory, keys: Self.keys)
        } throws: { error in
            guard let error = error as? PortalViews.TemplateError else { return false }
            return error.file.hasSuffix("broken.mustache") && error.line >= 1 && error.line <= 2
        }
    }

    @Test("the bundled templates render as the library alone renders them, for values it escapes alike")
    func sameOutput() async throws {
        let ours = try await PortalViews(directory: PortalViews.bundledTemplates, keys: Self.keys)
        let plain = try await MustacheLibrary(directory: PortalViews.bundledTemplates)
        let names = try FileManager.default.contentsOfDirectory(atPath: PortalViews.bundledTemplates)
            .filter { $0.hasSuffix(".mustache") }.map { String($0.dropLast(".mustache".count)) }
        #expect(names.count >= 10)
        // ASCII specials only: both escapers agree on them, so any difference is the loading.
        let text = "Bob's <\"phone\"> & co"
        let values: [String: Any] = [
            "signedIn": true, "username": text, "csrf": "token", "name": text, "nameValue": text, "error": text, "notice": text,
            "heading": text, "message": text, "link": "/x?a=1&b=2", "linkText": text, "action": "/y", "mfaOn": true, "totpOn": true,
            "hasKeys": true, "keys": [["id": "k1", "name": text, "added": "today"]], "hasAppPasswords": true,
            "appPasswords": [["id": "a1", "name": text, "created": "today", "protocols": "IMAP"]],
            "protocolChoices": [["value": "imap", "label": "IMAP"]], "shown": true, "codes": ["aaaaa-bbbbb-cccc"], "password": "abcdefghijkl",
            "grouped": "abcd efgh ijkl", "hasEntries": true, "entries": [["when": "now", "summary": text, "from": "192.0.2.1", "result": "ok"]],
        ]
        for name in names {
            let expected = try #require(plain.render(values, withTemplate: name), "\(name)")
            #expect(ours.html(name, values) == expected, "\(name)")
        }
    }
}
