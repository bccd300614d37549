import Foundation
import Testing
@testable import PosternProtocols
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The documents are read back with Foundation's own XML parser (libxml2 on
/// Linux), a reader independent of the code that wrote them.
@Suite("Mail client setup documents")
struct MailClientSetupTests {
    static let servers = [
        MailClientSetup.Server(.imap, host: "mail.example.org", port: 993),
        MailClientSetup.Server(.pop3, host: "mail.example.org", port: 110),
        MailClientSetup.Server(.smtp, host: "smtp.example.org", port: 587),
    ]

    func parse(_ document: String) throws -> XMLElement {
        let parsed = try XMLDocument(data: Data(document.utf8), options: [])
        return try #require(parsed.rootElement())
    }

    func text(_ element: XMLElement, _ name: String) -> String? {
        element.elements(forName: name).first?.stringValue
    }

    @Test("autoconfig: clientConfig 1.1, one provider, each server with its socket type and the address placeholder")
    func autoconfig() throws {
        let document = MailClientSetup.autoconfig(domain: "example.org", displayName: "example.org", servers: Self.servers,
                                                  documentation: "https://accounts.example.org/security")
        let root = try parse(document)
        #expect(root.name == "clientConfig")
        #expect(root.attribute(forName: "version")?.stringValue == "1.1")
        let provider = try #require(root.elements(forName: "emailProvider").first)
        #expect(root.elements(forName: "emailProvider").count == 1)
        #expect(provider.attribute(forName: "id")?.stringValue == "example.org")
        #expect(text(provider, "domain") == "example.org")
        #expect(text(provider, "displayName") == "example.org")

        let incoming = provider.elements(forName: "incomingServer")
        #expect(incoming.map { $0.attribute(forName: "type")?.stringValue } == ["imap", "pop3"])
        let outgoing = provider.elements(forName: "outgoingServer")
        #expect(outgoing.map { $0.attribute(forName: "type")?.stringValue } == ["smtp"])
        let expected = [("mail.example.org", "993", "SSL"), ("mail.example.org", "110", "STARTTLS"), ("smtp.example.org", "587", "STARTTLS")]
        for (server, (host, port, socket)) in zip(incoming + outgoing, expected) {
            #expect(text(server, "hostname") == host)
            #expect(text(server, "port") == port)
            #expect(text(server, "socketType") == socket)
            #expect(text(server, "username") == "%EMAILADDRESS%")
            #expect(text(server, "authentication") == "password-cleartext")
            #expect(server.elements(forName: "password").isEmpty, "no password in the document")
        }
        let documentation = try #require(provider.elements(forName: "documentation").first)
        #expect(documentation.attribute(forName: "url")?.stringValue == "https://accounts.example.org/security")
    }

    @Test("implicit TLS exactly on 993, 995 and 465")
    func socketTypes() {
        for port in [993, 995, 465] { #expect(MailClientSetup.Server(.imap, host: "h", port: port).implicitTLS) }
        for port in [143, 110, 587, 25, 2525, 8993] { #expect(!MailClientSetup.Server(.imap, host: "h", port: port).implicitTLS) }
    }

    @Test("autodiscover: the 2006 envelope, Outlook's 2006a response, one Protocol per server")
    func autodiscover() throws {
        let document = MailClientSetup.autodiscover(address: "alice@example.org", servers: Self.servers)
        let root = try parse(document)
        #expect(root.localName == "Autodiscover")
        #expect(root.uri == "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006")
        let response = try #require(root.elements(forName: "Response").first)
        #expect(response.uri == "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a")
        let account = try #require(response.elements(forName: "Account").first)
        #expect(text(account, "AccountType") == "email")
        #expect(text(account, "Action") == "settings")
        let protocols = account.elements(forName: "Protocol")
        #expect(protocols.map { text($0, "Type") } == ["IMAP", "POP3", "SMTP"])
        let expected = [("mail.example.org", "993", "SSL"), ("mail.example.org", "110", "TLS"), ("smtp.example.org", "587", "TLS")]
        for (element, (host, port, encryption)) in zip(protocols, expected) {
            #expect(text(element, "Server") == host)
            #expect(text(element, "Port") == port)
            #expect(text(element, "LoginName") == "alice@example.org")
            #expect(text(element, "SPA") == "off")
            #expect(text(element, "SSL") == "on")
            #expect(text(element, "Encryption") == encryption)
            #expect(text(element, "AuthRequired") == "on")
        }
    }

    @Test("values holding markup are escaped and read back unchanged")
    func escaping() throws {
        let hostile = "a&b<c>\"d'e@ex&amp;<x/>.org"
        let servers = [MailClientSetup.Server(.imap, host: "h<&>\"'", port: 993)]
        let autoconfig = try parse(MailClientSetup.autoconfig(domain: hostile, displayName: hostile, servers: servers, documentation: hostile))
        let provider = try #require(autoconfig.elements(forName: "emailProvider").first)
        #expect(provider.attribute(forName: "id")?.stringValue == hostile)
        #expect(text(provider, "domain") == hostile)
        #expect(text(try #require(provider.elements(forName: "incomingServer").first), "hostname") == "h<&>\"'")

        let discovered = try parse(MailClientSetup.autodiscover(address: hostile, servers: servers))
        let login = discovered.elements(forName: "Response").first?.elements(forName: "Account").first?
            .elements(forName: "Protocol").first.flatMap { text($0, "LoginName") }
        #expect(login == hostile)
        #expect(MailClientSetup.escape("\u{0}x\u{1B}\ty") == "\u{FFFD}x\u{FFFD}&#9;y")
    }
}
