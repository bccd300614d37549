import Foundation

/// The documents mail clients fetch to set up an account from an address
/// alone: Mozilla's autoconfig (Thunderbird, K-9, FairEmail, Evolution) and
/// Microsoft's "plain old XML" Autodiscover (Outlook and the clients that copy
/// it).
///
/// Both are pure functions of the domain, the servers and (for Autodiscover)
/// the address as asked: nothing here looks anything up, so one address of a
/// domain gets the same answer as any other, existing or not. Every value
/// placed in a document is escaped, since a domain or an address may hold
/// `&`, `<` or quotes.
public enum MailClientSetup {
    /// Where a client connects for one protocol.
    public struct Server: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            case imap, pop3, smtp
        }

        public var kind: Kind
        public var host: String
        public var port: Int

        public init(_ kind: Kind, host: String, port: Int) {
            self.kind = kind
            self.host = host
            self.port = port
        }

        /// TLS from the first byte (IMAPS, POP3S, SMTPS); on every other port
        /// the client must upgrade with STARTTLS. Nothing is ever offered in
        /// the clear: the password travels on this connection.
        public var implicitTLS: Bool { [993, 995, 465].contains(port) }
    }

    // MARK: - Mozilla autoconfig

    /// `config-v1.1.xml` in the ISPDB format (`clientConfig version="1.1"`).
    /// The username is Thunderbird's placeholder `%EMAILADDRESS%`, which the
    /// client fills in itself, so the document names no address at all.
    /// `documentation` is where users get an app password.
    public static func autoconfig(domain: String, displayName: String, servers: [Server], documentation: String?) -> String {
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<clientConfig version="1.1">"#,
            "  <emailProvider id=\"\(escape(domain))\">",
            "    <domain>\(escape(domain))</domain>",
            "    <displayName>\(escape(displayName))</displayName>",
            "    <displayShortName>\(escape(displayName))</displayShortName>",
        ]
        for server in servers {
            let element = server.kind == .smtp ? "outgoingServer" : "incomingServer"
            lines += [
                "    <\(element) type=\"\(server.kind.rawValue)\">",
                "      <hostname>\(escape(server.host))</hostname>",
                "      <port>\(server.port)</port>",
                "      <socketType>\(server.implicitTLS ? "SSL" : "STARTTLS")</socketType>",
                "      <username>%EMAILADDRESS%</username>",
                "      <authentication>password-cleartext</authentication>",
                "    </\(element)>",
            ]
        }
        if let documentation {
            lines += [
                "    <documentation url=\"\(escape(documentation))\">",
                "      <descr lang=\"en\">If your account uses two-factor authentication, sign in with an app password from this page.</descr>",
                "    </documentation>",
            ]
        }
        lines += ["  </emailProvider>", "</clientConfig>"]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Microsoft Autodiscover (POX)

    /// The namespace of an Outlook Autodiscover request.
    public static let autodiscoverRequestSchema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
    /// The one response schema served: Outlook's, for POP3, IMAP and SMTP
    /// accounts. (Exchange ActiveSync's `mobilesync` schema is not offered.)
    public static let autodiscoverResponseSchema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    static let autodiscoverEnvelopeSchema = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"

    /// The Autodiscover answer for `address`: an `email` account with
    /// `settings`, one `Protocol` per server. `LoginName` is the address
    /// itself, as the client sent it.
    ///
    /// `SSL` says whether secure logon is required (always `on`); `Encryption`
    /// (which Outlook prefers over `SSL` when present) says how: `SSL` for TLS
    /// from the first byte, `TLS` for STARTTLS. `SPA off` and `AuthRequired on`:
    /// the password is sent, inside TLS, and SMTP needs it too.
    public static func autodiscover(address: String, servers: [Server]) -> String {
        var lines = [
            #"<?xml version="1.0" encoding="utf-8"?>"#,
            "<Autodiscover xmlns=\"\(autodiscoverEnvelopeSchema)\">",
            "  <Response xmlns=\"\(autodiscoverResponseSchema)\">",
            "    <Account>",
            "      <AccountType>email</AccountType>",
            "      <Action>settings</Action>",
        ]
        for server in servers {
            lines += [
                "      <Protocol>",
                "        <Type>\(server.kind.rawValue.uppercased())</Type>",
                "        <Server>\(escape(server.host))</Server>",
                "        <Port>\(server.port)</Port>",
                "        <LoginName>\(escape(address))</LoginName>",
                "        <SPA>off</SPA>",
                "        <SSL>on</SSL>",
                "        <Encryption>\(server.implicitTLS ? "SSL" : "TLS")</Encryption>",
                "        <AuthRequired>on</AuthRequired>",
                "      </Protocol>",
            ]
        }
        lines += ["    </Account>", "  </Response>", "</Autodiscover>"]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Escaping

    /// `text` safe in element content and in a double- or single-quoted
    /// attribute. Characters XML 1.0 cannot carry at all (controls other than
    /// tab, newline and carriage return; lone surrogates cannot occur in a
    /// Swift string) become U+FFFD rather than an ill-formed document.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out += "&#\(scalar.value);"
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
