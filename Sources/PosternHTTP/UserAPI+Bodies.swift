import Foundation
import Hummingbird
import PosternCore

// The user API's request and response bodies, JSON in snake_case.
extension UserAPI {
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

    struct ResetRequest: Decodable { let username: String }
    struct Reauthentication: Decodable {
        let password: String
        let otp: String?
        let recoveryCode: String?
        let credential: PublicKeyCredentialJSON?
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
}
