import Foundation
import HTTPTypes
import Hummingbird
import Testing
@testable import PosternApp

@Suite("Mail client autoconfiguration: Mozilla autoconfig and Outlook Autodiscover")
struct AutoconfigTests {
    static let autoconfigPaths = ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]

    static func autodiscoverBody(_ address: String) -> String {
        """
        <?xml version="1.0" encoding="utf-8"?>
        <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
          <Request>
            <EMailAddress>\(address)</EMailAddress>
            <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
          </Request>
        </Autodiscover>
        """
    }

    static let xmlHeaders: HTTPFields = [.contentType: "text/xml"]

    func autoconfig(_ portal: Client, _ address: String, path: String = "/mail/config-v1.1.xml") async throws -> Reply {
        let query = address.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? address
        return try await portal.call(.get, "\(path)?emailaddress=\(query)")
    }

    func autodiscover(_ portal: Client, _ address: String, path: String = "/autodiscover/autodiscover.xml") async throws -> Reply {
        try await portal.call(.post, path, body: Self.autodiscoverBody(address), headers: Self.xmlHeaders)
    }

    @Test("a served domain gets the same document for an existing and a missing address; an unknown domain gets 404")
    func servedAndUnknown() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal, "alice@example.org")
                for path in Self.autoconfigPaths {
                    let existing = try await autoconfig(portal, "alice@example.org", path: path)
                    #expect(existing.status == .ok)
                    #expect(existing.headers[.contentType] == "application/xml")
                    #expect(existing.text.contains("<emailProvider id=\"example.org\">"))
                    #expect(existing.text.contains("<hostname>localhost</hostname>"), "client.* default to the public URL's host")
                    #expect(!existing.text.contains("alice"), "the document names no address")
                    for other in ["nobody@example.org", "ALICE@Example.org", "o&brien<x>@example.org"] {
                        let missing = try await autoconfig(portal, other, path: path)
                        #expect(missing.status == .ok)
                        #expect(missing.body == existing.body, "byte for byte: \(other)")
                    }
                    let unknown = try await autoconfig(portal, "alice@example.net", path: path)
                    #expect(unknown.status == .notFound)
                    #expect(unknown["error"] == "unknown_domain")
                }
            }
        }
    }

    @Test("Autodiscover answers alike for existing and missing addresses, escapes the address, and 404s unknown domains")
    func autodiscoverAnswers() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal, "alice@example.org")
                let existing = try await autodiscover(portal, "alice@example.org")
                #expect(existing.status == .ok)
                #expect(existing.headers[.contentType] == "text/xml; charset=utf-8")
                #expect(existing.text.contains("<LoginName>alice@example.org</LoginName>"))
                for path in ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AutoDiscover/AutoDiscover.xml"] {
                    let missing = try await autodiscover(portal, "nobody@example.org", path: path)
                    #expect(missing.status == .ok)
                    #expect(missing.text.replacingOccurrences(of: "nobody@", with: "alice@") == existing.text, "\(path)")
                    #expect(!missing.text.contains("alice"))
                }
                let escaped = try await autodiscover(portal, "o&amp;brien&lt;x&gt;@example.org")
                #expect(escaped.status == .ok)
                #expect(escaped.text.contains("<LoginName>o&amp;brien&lt;x&gt;@example.org</LoginName>"))
                let unknown = try await autodiscover(portal, "alice@example.net")
                #expect(unknown.status == .notFound)
                #expect(unknown["error"] == "unknown_domain")
            }
        }
    }

    @Test("client.domains decides when set: its domains are served without accounts, others are not")
    func configuredDomains() async throws {
        try await withHarness({ $0.clientDomains = ["example.net", "mail.example.com"] }) { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal, "alice@example.org")
                #expect(try await autoconfig(portal, "alice@example.org").status == .notFound, "accounts do not count when the list is set")
                #expect(try await autoconfig(portal, "anyone@example.net").status == .ok)
                #expect(try await autoconfig(portal, "anyone@Mail.Example.COM").status == .ok)
                #expect(try await autodiscover(portal, "anyone@example.net").status == .ok)
                #expect(try await autodiscover(portal, "anyone@example.org").status == .notFound)
            }
        }
        try await withHarness({ $0.clientIMAP = HostAndPort(host: "imap.example.org", port: 143) }) { h in
            try await h.run { portal, _ in
                #expect(try await autoconfig(portal, "alice@example.org").status == .notFound, "no accounts, no list: nothing is served")
                _ = try await HTTPHarness.signUp(portal, "bob@example.org")
                #expect(try await autoconfig(portal, "alice@example.org").status == .notFound, "the domains read are kept a minute")
                h.clock.advance(60)  // MailDomains.refresh
                let reply = try await autoconfig(portal, "alice@example.org")
                #expect(reply.text.contains("<hostname>imap.example.org</hostname>\n      <port>143</port>\n      <socketType>STARTTLS</socketType>"))
            }
        }
    }

    @Test("client.domains is checked at start, naming the setting")
    func configValidation() throws {
        let config = try PosternConfig.load(flags: ["client.domains": "Example.ORG, example.net"], environment: [:], configFile: nil)
        #expect(config.clientDomains == ["example.org", "example.net"])
        for bad in ["exa_mple.org", "example.org, %", "a@b.org", "example..org", "-", "-example.org", "exa mple.org", "exa\u{0}mple.org"] {
            #expect {
                _ = try PosternConfig.load(flags: ["client.domains": bad], environment: [:], configFile: nil)
            } throws: { error in
                "\(error)".contains("client.domains")
            }
        }
    }

    @Test("a missing, repeated or malformed address is a 400")
    func badAddresses() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal, "alice@example.org")
                for query in ["", "?emailaddress=", "?emailaddress", "?other=alice@example.org",
                              "?emailaddress=alice@example.org&emailaddress=bob@example.org"] {
                    let reply = try await portal.call(.get, "/mail/config-v1.1.xml\(query)")
                    #expect(reply.status == .badRequest, "\(query)")
                    #expect(reply["error"] == "missing_email")
                }
                for address in ["alice", "alice@", "@example.org", "a@b@example.org", "alice@example..org", "alice@exa_mple.org", "a l@example.org"] {
                    let reply = try await autoconfig(portal, address)
                    #expect(reply.status == .badRequest, "\(address)")
                    #expect(reply["error"] == "invalid_email")
                    let discovered = try await autodiscover(portal, address)
                    #expect(discovered.status == .badRequest, "\(address)")
                }
            }
        }
    }

    @Test("hostile Autodiscover bodies are 400, oversized ones 413, and nothing is a 5xx")
    func hostileBodies() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                _ = try await HTTPHarness.signUp(portal, "alice@example.org")
                let good = Self.autodiscoverBody("alice@example.org")
                let bodies = [
                    "", "{}", "<", "not xml", good + "<x/>", Self.autodiscoverBody("&xxe;"),
                    "<!DOCTYPE a [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>" + good.replacingOccurrences(of: "alice@example.org", with: "&xxe;"),
                    "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>" + Self.autodiscoverBody("&b;"),
                    good.replacingOccurrences(of: "responseschema/2006a", with: "responseschema/2006"),
                    good.replacingOccurrences(of: "</Request>", with: ""),
                    String(repeating: "<a>", count: 5000),
                ]
                for body in bodies {
                    let reply = try await portal.call(.post, "/autodiscover/autodiscover.xml", body: body, headers: Self.xmlHeaders)
                    #expect(reply.status == .badRequest, "\(body.prefix(60))")
                    #expect(reply["message"]?.isEmpty == false)
                    #expect(!reply.text.contains("passwd"), "the body is not quoted back")
                }
                let huge = "<!--" + String(repeating: "x", count: 17 * 1024) + "-->" + good
                let reply = try await portal.call(.post, "/autodiscover/autodiscover.xml", body: huge, headers: Self.xmlHeaders)
                #expect(reply.status == .contentTooLarge)
                #expect(reply["error"] == "body_too_large")
                let exactlyAtLimit = good + String(repeating: " ", count: 16 * 1024 - good.utf8.count)
                #expect(try await portal.call(.post, "/autodiscover/autodiscover.xml", body: exactlyAtLimit, headers: Self.xmlHeaders).status == .ok)
            }
        }
    }

    @Test("served from the portal listener's own router")
    func portalRouter() async throws {
        try await withHarness { h in
            _ = try await h.environment.accounts.createAccount(username: "alice@example.org", password: "violet staple orbit")
            let app = Application(router: try await h.environment.portalRouter())
            try await app.test(.router) { client in
                try await client.execute(uri: "/mail/config-v1.1.xml?emailaddress=bob@example.org", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).hasPrefix("<?xml"))
                }
            }
        }
    }
}
