import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import PosternCore
import PosternHTTP

/// Renders the portal's Mustache templates. Templates are read from disk at
/// start (`Resources/templates`, or `templates_dir` when configured), so a
/// wording change needs no rebuild, only a restart.
public struct PortalViews: Sendable {
    let library: MustacheLibrary
    let keys: KeyRing

    public static var bundledTemplates: String { Bundle.module.resourceURL!.appendingPathComponent("templates").path }
    static var staticDirectory: String { Bundle.module.resourceURL!.appendingPathComponent("static").path }

    public init(directory: String = PortalViews.bundledTemplates, keys: KeyRing) async throws {
        library = try await MustacheLibrary(directory: directory)
        self.keys = keys
    }

    /// An HTML response for `template`, with the signed-in bar and the CSRF
    /// token filled in. Never cached: pages may hold secrets.
    func page(_ template: String, status: HTTPResponse.Status = .ok, context: PortalContext, data: [String: Any],
              cookies: [String] = []) throws -> Response {
        var values = data
        if let seed = context.csrfSeed { values["csrf"] = keys.csrfToken(seed: seed) }
        if let browser = context.browser {
            values["signedIn"] = true
            values["username"] = values["username"] ?? browser.account.username
        }
        guard let html = library.render(values, withTemplate: template) else {
            throw HTTPError(.internalServerError)
        }
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

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
