import Foundation
import Hummingbird
import PosternCore
import Testing

/// Device-setup links over HTTP: made in the API, opened once without a
/// sign-in, and the profile's password logs in through /v1/verify.
@Suite("Device-setup links over HTTP")
struct DeviceSetupAPITests {
    /// The path of a link's URL (`https://…/setup/<token>` → `/setup/<token>`).
    static func path(_ url: String?) throws -> String {
        let url = try #require(url.flatMap(URL.init(string:)))
        return url.path
    }

    static func mailPayload(_ body: Data) throws -> [String: Any] {
        let plist = try #require(try PropertyListSerialization.propertyList(from: body, format: nil) as? [String: Any])
        let content = try #require(plist["PayloadContent"] as? [[String: Any]])
        return try #require(content.first)
    }

    @Test("create, open once (200, then 410), log in with the profile's password, see it listed and the owner told")
    func roundTrip() async throws {
        try await withHarness { h in
            try await h.run { portal, auth in
                let token = try await HTTPHarness.signUp(portal)
                let created = try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "apple", "name": "iPhone"], token: token)
                #expect(created.status == .created, "\(created.text)")
                let url = try #require(created["url"])
                #expect(url.hasPrefix(h.environment.config.publicURL + "/setup/") && created["id"] != nil && created["expires_at"] != nil)

                let opened = try await portal.call(.get, try Self.path(url))
                #expect(opened.status == .ok)
                #expect(opened.headers[.contentType] == "application/x-apple-aspen-config")
                #expect(opened.headers[.contentDisposition] == "attachment; filename=\"postern.mobileconfig\"")
                #expect(opened.headers[.cacheControl] == "no-store")
                let mail = try Self.mailPayload(opened.body)
                let username = try #require(mail["IncomingMailServerUsername"] as? String)
                let password = try #require(mail["IncomingPassword"] as? String)
                #expect(username == "alice@example.org" && mail["OutgoingPassword"] as? String == password)

                let again = try await portal.call(.get, try Self.path(url))
                #expect(again.status == .gone && again.text.contains("already used or has expired"))

                let verified = try await auth.call(.post, "/v1/verify", json: ["username": username, "password": password, "protocol": "imap",
                                                                              "client_ip": "192.0.2.10"])
                #expect(verified.status == .ok && verified["result"] == "allow", "\(verified.text)")
                let apps = try await portal.call(.get, "/api/v1/app-passwords", token: token).list
                #expect(apps.map { $0["name"] as? String } == ["iPhone"])
                let links = try await portal.call(.get, "/api/v1/device-setups", token: token).list
                #expect(links.count == 1 && links[0]["state"] as? String == "used" && links[0]["app_password_id"] as? String == apps[0]["id"] as? String)

                let texts = try await h.environment.store.pendingOutbox(limit: 100).compactMap { message in
                    message.sealed.flatMap { try? h.environment.notices.open($0, id: message.id).text }
                }
                #expect(texts.contains { $0.contains("set up through a device link") })
            }
        }
    }

    @Test("400 for another kind or a malformed token, 403 without a recent proof, 404 for an unknown link, 410 once cancelled or expired")
    func refusals() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                let other = try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "thunderbird", "name": "TB"], token: token)
                #expect(other.status == .badRequest && other["error"] == "invalid_request")
                let unknownKind = try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "fax", "name": "TB"], token: token)
                #expect(unknownKind.status == .badRequest)
                #expect(try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "apple", "name": "x"]).status == .unauthorized)
                #expect(try await portal.call(.get, "/setup/not-a-token").status == .badRequest)
                #expect(try await portal.call(.get, "/setup/" + DeviceSetupToken.generate()).status == .gone)
                #expect(try await portal.call(.delete, "/api/v1/device-setups/nosuchlink", token: token).status == .notFound)

                let cancelled = try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "apple", "name": "iPad"], token: token)
                let id = try #require(cancelled["id"])
                #expect(try await portal.call(.delete, "/api/v1/device-setups/\(id)", token: token).status == .noContent)
                #expect(try await portal.call(.get, try Self.path(cancelled["url"])).status == .gone)
                #expect(try await portal.call(.get, "/api/v1/device-setups", token: token).list.isEmpty, "a cancelled link that made nothing is not listed")

                let late = try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "apple", "name": "Mac"], token: token)
                h.clock.advance(11 * 60)
                #expect(try await portal.call(.get, try Self.path(late["url"])).status == .gone)
                let stale = try await portal.call(.post, "/api/v1/device-setups", json: ["kind": "apple", "name": "Mac"], token: token)
                #expect(stale.status == .forbidden && stale["error"] == "reauthentication_required")
                #expect(try await portal.call(.get, "/api/v1/app-passwords", token: token).list.isEmpty, "no link made a password")
            }
        }
    }
}
