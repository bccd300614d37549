import Foundation
import PosternProtocols
import Testing

@Suite("Apple configuration profile")
struct AppleMailProfileTests {
    static let profile = AppleMailProfile(
        address: "alice@example.org", password: "abcdefghijkl",
        incoming: .init(host: "imap.example.org", port: 993), outgoing: .init(host: "smtp.example.org", port: 587),
        publicHost: "Mail.Example.org", profileUUID: UUID(uuidString: "5A0E0E51-2D0F-4E6A-9A43-5B1B0C35E001")!,
        mailUUID: UUID(uuidString: "5A0E0E51-2D0F-4E6A-9A43-5B1B0C35E002")!)

    /// The keys Apple's Device Management reference documents for the
    /// `com.apple.mail.managed` payload (Mail), and the payload keys common
    /// to every payload. Anything else in the payload would be a typo that
    /// the device silently ignores.
    static let documentedMailKeys: Set<String> = [
        "PayloadType", "PayloadVersion", "PayloadIdentifier", "PayloadUUID", "PayloadDisplayName", "PayloadDescription", "PayloadOrganization",
        "EmailAccountDescription", "EmailAccountName", "EmailAccountType", "EmailAddress",
        "IncomingMailServerAuthentication", "IncomingMailServerHostName", "IncomingMailServerIMAPPathPrefix", "IncomingMailServerPortNumber",
        "IncomingMailServerUseSSL", "IncomingMailServerUsername", "IncomingPassword",
        "OutgoingMailServerAuthentication", "OutgoingMailServerHostName", "OutgoingMailServerPortNumber", "OutgoingMailServerUseSSL",
        "OutgoingMailServerUsername", "OutgoingPassword", "OutgoingPasswordSameAsIncomingPassword",
        "PreventMove", "PreventAppSheet", "SMIMEEnabled", "allowMailDrop", "disableMailRecentsSyncing",
    ]

    static func decode(_ data: Data) throws -> [String: Any] {
        var format = PropertyListSerialization.PropertyListFormat.binary
        let plist = try #require(try PropertyListSerialization.propertyList(from: data, options: [], format: &format) as? [String: Any])
        #expect(format == .xml)
        return plist
    }

    @Test("a Configuration payload holding one com.apple.mail.managed payload with Apple's key names and the right values")
    func keys() throws {
        let data = try Self.profile.xml()
        #expect(String(decoding: data.prefix(38), as: UTF8.self) == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        let plist = try Self.decode(data)
        #expect(plist["PayloadType"] as? String == "Configuration")
        #expect(plist["PayloadVersion"] as? Int == 1)
        #expect(plist["PayloadIdentifier"] as? String == "org.example.mail.postern.5A0E0E51-2D0F-4E6A-9A43-5B1B0C35E001")
        #expect(plist["PayloadUUID"] as? String == "5A0E0E51-2D0F-4E6A-9A43-5B1B0C35E001")
        #expect(plist["PayloadDisplayName"] as? String == "Mail for alice@example.org")
        #expect(plist["PayloadRemovalDisallowed"] as? Bool == false)
        #expect((plist["PayloadDescription"] as? String)?.contains("Chat") == false)
        let content = try #require(plist["PayloadContent"] as? [[String: Any]])
        #expect(content.count == 1)
        let mail = content[0]
        #expect(Set(mail.keys).isSubset(of: Self.documentedMailKeys), "undocumented: \(Set(mail.keys).subtracting(Self.documentedMailKeys))")
        let expected: [String: AnyHashable] = [
            "PayloadType": "com.apple.mail.managed", "PayloadVersion": 1,
            "PayloadIdentifier": "org.example.mail.postern.mail.5A0E0E51-2D0F-4E6A-9A43-5B1B0C35E002",
            "PayloadUUID": "5A0E0E51-2D0F-4E6A-9A43-5B1B0C35E002",
            "EmailAccountType": "EmailTypeIMAP", "EmailAccountDescription": "alice@example.org", "EmailAddress": "alice@example.org",
            "IncomingMailServerHostName": "imap.example.org", "IncomingMailServerPortNumber": 993, "IncomingMailServerUseSSL": true,
            "IncomingMailServerUsername": "alice@example.org", "IncomingMailServerAuthentication": "EmailAuthPassword",
            "IncomingPassword": "abcdefghijkl",
            "OutgoingMailServerHostName": "smtp.example.org", "OutgoingMailServerPortNumber": 587, "OutgoingMailServerUseSSL": true,
            "OutgoingMailServerUsername": "alice@example.org", "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingPassword": "abcdefghijkl", "OutgoingPasswordSameAsIncomingPassword": true,
        ]
        for (key, value) in expected {
            #expect(mail[key] as? AnyHashable == value, "\(key)")
        }
        #expect(mail["PayloadDisplayName"] as? String == "Mail (alice@example.org)")
    }

    @Test("markup in an address stays text; a chat scope is mentioned")
    func escapingAndChat() throws {
        var profile = Self.profile
        profile.address = "a<b>&\"c\"@example.org"
        profile.mentionsChat = true
        profile.publicHost = "192.0.2.1"
        let plist = try Self.decode(try profile.xml())
        #expect(plist["PayloadDisplayName"] as? String == "Mail for a<b>&\"c\"@example.org")
        #expect((plist["PayloadDescription"] as? String)?.contains("Chat (XMPP) is not set up") == true)
        #expect((plist["PayloadIdentifier"] as? String)?.hasPrefix("1.2.0.192.postern.") == true)
    }
}
