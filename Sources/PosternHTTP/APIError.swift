import Foundation
import Hummingbird
import Logging
import PosternCore

/// An error with its HTTP status and the JSON body `{"error", "message"}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(status, ErrorBody(error: code, message: message))
        response.headers.append(contentsOf: headers)
        return response
    }

    struct ErrorBody: Encodable {
        let error: String
        let message: String
    }

    static let unauthorized = APIError(.unauthorized, "unauthorized", "Sign in first: send the token from POST /api/v1/sessions as a bearer token.")
    static let unavailable = APIError(.serviceUnavailable, "unavailable", "The service is temporarily unavailable. Try again shortly.")

    /// The HTTP form of a core error.
    public static func from(_ error: PosternError) -> APIError {
        if let seconds = error.retryAfter {
            var throttled = APIError(.tooManyRequests, error.code, error.message)
            throttled.headers[.retryAfter] = String(seconds)
            return throttled
        }
        let status: HTTPResponse.Status = switch error {
        case .usernameTaken, .appPasswordNameTaken, .totpAlreadyEnabled: .conflict
        case .signupClosed: .forbidden
        case .invalidCredentials, .otpRequired: .unauthorized
        case .notFound, .invalidResetToken: .notFound
        case .appPasswordLimit, .deviceSetupLimit: .conflict
        case .deviceSetupGone: .gone
        case .totpNotPending, .totpNotEnabled, .securityKeyTaken, .adminNeedsFactor: .conflict
        case .reauthenticationRequired, .forbidden, .mfaSetupRequired: .forbidden
        default: .badRequest
        }
        return APIError(status, error.code, error.message)
    }
}

/// Turns core and store errors into JSON answers, and anything unexpected
/// into a 500 that says nothing of the internals. Logs carry error types and
/// request paths, never bodies (which hold passwords).
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as PosternError {
            return try APIError.from(error).response(from: request, context: context)
        } catch StoreError.unavailable(let detail) {
            context.logger.error("store unavailable", metadata: ["path": "\(LoggedPath.of(request))", "detail": "\(detail)"])
            return try APIError.unavailable.response(from: request, context: context)
        } catch StoreError.rejected {
            return try APIError(.badRequest, "invalid_request", "The request holds a value that cannot be stored.").response(from: request, context: context)
        } catch StoreError.conflict(let what) {
            return try APIError(.conflict, "conflict", "That conflicts with existing data (\(what)).").response(from: request, context: context)
        } catch let error as HTTPResponseError {
            let code = error.status == .notFound ? "not_found" : error.status == .contentTooLarge ? "body_too_large" : "http_error"
            return try APIError(error.status, code, error.status.reasonPhrase).response(from: request, context: context)
        } catch {
            context.logger.error("unexpected error", metadata: ["path": "\(LoggedPath.of(request))", "type": "\(type(of: error))"])
            return try APIError(.internalServerError, "internal_error", "Something went wrong on our side.").response(from: request, context: context)
        }
    }
}

/// JSON in and out, snake_case, ISO 8601 dates.
public enum JSONBody {
    public static let maximumBytes = 64 * 1024

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(.iso8601))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// For bodies whose shape is dynamic (WebAuthn options): a JSON object.
    public static func object(_ status: HTTPResponse.Status, _ body: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public static func response(_ status: HTTPResponse.Status, _ body: some Encodable, headers: HTTPFields = [:]) -> Response {
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes the request body as `T`. A body over 64 KiB is 413; anything
    /// that is not JSON of the right shape is 400 naming the first problem.
    public static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try decode(type, body: try await collect(request))
    }

    /// The request body, at most 64 KiB; 413 when it is longer.
    static func collect(_ request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: maximumBytes)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "The request body is larger than \(maximumBytes / 1024) KiB.")
        }
    }

    /// `decode(_:from:)` for a body already collected.
    static func decode<T: Decodable>(_ type: T.Type, body buffer: ByteBuffer) throws -> T {
        if buffer.readableBytes == 0 {
            throw APIError(.badRequest, "invalid_json", "Send a JSON object in the request body.")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError(.badRequest, "invalid_json", describe(error))
        } catch {
            throw APIError(.badRequest, "invalid_json", "The request body is not valid JSON.")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let joined = codingPath.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".")
            return joined.isEmpty ? "the body" : "\u{201C}\(joined)\u{201D}"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "Missing field \(path(context.codingPath + [key]))."
        case .typeMismatch(let type, let context):
            return "Field \(path(context.codingPath)) must be \(describe(type))."
        case .valueNotFound(let type, let context):
            return "Field \(path(context.codingPath)) must be \(describe(type)), not null."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "The request body is not valid JSON." : "Field \(path(context.codingPath)) is not valid."
        @unknown default:
            return "The request body is not valid."
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is [String].Type: "an array of strings"
        case is Bool.Type: "true or false"
        case is Int.Type, is Double.Type: "a number"
        default: "of the right type"
        }
    }

    static func snake(_ key: String) -> String {
        var out = ""
        for character in key {
            if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
        }
        return out
    }
}

/// A request's path as logs may hold it: a device-setup link's path is its
/// token, so it is cut to `/setup/…`.
public enum LoggedPath {
    public static func of(_ request: Request) -> String {
        let path = request.uri.path
        return path.hasPrefix("/setup/") ? "/setup/…" : path
    }
}
