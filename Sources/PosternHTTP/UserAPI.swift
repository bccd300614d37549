import Foundation
import Hummingbird
import PosternCore

/// The user JSON API under `/api/v1`, on the portal listener. Authenticated
/// with the bearer token that `POST /api/v1/sessions` returns.
public struct UserAPI: Sendable {
    public let accounts: AccountService
    /// Reverse proxies whose `X-Forwarded-For` names the real client.
    public let trustedProxies: Set<String>

    public init(accounts: AccountService, trustedProxies: Set<String> = []) {
        self.accounts = accounts
        self.trustedProxies = trustedProxies
    }

    // MARK: - Request and response bodies

    struct Credentials: Decodable {
        let username: String
        let password: String
        let otp: String?
        let recoveryCode: String?
    }

    struct KeyRegistration: Decodable {
        let name: String
        let credential: PublicKeyCredentialJSON
    }

    struct KeySignIn: Decodable {
        let mfaToken: String
        let credential: PublicKeyCredentialJSON
    }

    struct KeyInfo: Encodable {
        let key: SecurityKey
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(Base64URL.encode(key.credentialID), forKey: .id)
            try c.encode(key.name, forKey: .name)
            try c.encode(key.createdAt, forKey: .createdAt)
            try c.encode(key.lastUsedAt, forKey: .lastUsedAt)
        }
        enum CodingKeys: CodingKey { case id, name, createdAt, lastUsedAt }
    }

    struct CreatedAccount: Encodable {
        let id: String
        let username: String
    }

    struct CreatedSession: Encodable {
        let token: String
        let expiresAt: Date
    }

    struct AccountInfo: Encodable {
        let username: String
        let mfaEnabled: Bool
        let createdAt: Date
    }

    struct PasswordChange: Decodable {
        let currentPassword: String
        let newPassword: String
        let revokeAppPasswords: Bool?
    }

    struct Enrolment: Encodable {
        let secret: String
        let otpauthUri: String
    }

    struct Code: Decodable {
        let code: String
    }

    struct PasswordAndCode: Decodable {
        let password: String
        let code: String
    }

    struct NewAppPassword: Decodable {
        let name: String
        let protocols: [String]?
        let expiresAt: String?
    }

    struct IssuedBody: Encodable {
        let id: String
        let name: String
        let password: String
        let protocols: [String]
        let createdAt: Date
        let expiresAt: Date?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(name, forKey: .name)
            try c.encode(password, forKey: .password)
            try c.encode(protocols, forKey: .protocols)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(expiresAt, forKey: .expiresAt)
        }
        enum CodingKeys: CodingKey { case id, name, password, protocols, createdAt, expiresAt }
    }

    /// One app password in a list: never the password or its digest.
    struct AppPasswordItem: Encodable {
        let record: AppPasswordRecord

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(record.id, forKey: .id)
            try c.encode(record.name, forKey: .name)
            try c.encode(UserAPI.protocolNames(record.protocols), forKey: .protocols)
            try c.encode(record.createdAt, forKey: .createdAt)
            try c.encode(record.expiresAt, forKey: .expiresAt)
            try c.encode(record.lastUse?.at, forKey: .lastUsedAt)
            try c.encode(record.lastUse?.clientIP, forKey: .lastUsedIp)
            try c.encode(record.lastUse?.loginProtocol.rawValue, forKey: .lastUsedProtocol)
        }
        enum CodingKeys: CodingKey { case id, name, protocols, createdAt, expiresAt, lastUsedAt, lastUsedIp, lastUsedProtocol }
    }

    static func protocolNames(_ protocols: Set<LoginProtocol>) -> [String] {
        LoginProtocol.allCases.filter(protocols.contains).map(\.rawValue)
    }

    static func parseDate(_ text: String) throws -> Date {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        throw PosternError.invalidExpiry
    }

    static let noContent = Response(status: .noContent)

    struct ResetRequest: Decodable { let username: String }
    struct Reauthentication: Decodable {
        let password: String
        let otp: String?
        let recoveryCode: String?
    }
    struct ResetCompletion: Decodable {
        let token: String
        let newPassword: String
        let otp: String?
        let recoveryCode: String?
        let credential: PublicKeyCredentialJSON?
    }
    struct ResetToken: Decodable { let token: String }

    struct ActivityEvent: Encodable {
        let id: String
        let at: Date
        let category: String
        let kind: String
        let result: String
        let summary: String
        let clientIp: String?
        let `protocol`: String?
        let appPasswordId: String?

        init(_ entry: ActivityEntry) {
            id = entry.id
            at = entry.at
            category = entry.category.rawValue
            kind = entry.kind
            result = entry.result
            summary = entry.summary
            clientIp = entry.clientIP
            self.protocol = entry.loginProtocol
            appPasswordId = entry.appPasswordID
        }

        enum CodingKeys: String, CodingKey {
            case id, at, category, kind, result, summary, clientIp, `protocol`, appPasswordId
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(at, forKey: .at)
            try c.encode(category, forKey: .category)
            try c.encode(kind, forKey: .kind)
            try c.encode(result, forKey: .result)
            try c.encode(summary, forKey: .summary)
            try c.encode(clientIp, forKey: .clientIp)
            try c.encode(self.protocol, forKey: .protocol)
            try c.encode(appPasswordId, forKey: .appPasswordId)
        }
    }

    struct ActivityPage: Encodable {
        let events: [ActivityEvent]
        let nextCursor: String?

        enum CodingKeys: String, CodingKey { case events, nextCursor }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(events, forKey: .events)
            try c.encode(nextCursor, forKey: .nextCursor)
        }
    }

    // MARK: - Routes

    public func addRoutes(to router: Router<PortalContext>) {
        let api = router.group("api/v1")
        api.post("accounts") { request, _ in
            let body = try await JSONBody.decode(Credentials.self, from: request)
            let account = try await accounts.createAccount(username: body.username, password: body.password)
            return JSONBody.response(.created, CreatedAccount(id: account.id, username: account.username))
        }
        api.post("sessions") { request, context in
            let body = try await JSONBody.decode(Credentials.self, from: request)
            switch try await accounts.signInForAPI(username: body.username, password: body.password, otp: body.otp,
                                                   recoveryCode: body.recoveryCode, clientIP: context.peerAddress) {
            case .signedIn(let token, let session):
                return JSONBody.response(.created, CreatedSession(token: token, expiresAt: session.expiresAt))
            case .secondFactorRequired(let methods, let mfaToken, let webauthn):
                var answer: [String: Any] = ["error": PosternError.otpRequired.code, "message": PosternError.otpRequired.message,
                                             "methods": methods, "mfa_token": mfaToken]
                if let webauthn { answer["webauthn"] = webauthn }
                return JSONBody.object(.unauthorized, answer)
            }
        }
        api.post("sessions/webauthn") { request, context in
            let body = try await JSONBody.decode(KeySignIn.self, from: request)
            try body.credential.checkType()
            let (token, session) = try await accounts.completeSignInWithKey(
                pendingToken: body.mfaToken, credentialID: try body.credential.bytes(body.credential.credentialID, "rawId"),
                clientDataJSON: try body.credential.bytes(body.credential.response.clientDataJSON, "response.clientDataJSON"),
                authenticatorData: try body.credential.bytes(body.credential.response.authenticatorData, "response.authenticatorData"),
                signature: try body.credential.bytes(body.credential.response.signature, "response.signature"),
                clientIP: context.peerAddress)
            return JSONBody.response(.created, CreatedSession(token: token, expiresAt: session.expiresAt))
        }

        api.post("password-reset") { request, context in
            let body = try await JSONBody.decode(ResetRequest.self, from: request)
            // Bounded per name and source, alike for every name (429 past it).
            try await accounts.admitPasswordReset(username: body.username, clientIP: context.peerAddress)
            // Answered at once and alike for every name; the work happens after.
            let accounts = self.accounts
            Task { await accounts.requestPasswordReset(username: body.username) }
            return JSONBody.response(.accepted, ["status": "If the account exists, a reset link is on its way."])
        }
        api.post("password-reset/complete") { request, _ in
            let body = try await JSONBody.decode(ResetCompletion.self, from: request)
            try await accounts.completePasswordReset(token: body.token, newPassword: body.newPassword, otp: body.otp,
                                                     recoveryCode: body.recoveryCode, key: try body.credential?.assertion())
            return Self.noContent
        }
        api.post("password-reset/webauthn") { request, _ in
            let body = try await JSONBody.decode(ResetToken.self, from: request)
            guard let options = try await accounts.beginResetKeyAssertion(token: body.token) else {
                throw APIError(.notFound, "no_security_key", "The link is invalid, used or expired, or the account has no security key.")
            }
            return JSONBody.object(.ok, options)
        }

        let signedIn = api.group(context: SignedInContext.self)
        signedIn.get("activity") { request, context in
            let limit = try request.uri.queryParameters["limit"].map { text -> Int in
                guard let value = Int(text), (1...200).contains(value) else {
                    throw APIError(.badRequest, "invalid_limit", "limit must be a whole number from 1 to 200.")
                }
                return value
            } ?? 50
            var categories: Set<ActivityEntry.Category>?
            if let text = request.uri.queryParameters["category"], !text.isEmpty {
                categories = try Set(text.split(separator: ",").map { name in
                    guard let category = ActivityEntry.Category(rawValue: String(name)) else {
                        throw APIError(.badRequest, "invalid_category", "category must be sign_in, protocol_login or change (comma-separated).")
                    }
                    return category
                })
            }
            let cursor = try request.uri.queryParameters["cursor"].map { text -> AuditCursor in
                guard let cursor = ActivityCursor.decode(String(text)) else {
                    throw APIError(.badRequest, "invalid_cursor", "cursor must be a next_cursor value from an earlier answer.")
                }
                return cursor
            }
            let page = try await accounts.activity(account: context.account, before: cursor, categories: categories, limit: limit)
            return JSONBody.response(.ok, ActivityPage(events: page.entries.map(ActivityEvent.init), nextCursor: page.next.map(ActivityCursor.encode)))
        }
        signedIn.delete("sessions/current") { _, context in
            try await accounts.signOut(session: context.session)
            return Self.noContent
        }
        signedIn.post("sessions/current/reauthenticate") { request, context in
            let body = try await JSONBody.decode(Reauthentication.self, from: request)
            try await accounts.reauthenticate(session: context.session, account: context.account, password: body.password,
                                              otp: body.otp, recoveryCode: body.recoveryCode)
            return Self.noContent
        }
        signedIn.get("account") { _, context in
            JSONBody.response(.ok, AccountInfo(username: context.account.username, mfaEnabled: context.account.mfaEnabled,
                                               createdAt: context.account.createdAt))
        }
        signedIn.put("account/password") { request, context in
            try requireRecentProof(context)
            let body = try await JSONBody.decode(PasswordChange.self, from: request)
            try await accounts.changePassword(account: context.account, current: body.currentPassword, new: body.newPassword,
                                              keepingSession: context.session.tokenDigest,
                                              revokeAppPasswords: body.revokeAppPasswords ?? false)
            return Self.noContent
        }
        signedIn.post("mfa/totp") { _, context in
            try requireRecentProof(context)
            let enrolment = try await accounts.beginTOTP(account: context.account)
            return JSONBody.response(.ok, Enrolment(secret: enrolment.secretBase32, otpauthUri: enrolment.otpauthURI))
        }
        signedIn.post("mfa/totp/confirm") { request, context in
            let body = try await JSONBody.decode(Code.self, from: request)
            try await accounts.confirmTOTP(account: context.account, code: body.code)
            return Self.noContent
        }
        signedIn.delete("mfa/totp") { request, context in
            try requireRecentProof(context)
            let body = try await JSONBody.decode(PasswordAndCode.self, from: request)
            try await accounts.disableTOTP(account: context.account, password: body.password, code: body.code)
            return Self.noContent
        }
        signedIn.post("mfa/webauthn/registrations") { _, context in
            try requireRecentProof(context)
            return JSONBody.object(.ok, try await accounts.beginKeyRegistration(account: context.account))
        }
        signedIn.post("mfa/webauthn/registrations/finish") { request, context in
            let body = try await JSONBody.decode(KeyRegistration.self, from: request)
            try body.credential.checkType()
            let key = try await accounts.finishKeyRegistration(
                account: context.account, name: body.name,
                clientDataJSON: try body.credential.bytes(body.credential.response.clientDataJSON, "response.clientDataJSON"),
                attestationObject: try body.credential.bytes(body.credential.response.attestationObject, "response.attestationObject"))
            return JSONBody.response(.created, KeyInfo(key: key))
        }
        signedIn.get("mfa/webauthn") { _, context in
            JSONBody.response(.ok, try await accounts.securityKeys(account: context.account).map(KeyInfo.init))
        }
        signedIn.delete("mfa/webauthn/:id") { _, context in
            guard let id = Base64URL.decode(try context.parameters.require("id")) else { throw PosternError.notFound }
            try await accounts.removeSecurityKey(account: context.account, session: context.session, credentialID: id)
            return Self.noContent
        }
        signedIn.post("mfa/recovery-codes") { _, context in
            try requireRecentProof(context)
            return JSONBody.object(.ok, ["codes": try await accounts.generateRecoveryCodes(account: context.account)])
        }
        signedIn.get("mfa/recovery-codes") { _, context in
            JSONBody.object(.ok, ["remaining": try await accounts.remainingRecoveryCodes(account: context.account)])
        }
        signedIn.get("app-passwords") { _, context in
            let records = try await accounts.listAppPasswords(account: context.account)
            return JSONBody.response(.ok, records.map(AppPasswordItem.init))
        }
        signedIn.post("app-passwords") { request, context in
            try requireRecentProof(context)
            let body = try await JSONBody.decode(NewAppPassword.self, from: request)
            let expiresAt = try body.expiresAt.map(Self.parseDate)
            let issued = try await accounts.createAppPassword(account: context.account, name: body.name, protocols: body.protocols,
                                                              expiresAt: expiresAt)
            return JSONBody.response(.created, IssuedBody(id: issued.record.id, name: issued.record.name, password: issued.password,
                                                          protocols: Self.protocolNames(issued.record.protocols),
                                                          createdAt: issued.record.createdAt, expiresAt: issued.record.expiresAt))
        }
        signedIn.delete("app-passwords/:id") { _, context in
            let id = try context.parameters.require("id")
            try await accounts.revokeAppPassword(account: context.account, id: id)
            return Self.noContent
        }
        signedIn.delete("app-passwords") { _, context in
            try await accounts.revokeAllAppPasswords(account: context.account)
            return Self.noContent
        }
    }

    /// Changes that add or remove a credential need the password (and second
    /// factor) proved within the re-authentication window, as in the portal:
    /// a stolen bearer token alone cannot mint an app password or enrol its
    /// own factor. `POST /api/v1/sessions/current/reauthenticate` renews it.
    func requireRecentProof(_ context: SignedInContext) throws {
        guard !accounts.needsReauthentication(context.session) else { throw PosternError.reauthenticationRequired }
    }

    /// The portal listener's router: `/healthz` and the user API.
    public func router() -> Router<PortalContext> {
        let router = Router(context: PortalContext.self)
        router.add(middleware: ForwardedForMiddleware(trusted: trustedProxies))
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: SessionMiddleware(accounts: accounts))
        router.add(middleware: RequestOriginMiddleware())
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        addRoutes(to: router)
        return router
    }
}

