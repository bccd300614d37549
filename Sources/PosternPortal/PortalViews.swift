import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import PosternCore
import PosternHTTP

/// Renders the portal's Mustache templates. Templates are read from disk at
/// start (`Resources/templates`, or `templates_dir` when configured), so a
/// wording change needs no rebuild, only a restart.
///
/// Every `{{value}}` in every template is escaped by Unicode scalar
/// (`HTMLEscaping`), not by the library's default per-`Character` escaping,
/// which leaves a quote followed by a combining mark unescaped. That is done
/// here, when templates are loaded, so a new or customised template cannot
/// forget it: see `loadTemplates`.
public struct PortalViews: Sendable {
    let library: MustacheLibrary
    let keys: KeyRing

    public static var bundledTemplates: String { Bundle.module.resourceURL!.appendingPathComponent("templates").path }
    static var staticDirectory: String { Bundle.module.resourceURL!.appendingPathComponent("static").path }

    public init(directory: String = PortalViews.bundledTemplates, keys: KeyRing) async throws {
        library = try Self.loadTemplates(directory: directory)
        self.keys = keys
    }

    /// The content type every portal template renders with: HTML, escaped by
    /// Unicode scalar.
    struct ScalarHTMLContentType: MustacheContentType {
        func escapeText(_ text: String) -> String { HTMLEscaping.escape(text) }
    }

    /// Replaces the library's "HTML" content type with the scalar-safe one,
    /// once per process, before any template is parsed (the pragma below and
    /// any `{{% CONTENT_TYPE: HTML }}` a template writes resolve to it).
    static let scalarEscapingInstalled: Void = MustacheContentTypes.register(ScalarHTMLContentType(), named: "HTML")

    /// Written ahead of every template. The library's render context starts
    /// with its own per-`Character` HTML escaper, and starts over with it in
    /// each partial and parent template; a pragma first in each template
    /// switches to the scalar-safe one before any value is rendered. It is a
    /// standalone line, so it adds nothing to the output.
    static let escapingPragma = "{{% CONTENT_TYPE: HTML }}\n"

    /// Reads every `*.mustache` under `directory` (recursively; named by
    /// relative path without the extension, as partials refer to them), each
    /// behind `escapingPragma`.
    static func loadTemplates(directory: String) throws -> MustacheLibrary {
        _ = scalarEscapingInstalled
        var library = MustacheLibrary()
        let root = directory.hasSuffix("/") ? directory : directory + "/"
        guard let paths = FileManager.default.enumerator(atPath: root) else { return library }
        for case let path as String in paths where path.hasSuffix(".mustache") {
            guard let data = FileManager.default.contents(atPath: root + path) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            do {
                library.register(try MustacheTemplate(string: escapingPragma + text), named: String(path.dropLast(".mustache".count)))
            } catch let error as MustacheTemplate.ParserError {
                throw TemplateError(file: root + path, line: error.context.lineNumber - 1, column: error.context.columnNumber,
                                    problem: "\(error.error)")
            }
        }
        return library
    }

    /// A template that does not parse.
    public struct TemplateError: Error, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var column: Int
        public var problem: String
        public var description: String { "Template \(file), line \(line), column \(column): \(problem)." }
    }

    /// An HTML response for `template`, with the signed-in bar and the CSRF
    /// token filled in. Never cached: pages may hold secrets.
    func page(_ template: String, status: HTTPResponse.Status = .ok, context: some PortalPageContext, data: [String: Any],
              cookies: [String] = []) throws -> Response {
        var values = data
        if let seed = context.csrfSeed { values["csrf"] = keys.csrfToken(seed: seed) }
        if let account = context.signedInAccount {
            values["signedIn"] = true
            values["username"] = values["username"] ?? account.username
            values["isAdmin"] = account.isAdmin
        }
        guard let html = html(template, values) else {
            throw HTTPError(.internalServerError)
        }
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// `template` rendered with `values`, or nil if there is no such template.
    func html(_ template: String, _ values: [String: Any]) -> String? {
        library.render(values, withTemplate: template)
    }

    /// A refusal that ends by itself says when (`Retry-After`).
    static func withRetryAfter(_ response: Response, _ error: PosternError) -> Response {
        guard let seconds = error.retryAfter else { return response }
        var response = response
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    /// The messages a page shows for `?notice=` and `?done=` after a redirect.
    static let notices: [String: String] = [
        "password_changed": "Your password was changed. Your other sessions were signed out.",
        "mfa_on": "Two-step sign-in is on. Mail and chat apps now need app passwords.",
        "mfa_off": "Two-step sign-in is off.",
        "revoked": "The app password was revoked. Any app still using it can no longer sign in.",
        "revoked_all": "All app passwords were revoked.",
        "confirmed": "Thanks. You can make your change now.",
        "signed_out": "You have signed out.",
        "key_added": "Your security key was added. You can now sign in with it.",
        "key_removed": "The security key was removed.",
        "setup_cancelled": "The setup link was cancelled. It no longer works.",
        "expired": "Please sign in again.",
        "reset": "Your password was reset. Sign in with the new one.",
    ]

    /// `text` when it is a path on this site (one "/", then printable ASCII
    /// without a backslash), else nil: where a form may send the browser
    /// next without becoming an open redirect.
    static func localPath(_ text: String) -> String? {
        guard text.hasPrefix("/"), !text.hasPrefix("//"), text.utf8.count <= 1024,
              text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) else { return nil }
        return text
    }

    /// `text` as one path segment or query value: everything but letters,
    /// digits and `-._~@` percent-encoded (a username may hold `/`, `?` or `#`).
    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: segmentCharacters) ?? ""
    }

    static let segmentCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~@")

    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }

    static let dateStyle = Date.FormatStyle(date: .abbreviated, time: .shortened, timeZone: TimeZone(identifier: "UTC")!)

    static func display(_ date: Date) -> String { date.formatted(dateStyle) + " UTC" }
}

/// The static stylesheet and script, read once at start.
struct StaticFiles: Sendable {
    let files: [String: (type: String, body: String)]

    init() throws {
        var files: [String: (String, String)] = [:]
        for (name, type) in [("postern.css", "text/css; charset=utf-8"), ("postern.js", "text/javascript; charset=utf-8")] {
            files[name] = (type, try String(contentsOfFile: PortalViews.staticDirectory + "/" + name, encoding: .utf8))
        }
        self.files = files
    }

    func response(_ name: String) -> Response {
        guard let file = files[name] else { return Response(status: .notFound) }
        return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "public, max-age=3600"],
                        body: .init(byteBuffer: ByteBuffer(string: file.body)))
    }
}
