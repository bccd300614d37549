import Foundation

/// An Apple configuration profile (`.mobileconfig`) that adds one IMAP mail
/// account, with its password, to an iPhone, iPad or Mac.
///
/// Built as a property-list tree and serialised by Foundation, never from a
/// text template: an address or name with `<` or `&` in it cannot change the
/// document's shape. Pure: the caller passes the UUIDs and the password, and
/// signs the result if it wants to (`CMS` SignedData over these bytes).
///
/// Keys are Apple's, from the Device Management reference for the
/// `com.apple.mail.managed` payload (Mail) and the top-level `Configuration`.
public struct AppleMailProfile: Sendable, Equatable {
    /// A mail server as the device connects to it.
    public struct Server: Sendable, Equatable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The account's address; also its login name on both servers.
    public var address: String
    public var password: String
    public var incoming: Server
    public var outgoing: Server
    /// The portal's host, reversed into the payload identifiers
    /// (`mail.example.org` → `org.example.mail.postern.…`).
    public var publicHost: String
    /// Whether the password also opens chat, which a profile cannot set up:
    /// the profile's description then says so.
    public var mentionsChat: Bool
    public var profileUUID: UUID
    public var mailUUID: UUID

    public init(address: String, password: String, incoming: Server, outgoing: Server, publicHost: String, mentionsChat: Bool = false,
                profileUUID: UUID = UUID(), mailUUID: UUID = UUID()) {
        self.address = address
        self.password = password
        self.incoming = incoming
        self.outgoing = outgoing
        self.publicHost = publicHost
        self.mentionsChat = mentionsChat
        self.profileUUID = profileUUID
        self.mailUUID = mailUUID
    }

    /// The payload type of the one account inside the profile.
    public static let mailPayloadType = "com.apple.mail.managed"

    /// `mail.example.org` → `org.example.mail.postern`; a host that is an
    /// IP address or has odd characters keeps only letters, digits and
    /// hyphens per label, so the identifier stays reverse-DNS.
    public var identifierPrefix: String {
        let labels = publicHost.lowercased().split(separator: ".").map { label in
            String(label.unicodeScalars.filter { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
        }.filter { !$0.isEmpty }
        return (labels.reversed() + ["postern"]).joined(separator: ".")
    }

    /// The profile as a property-list tree.
    public var propertyList: [String: Any] {
        var profile: [String: Any] = [
            "PayloadType": "Configuration",
            "PayloadVersion": 1,
            "PayloadIdentifier": "\(identifierPrefix).\(profileUUID.uuidString)",
            "PayloadUUID": profileUUID.uuidString,
            "PayloadDisplayName": "Mail for \(address)",
            "PayloadRemovalDisallowed": false,
            "PayloadContent": [mailPayload],
        ]
        var description = "Adds the mail account \(address) with its own app password. Removing this profile removes the account."
        if mentionsChat {
            description += " Chat (XMPP) is not set up by this profile: enter the same address and app password in your chat app by hand."
        }
        profile["PayloadDescription"] = description
        return profile
    }

    /// The `com.apple.mail.managed` payload.
    ///
    /// `…UseSSL` is true on both servers whatever the port. Apple documents
    /// it only as "whether the server uses SSL for authentication"; Mail
    /// takes it as "TLS required" — implicit TLS on 993 and 465, STARTTLS on
    /// 143 and 587 (Apple's own iCloud settings list SMTP on 587 with SSL
    /// required). False would let Mail fall back to a plain connection when a
    /// network attacker strips STARTTLS, and send the app password in clear.
    var mailPayload: [String: Any] {
        [
            "PayloadType": Self.mailPayloadType,
            "PayloadVersion": 1,
            "PayloadIdentifier": "\(identifierPrefix).mail.\(mailUUID.uuidString)",
            "PayloadUUID": mailUUID.uuidString,
            "PayloadDisplayName": "Mail (\(address))",
            "EmailAccountType": "EmailTypeIMAP",
            "EmailAccountDescription": address,
            "EmailAddress": address,
            "IncomingMailServerHostName": incoming.host,
            "IncomingMailServerPortNumber": incoming.port,
            "IncomingMailServerUseSSL": true,
            "IncomingMailServerUsername": address,
            "IncomingMailServerAuthentication": "EmailAuthPassword",
            "IncomingPassword": password,
            "OutgoingMailServerHostName": outgoing.host,
            "OutgoingMailServerPortNumber": outgoing.port,
            "OutgoingMailServerUseSSL": true,
            "OutgoingMailServerUsername": address,
            "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingPassword": password,
            "OutgoingPasswordSameAsIncomingPassword": true,
        ]
    }

    /// The profile as an XML property list, ready to serve or to sign.
    public func xml() throws -> Data {
        try PropertyListSerialization.data(fromPropertyList: propertyList, format: .xml, options: 0)
    }
}