/// WebAuthn Level 3 `RegistrationResponseJSON` / `AuthenticationResponseJSON`:
/// the fields a relying party reads, base64url. Shared by the API and the portal.
public struct PublicKeyCredentialJSON: Decodable, Sendable {
    public struct Response: Decodable, Sendable {
        public let clientDataJSON: String
        public let attestationObject: String?
        public let authenticatorData: String?
        public let signature: String?
    }
    public let id: String
    public let rawId: String?
    public let type: String?
    public let response: Response

    /// The decoded bytes of a field, or `invalidRequest` naming it.
    public func bytes(_ text: String?, _ field: String) throws -> [UInt8] {
        guard let text, text.utf8.count <= 64 * 1024, let data = Base64URL.decode(text) else {
            throw PosternError.invalidRequest("credential.\(field) must be base64url.")
        }
        return Array(data)
    }

    public var credentialID: String { rawId ?? id }

    public func checkType() throws {
        guard type == "public-key" else { throw PosternError.invalidRequest("credential.type must be \"public-key\".") }
    }
}

/// An activity page's cursor, opaque to clients: base64url of "millis:id".
enum ActivityCursor {
    static func encode(_ cursor: AuditCursor) -> String {
        Base64URL.encode(Array("\(Int64(cursor.at.timeIntervalSince1970 * 1000)):\(cursor.id)".utf8))
    }

    static func decode(_ text: String) -> AuditCursor? {
        guard text.count <= 200, let bytes = Base64URL.decode(text), let plain = String(validating: bytes, as: UTF8.self),
              let colon = plain.firstIndex(of: ":"), let millis = Int64(plain[..<colon]) else { return nil }
        let id = String(plain[plain.index(after: colon)...])
        guard !id.isEmpty, id.count <= 64 else { return nil }
        return AuditCursor(at: Date(timeIntervalSince1970: Double(millis) / 1000), id: id)
    }
}

extension PublicKeyCredentialJSON {
    /// The inputs of an authentication ceremony, checked for shape.
    public func assertion() throws -> KeyAssertion {
        try checkType()
        return KeyAssertion(credentialID: try bytes(credentialID, "rawId"),
                            clientDataJSON: try bytes(response.clientDataJSON, "response.clientDataJSON"),
                            authenticatorData: try bytes(response.authenticatorData, "response.authenticatorData"),
                            signature: try bytes(response.signature, "response.signature"))
    }
}
