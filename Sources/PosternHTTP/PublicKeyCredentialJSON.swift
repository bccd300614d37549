import Foundation
import PosternCore

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
