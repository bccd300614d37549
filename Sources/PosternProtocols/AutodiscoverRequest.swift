import Foundation

/// An Outlook Autodiscover request, read by a strict scanner of our own.
///
/// The body comes from anyone on the internet, so it is read by the smallest
/// XML reader that does the job rather than by FoundationXML: on Linux that is
/// libxml2, whose handling of internal entities (the "billion laughs") and of
/// DTDs differs between versions and is not ours to test, and
/// `shouldResolveExternalEntities = false` covers only external ones. This
/// scanner has no DTD support at all, so there is nothing to switch off:
///
/// * any `<!` other than a comment or CDATA section (`<!DOCTYPE`, `<!ENTITY`,
///   `<!ELEMENT`…) is refused, and so is every `&name;` other than the five
///   predefined ones (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;`) and character
///   references to characters XML allows;
/// * the body is at most 16 KiB of UTF-8, nested at most 16 deep, so work is
///   linear in a small input;
/// * it must be well formed (one root, tags that match, quoted attributes),
///   and the elements it reads must be in Outlook's request namespace.
///
/// Only `Autodiscover/Request/EMailAddress` and
/// `Autodiscover/Request/AcceptableResponseSchema` are read; other elements
/// (`LegacyDN`…) are allowed and ignored.
public struct AutodiscoverRequest: Sendable, Equatable {
    /// The address, as sent, white space around it removed. Whether it is an
    /// address at all is the caller's question.
    public var emailAddress: String
    public var acceptableResponseSchema: String

    public static let maximumBytes = 16 * 1024
    static let maximumDepth = 16

    /// Why a body was refused. `message` is fixed text, safe to send back: it
    /// never quotes the body.
    public enum Problem: Error, Sendable, Equatable {
        case tooLarge
        case notUTF8
        /// A `<!DOCTYPE`, `<!ENTITY` or other declaration.
        case declaration
        /// An entity reference other than the five predefined, or a
        /// character reference to a character XML does not allow.
        case entity
        case malformed
        case tooDeep
        /// The root is not `Autodiscover` in the request namespace.
        case notAutodiscover
        case missing(String)
        case repeated(String)
        /// An `AcceptableResponseSchema` other than Outlook's 2006a.
        case unacceptableSchema

        public var message: String {
            switch self {
            case .tooLarge: "The request body is larger than 16 KiB."
            case .notUTF8: "The request body must be UTF-8."
            case .declaration: "Document type and entity declarations are not accepted."
            case .entity: "Only the predefined XML entities (&amp; &lt; &gt; &quot; &apos;) and character references are accepted."
            case .malformed: "The request body is not well-formed XML."
            case .tooDeep: "The request nests elements too deeply."
            case .notAutodiscover: "Send an Autodiscover request in the \(MailClientSetup.autodiscoverRequestSchema) namespace."
            case .missing(let element): "The request has no \(element)."
            case .repeated(let element): "The request has more than one \(element)."
            case .unacceptableSchema: "Only the response schema \(MailClientSetup.autodiscoverResponseSchema) is offered."
            }
        }
    }

    /// Reads a request body. Throws a `Problem` for anything but a well-formed
    /// Autodiscover request with one address that accepts Outlook's schema.
    public static func parse(_ body: [UInt8]) throws(Problem) -> AutodiscoverRequest {
        guard body.count <= maximumBytes else { throw .tooLarge }
        guard String(validating: body, as: UTF8.self) != nil else { throw .notUTF8 }
        var reader = Reader()
        var scanner = XMLScanner(body)
        while let event = try scanner.next() {
            try reader.take(event)
        }
        return try reader.finish()
    }

    /// Walks the events, keeping the open elements and their namespaces, and
    /// collects the text of the two elements it wants.
    struct Reader {
        struct Open {
            let name: String
            let namespace: String?
            let local: String
            let prefixes: [String: String]
        }

        var open: [Open] = []
        var rootDone = false
        var capturing: String?
        var text = ""
        var found: [String: String] = [:]

        static let wanted = ["EMailAddress", "AcceptableResponseSchema"]

        mutating func take(_ event: XMLScanner.Event) throws(Problem) {
            switch event {
            case .start(let name, let attributes, let empty):
                try start(name, attributes)
                if empty { try end(name) }
            case .end(let name):
                try end(name)
            case .text(let chunk):
                if open.isEmpty {
                    guard chunk.allSatisfy(\.isXMLSpace) else { throw .malformed }
                } else if capturing != nil {
                    text += chunk
                }
            }
        }

        mutating func start(_ name: String, _ attributes: [(String, String)]) throws(Problem) {
            guard !rootDone, capturing == nil else { throw .malformed }
            guard open.count < AutodiscoverRequest.maximumDepth else { throw .tooDeep }
            var prefixes = open.last?.prefixes ?? [:]
            for (attribute, value) in attributes {
                if attribute == "xmlns" { prefixes[""] = value }
                if attribute.hasPrefix("xmlns:") { prefixes[String(attribute.dropFirst(6))] = value }
            }
            let (prefix, local) = Self.split(name)
            guard let namespace = prefixes[prefix ?? ""] ?? (prefix == nil ? "" : nil) else { throw .malformed }  // unbound prefix
            let inRequest = namespace == MailClientSetup.autodiscoverRequestSchema
            if open.isEmpty, !(inRequest && local == "Autodiscover") { throw .notAutodiscover }
            let path = open.map(\.local) + [local]
            if inRequest, path.count == 3, path[1] == "Request", open.allSatisfy({ $0.namespace == namespace }),
               Self.wanted.contains(local) {
                guard found[local] == nil else { throw .repeated(local) }
                capturing = local
                text = ""
            }
            open.append(Open(name: name, namespace: namespace, local: local, prefixes: prefixes))
        }

        mutating func end(_ name: String) throws(Problem) {
            guard let top = open.popLast(), top.name == name else { throw .malformed }
            if let element = capturing {
                found[element] = text.trimmingCharacters(in: .xmlSpace)
                capturing = nil
            }
            if open.isEmpty { rootDone = true }
        }

        func finish() throws(Problem) -> AutodiscoverRequest {
            guard rootDone, open.isEmpty else { throw .malformed }
            guard let address = found["EMailAddress"], !address.isEmpty else { throw .missing("EMailAddress") }
            guard let schema = found["AcceptableResponseSchema"] else { throw .missing("AcceptableResponseSchema") }
            guard schema == MailClientSetup.autodiscoverResponseSchema else { throw .unacceptableSchema }
            return AutodiscoverRequest(emailAddress: address, acceptableResponseSchema: schema)
        }

        static func split(_ name: String) -> (prefix: String?, local: String) {
            guard let colon = name.firstIndex(of: ":") else { return (nil, name) }
            return (String(name[..<colon]), String(name[name.index(after: colon)...]))
        }
    }
}

extension Character {
    var isXMLSpace: Bool { self == " " || self == "\t" || self == "\n" || self == "\r" || self == "\r\n" }
}

extension CharacterSet {
    static let xmlSpace = CharacterSet(charactersIn: " \t\r\n")
}
