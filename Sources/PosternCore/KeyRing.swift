import Crypto
import Foundation

/// The server secret key and the purpose-bound keys derived from it.
///
/// The 32-byte server key lives in a file, never in the database. Each use gets
/// its own key through HKDF-SHA256, so no two purposes ever share key material.
public struct KeyRing: Sendable {
    public let appPasswordKey: SymmetricKey
    public let passwordCacheKey: SymmetricKey
    public let secretBoxKey: SymmetricKey
    public let csrfKey: SymmetricKey
    public let recoveryCodeKey: SymmetricKey
    /// Keys the names the guard counts failures under, so names that exist
    /// and names that don't are counted alike and never stored in clear.
    public let throttleNameKey: SymmetricKey
    /// Digests device-setup link tokens (`DeviceSetupToken.digest`).
    public let deviceSetupKey: SymmetricKey
    /// A public fingerprint of the server key, safe to store and show.
    public let fingerprint: String

    public init(serverKey: [UInt8]) {
        precondition(serverKey.count == 32, "the server key is 32 bytes")
        let master = SymmetricKey(data: serverKey)
        func derive(_ purpose: String) -> SymmetricKey {
            HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Data("postern \(purpose) v1".utf8), outputByteCount: 32)
        }
        appPasswordKey = derive("app-password digest")
        passwordCacheKey = derive("verified-password cache")
        secretBoxKey = derive("secret box")
        csrfKey = derive("csrf")
        recoveryCodeKey = derive("recovery code")
        throttleNameKey = derive("throttle name")
        deviceSetupKey = derive("device-setup token")
        let print = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Data("postern key fingerprint v1".utf8), outputByteCount: 16)
        fingerprint = print.withUnsafeBytes { Base32.encode($0).lowercased() }
    }

    /// The CSRF token for a seed: HMAC, base64url.
    public func csrfToken(seed: String) -> String {
        Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Data(seed.utf8), using: csrfKey))
    }

    /// Seals a secret (a TOTP key) for storage with AES-256-GCM. The account id
    /// is bound as associated data, so a sealed value moved to another account
    /// does not open.
    public func seal(_ secret: [UInt8], accountID: String) throws -> Data {
        let box = try AES.GCM.seal(secret, using: secretBoxKey, authenticating: Data(accountID.utf8))
        return box.combined!
    }

    public func open(_ sealed: Data, accountID: String) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return Array(try AES.GCM.open(box, using: secretBoxKey, authenticating: Data(accountID.utf8)))
    }
}
