import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PosternCore
import Testing
@testable import PosternApp
@testable import PosternHTTP

@Suite("Admin API: changes and the admin log")
struct AdminAPIActionTests {
    typealias Base = AdminAPITests
    let base = AdminAPITests()
    static let bob = AdminAPITests.bob

    /// A minimal RFC 4180 reader: quoted cells, doubled quotes, CRLF rows.
    func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], cell = "", quoted = false
        var scalars = Array(text.unicodeScalars)[...]
        while let c = scalars.popFirst() {
            if quoted {
                if c == "\"" {
                    if scalars.first == "\"" { cell.unicodeScalars.append(scalars.removeFirst()) } else { quoted = false }
                } else { cell.unicodeScalars.append(c) }
            } else if c == "\"" { quoted = true
            } else if c == "," { row.append(cell); cell = ""
            } else if c == "\r", scalars.first == "\n" { scalars.removeFirst(); row.append(cell); rows.append(row); row = []; cell = ""
            } else { cell.unicodeScalars.append(c) }
        }
        return rows
    }

    /// Bob, with an authenticator app and two app passwords (the laptop's
    /// used once over IMAP), and an administrator's token.
    struct Fixture {
        let bobToken: String
        let totpSecret: String
        let phone: (id: String, password: String)
        let laptop: (id: String, password: String)
        let token: String
        static let page = "/api/v1/admin/users/\(AdminAPITests.bob)"
    }

    func fixture(_ h: HTTPHarness, _ portal: Client, _ auth: Client) async throws -> Fixture {
        let bobToken = try await HTTPHarness.signUp(portal, Self.bob, password: Base.password)
        let secret = try #require(try await portal.call(.post, "/api/v1/mfa/totp", token: bobToken)["secret"])
        #expect(try await portal.call(.post, "/api/v1/mfa/totp/confirm", json: ["code": h.totpCode(secret: secret)], token: bobToken).status == .noContent)
        let phone = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Phone"], token: bobToken)
        let laptop = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": "Laptop"], token: bobToken)
        let (token, _) = try await base.makeAdmin(h, portal)
        let fixture = Fixture(bobToken: bobToken, totpSecret: secret, phone: (try #require(phone["id"]), try #require(phone["password"])),
                              laptop: (try #require(laptop["id"]), try #require(laptop["password"])), token: token)
        #expect(try await base.verify(auth, Self.bob, fixture.laptop.password).status == .ok)
        try await h.environment.recorder.flush(to: h.environment.store)
        return fixture
    }

    @Test("a user's page shows factors and app passwords by name; nothing an administrator reads holds a secret or a digest")
    func noSecrets() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let f = try await fixture(h, portal, auth)
                let page = try await portal.call(.get, Fixture.page, token: f.token)
                #expect(page.status == .ok)
                let factors = try #require(page.json["factors"] as? [String: any Sendable])
                #expect(factors["totp"] as? Bool == true && factors["security_keys"] as? [String] == [] && factors["unused_recovery_codes"] as? Int == 0)
                let apps = try #require(page.json["app_passwords"] as? [[String: any Sendable]])
                #expect(Set(apps.compactMap { $0["name"] as? String }) == ["Phone", "Laptop"])
                #expect(apps.first { $0["id"] as? String == f.laptop.id }?["last_used_protocol"] as? String == "imap")
                var texts = [page.text]
                for path in ["/api/v1/admin/overview", "/api/v1/admin/users", "/api/v1/admin/log", "/api/v1/admin/log?format=jsonl"] {
                    texts.append(try await portal.call(.get, path, token: f.token).text)
                }
                for text in texts {
                    for line in text.split(separator: "\n") {
                        let found = base.keys(try JSONSerialization.jsonObject(with: Data(line.utf8)))
                        #expect(found.isDisjoint(with: ["digest", "password", "secret", "password_hash", "token"]), "\(found)")
                    }
                    #expect(!text.contains(f.phone.password) && !text.contains(f.laptop.password) && !text.contains(f.totpSecret))
                }
            }
        }
    }

    @Test("each change is 204, is in the admin log, is mailed to the owner and shows in their activity as by an administrator")
    func actions() async throws {
        try await withHarness { h in
            try await h.run(live: true) { portal, auth in
                let f = try await fixture(h, portal, auth)
                let user = Fixture.page
                // In an order that leaves each change something to do.
                let steps: [(HTTPRequest.Method, String, AdminAction, String)] = [
                    (.delete, "\(user)/app-passwords/\(f.phone.id)", .revokeAppPassword, "revoked app password \u{201C}Phone\u{201D} by an administrator"),
                    (.post, "\(user)/revoke-app-passwords", .revokeAppPasswords, "revoked all app passwords by an administrator"),
                    (.post, "\(user)/reset-mfa", .resetMFA, "second factors removed by an administrator"),
                    (.post, "\(user)/send-reset", .sendReset, "password-reset email sent by an administrator"),
                    (.post, "\(user)/end-sessions", .endSessions, "every portal and API session ended by an administrator"),
                    (.post, "\(user)/disable", .disable, "account disabled by an administrator"),
                    (.post, "\(user)/enable", .enable, "account enabled by an administrator"),
                ]
                for (method, path, action, summary) in steps {
                    h.clock.advance(1)  // one entry per millisecond, so "newest" is this step's
                    let mailed = try await base.outbox(h, to: Self.bob)
                    let reply = try await portal.call(method, path, token: f.token)
                    #expect(reply.status == .noContent, "\(path): \(reply.text)")
                    let entry = try await base.log(portal, f.token).first
                    #expect(entry?["action"] as? String == action.rawValue && entry?["target"] as? String == Self.bob, "\(action)")
                    #expect(entry?["admin"] as? String == Base.admin && entry?["client_ip"] as? String == "127.0.0.1", "\(action)")
                    #expect(try await base.outbox(h, to: Self.bob) == mailed + 1, "\(action) is mailed to the owner")
                    let activity = try await portal.call(.get, user, token: f.token).json["activity"] as? [[String: any Sendable]] ?? []
                    #expect(activity.first { $0["category"] as? String == "change" }?["summary"] as? String == summary, "\(action)")
                    try await expectEffect(of: action, f, portal, auth, again: (method, path))
                }
            }
        }
    }

    /// What each change does to bob's logins, tokens and page.
    func expectEffect(of action: AdminAction, _ f: Fixture, _ portal: Client, _ auth: Client,
                      again: (HTTPRequest.Method, String)) async throws {
        switch action {
        case .revokeAppPassword:
            #expect(try await base.verify(auth, Self.bob, f.phone.password).status == .unauthorized)
            #expect(try await base.verify(auth, Self.bob, f.laptop.password).status == .ok)
            #expect(try await portal.call(again.0, again.1, token: f.token).status == .notFound, "revoked already")
        case .revokeAppPasswords: #expect(try await base.verify(auth, Self.bob, f.laptop.password).status == .unauthorized)
        case .resetMFA:
            let factors = try await portal.call(.get, Fixture.page, token: f.token).json["factors"] as? [String: any Sendable]
            #expect(factors?["totp"] as? Bool == false)
            #expect(try await base.verify(auth, Self.bob, Base.password).status == .ok, "the account password opens IMAP again")
        case .sendReset: #expect(try await portal.call(.get, "/api/v1/account", token: f.bobToken).status == .ok)
        case .endSessions: #expect(try await portal.call(.get, "/api/v1/account", token: f.bobToken).status == .unauthorized)
        case .disable:
            #expect(try await base.verify(auth, Self.bob, Base.password).status == .unauthorized)
            let page = try await portal.call(.get, "/api/v1/admin/users?query=bob", token: f.token)
            #expect((page.json["users"] as? [[String: any Sendable]])?.first?["disabled"] as? Bool == true)
            #expect(try await portal.call(.post, "\(Fixture.page)/send-reset", token: f.token).status == .badRequest, "not while disabled")
        case .enable: #expect(try await base.verify(auth, Self.bob, Base.password).status == .ok)
        case .grantAdmin, .revokeAdmin: break
        }
    }

    @Test("the log pages by cursor; CSV and JSON Lines exports carry every entry, quoted and with formulas defused")
    func exports() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let bobToken = try await HTTPHarness.signUp(portal, Self.bob, password: Base.password)
                let hostile = "=HYPERLINK(\"http://x.example\",\"Work, phone\")"
                let created = try await portal.call(.post, "/api/v1/app-passwords", json: ["name": hostile], token: bobToken)
                let (token, _) = try await base.makeAdmin(h, portal)
                #expect(try await portal.call(.delete, "/api/v1/admin/users/\(Self.bob)/app-passwords/\(created["id"]!)", token: token).status == .noContent)
                h.clock.advance(1)
                #expect(try await portal.call(.post, "/api/v1/admin/users/\(Self.bob)/end-sessions", token: token).status == .noContent)
                let entries = try await base.log(portal, token)
                #expect(entries.map { $0["action"] as? String } == ["end_sessions", "revoke_app_password", "grant_admin"])
                #expect(entries.last?["admin"] as? String == AdminLogEntry.commandLine && entries.last?["client_ip"] is NSNull)
                let ids = entries.compactMap { $0["id"] as? String }

                var paged: [String] = []
                var path = "/api/v1/admin/log?limit=1"
                while true {
                    let page = try await portal.call(.get, path, token: token)
                    paged += (page.json["entries"] as? [[String: any Sendable]] ?? []).compactMap { $0["id"] as? String }
                    guard let next = page.json["next_cursor"] as? String else { break }
                    path = "/api/v1/admin/log?limit=1&cursor=\(next)"
                }
                #expect(paged == ids)

                let csv = try await portal.call(.get, "/api/v1/admin/log?format=csv", token: token)
                #expect(csv.status == .ok && csv.headers[.contentType] == "text/csv; charset=utf-8")
                #expect(csv.headers[.contentDisposition] == "attachment; filename=\"postern-admin-log.csv\"")
                let rows = parseCSV(csv.text)
                #expect(rows.first == AdminLogExport.columns)
                #expect(rows.dropFirst().map { $0[6] } == ids && rows.allSatisfy { $0.count == 7 })
                #expect(rows[2][4] == "'" + hostile, "the formula is text")
                #expect(rows[2][3] == Self.bob && rows[2][2] == "revoke_app_password")

                let jsonl = try await portal.call(.get, "/api/v1/admin/log?format=jsonl", token: token)
                #expect(jsonl.status == .ok && jsonl.headers[.contentType] == "application/x-ndjson")
                #expect(jsonl.headers[.contentDisposition] == "attachment; filename=\"postern-admin-log.jsonl\"")
                let lines = jsonl.text.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: any Sendable] }
                #expect(lines.map { $0?["id"] as? String } == ids)
                #expect(lines[1]?["detail"] as? String == hostile)
                let second = try #require(try await portal.call(.get, "/api/v1/admin/log?limit=1", token: token).json["next_cursor"] as? String)
                let rest = try await portal.call(.get, "/api/v1/admin/log?format=jsonl&cursor=\(second)", token: token)
                #expect(rest.text.split(separator: "\n").count == ids.count - 1, "an export starts at the cursor")

                for bad in ["format=xml", "format=", "cursor=!!", "cursor=\(Base64URL.encode(Array("1:a b".utf8)))", "format=csv&cursor=nope", "limit=0"] {
                    let reply = try await portal.call(.get, "/api/v1/admin/log?\(bad)", token: token)
                    #expect(reply.status == .badRequest && reply.headers[.contentType] == "application/json; charset=utf-8", "\(bad)")
                }
            }
        }
    }

    @Test("an export reads the log a page at a time and stops at its cap")
    func exportPages() async throws {
        try await withHarness { h in
            for name in ["a", "b", "c", "d", "e"] {
                _ = try await h.environment.accounts.createAccount(username: "\(name)@example.org", password: Base.password)
                try await h.environment.admin.perform(.disable, on: "\(name)@example.org", by: .commandLine)
                h.clock.advance(1)
            }
            for (cap, expected) in [(100, 5), (3, 3)] {
                let api = AdminAPI(admin: h.environment.admin, exportPageSize: 2, exportMaximumLines: cap)
                let router = Router()
                router.get("export") { _, _ in try await api.export(.jsonl, from: nil) }
                try await Application(router: router).test(.router) { client in
                    let reply = try await Client(client: client).call(.get, "/export")
                    let targets = reply.text.split(separator: "\n").compactMap { line in
                        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: any Sendable])?["target"] as? String
                    }
                    #expect(targets == ["e", "d", "c", "b", "a"].prefix(expected).map { "\($0)@example.org" }, "cap \(cap)")
                }
            }
        }
    }
}
