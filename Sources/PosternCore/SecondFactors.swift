import Crypto
import Foundation
import PosternWebAuthn

/// Where WebAuthn ceremonies happen: the RP ID and origin come from the
/// public URL (`https://mail.example.org` → `mail.example.org`).
public struct WebAuthnSettings: Sendable {
    public let relyingParty: RelyingParty
    public let name: String
    public static let challengeLifetime: TimeInterval = 300

    public init(publicURL: String, name: String = "Postern") {
        let url = URL(string: publicURL)
        let host = url?.host ?? "localhost"
        let origin = "\(url?.scheme ?? "http")://\(host)" + (url?.port.map { ":\($0)" } ?? "")
        relyingParty = RelyingParty(id: host, origin: origin)
        self.name = name
    }
}

/// What the browser passes to `navigator.credentials.create` or `.get`, as
/// WebAuthn Level 3's `…OptionsJSON` (base64url fields).
public typealias WebAuthnOptions = [String: any Sendable]

/// Recovery codes: ten, each 70 bits from the CSPRNG in Crockford base32,
/// shown as `xxxxx-xxxxx-xxxx`, stored as salted keyed hashes, used once.
public enum RecoveryCodeFormat {
    public static let count = 10
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")

    public static func generate() -> String {
        let raw = Secrets.randomString(length: 14, alphabet: alphabet)
        let chars = Array(raw)
        return String(chars[0..<5]) + "-" + String(chars[5..<10]) + "-" + String(chars[10..<14])
    }

    /// Lower case, separators removed, and the letters people confuse with
    /// digits read as those digits.
    public static func normalise(_ input: String) -> String? {
        var out = ""
        for character in input.lowercased() where character != "-" && character != " " {
            switch character {
            case "i", "l": out.append("1")
            case "o": out.append("0")
            default:
                guard alphabet.contains(character) else { return nil }
                out.append(character)
            }
        }
        return out.count == 14 ? out : nil
    }

    static func hash(_ normalised: String, salt: Data, keys: KeyRing) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: salt + Data(normalised.utf8), using: keys.recoveryCodeKey))
    }
}

extension AccountService {
    // MARK: - Security keys (WebAuthn)

    /// Starts registering a key: a fresh 32-byte challenge, kept for 5
    /// minutes, and the creation options for the browser.
    public func beginKeyRegistration(account: Account) async throws -> WebAuthnOptions {
        let challenge = try await issueChallenge(account: account, purpose: .registration)
        let existing = try await store.securityKeys(accountID: account.id)
        return ["publicKey": [
            "rp": ["id": webAuthn.relyingParty.id, "name": webAuthn.name],
            "user": ["id": Base64URL.encode(Array(account.id.utf8)), "name": account.username, "displayName": account.username],
            "challenge": Base64URL.encode(challenge),
            "pubKeyCredParams": COSEKey.Algorithm.allCases.map { ["type": "public-key", "alg": $0.rawValue] as [String: any Sendable] },
            "timeout": Int(WebAuthnSettings.challengeLifetime * 1000),
            "excludeCredentials": existing.map { ["type": "public-key", "id": Base64URL.encode($0.credentialID)] as [String: any Sendable] },
            "authenticatorSelection": ["residentKey": "preferred", "userVerification": "preferred"],
            "attestation": "none",
        ] as [String: any Sendable]]
    }

    /// Verifies a registration response (§7.1) against the challenge it
    /// answers, which is consumed, and stores the key.
    public func finishKeyRegistration(account: Account, name rawName: String, clientDataJSON: [UInt8], attestationObject: [UInt8]) async throws -> SecurityKey {
        let name = try AppPasswordFormat.validName(rawName)
        let challenge = try await consumeChallenge(account: account, purpose: .registration, clientDataJSON: clientDataJSON)
        let credential: RegisteredCredential
        do {
            credential = try webAuthn.relyingParty.verifyRegistration(clientDataJSON: clientDataJSON, attestationObject: attestationObject,
                                                                       challenge: Array(challenge))
        } catch {
            throw PosternError.securityKeyRejected
        }
        let now = clock.now
        let key = SecurityKey(credentialID: Data(credential.id), accountID: account.id, name: name, publicKey: Data(credential.publicKey),
                              algorithm: credential.algorithm, signCount: credential.signCount, createdAt: now)
        do {
            try await store.addSecurityKey(key, audit: changeEvent(.securityKeyAdded, account, .securityKeyAdded(name: name), reason: name))
        } catch StoreError.conflict {
            throw PosternError.securityKeyTaken
        }
        return key
    }

    public func securityKeys(account: Account) async throws -> [SecurityKey] {
        try await store.securityKeys(accountID: account.id)
    }

    /// Removes a key. Removing the last second factor needs a recent
    /// sign-in; without one the store decides "not the last" in the same
    /// transaction as the removal, so two concurrent removals cannot take
    /// the last two keys.
    public func removeSecurityKey(account: Account, session: Session, credentialID: Data) async throws {
        let audit = changeEvent(.securityKeyRemoved, account, .securityKeyRemoved)
        // An administrator keeps a factor: the removal is refused when it is the last.
        if account.isAdmin {
            switch try await store.removeSecurityKeyUnlessLast(credentialID: credentialID, accountID: account.id, audit: audit) {
            case .removed: return
            case .notFound: throw PosternError.notFound
            case .lastFactor: throw PosternError.adminNeedsFactor
            }
        }
        if !needsReauthentication(session) {
            guard try await store.removeSecurityKey(credentialID: credentialID, accountID: account.id, audit: audit) else { throw PosternError.notFound }
            return
        }
        switch try await store.removeSecurityKeyUnlessLast(credentialID: credentialID, accountID: account.id, audit: audit) {
        case .removed: return
        case .notFound: throw PosternError.notFound
        case .lastFactor: throw PosternError.reauthenticationRequired
        }
    }

    /// Request options for signing in with one of the account's keys, or nil
    /// when it has none.
    public func beginKeyAssertion(account: Account) async throws -> WebAuthnOptions? {
        let keys = try await store.securityKeys(accountID: account.id)
        guard !keys.isEmpty else { return nil }
        let challenge = try await issueChallenge(account: account, purpose: .authentication)
        return ["publicKey": [
            "challenge": Base64URL.encode(challenge),
            "rpId": webAuthn.relyingParty.id,
            "timeout": Int(WebAuthnSettings.challengeLifetime * 1000),
            "allowCredentials": keys.map { ["type": "public-key", "id": Base64URL.encode($0.credentialID)] as [String: any Sendable] },
            "userVerification": "preferred",
        ] as [String: any Sendable]]
    }

    /// Verifies an assertion (§7.2) from one of the account's keys against the
    /// challenge it answers (consumed), and records the new counter, which
    /// must grow. False for any failure.
    func verifyKeyAssertion(account: Account, credentialID: [UInt8], clientDataJSON: [UInt8], authenticatorData: [UInt8],
                            signature: [UInt8]) async throws -> Bool {
        guard let key = try await store.securityKeys(accountID: account.id).first(where: { $0.credentialID == Data(credentialID) }),
              let challenge = try? await consumeChallenge(account: account, purpose: .authentication, clientDataJSON: clientDataJSON)
        else { return false }
        let count: UInt32
        do {
            count = try webAuthn.relyingParty.verifyAuthentication(
                clientDataJSON: clientDataJSON, authenticatorData: authenticatorData, signature: signature, challenge: Array(challenge),
                publicKey: Array(key.publicKey), storedSignCount: key.signCount)
        } catch {
            return false
        }
        return try await store.useSecurityKey(credentialID: key.credentialID, accountID: account.id, signCount: count, at: clock.now)
    }

    private func issueChallenge(account: Account, purpose: Challenge.Purpose) async throws -> [UInt8] {
        let bytes = Secrets.randomBytes(32)
        try await store.saveChallenge(Challenge(id: Base64URL.encode(bytes), accountID: account.id, purpose: purpose, bytes: Data(bytes),
                                                expiresAt: clock.now.addingTimeInterval(WebAuthnSettings.challengeLifetime)))
        return bytes
    }

    /// The challenge a client-data JSON names, taken from the store (so it
    /// answers once). Throws `securityKeyRejected` when there is none.
    private func consumeChallenge(account: Account, purpose: Challenge.Purpose, clientDataJSON: [UInt8]) async throws -> Data {
        guard clientDataJSON.count <= 16 * 1024,
              let object = (try? JSONSerialization.jsonObject(with: Data(clientDataJSON))) as? [String: Any],
              let named = object["challenge"] as? String, named.utf8.count <= 64,
              let challenge = try await store.takeChallenge(id: named, accountID: account.id, purpose: purpose, now: clock.now)
        else { throw PosternError.securityKeyRejected }
        return challenge.bytes
    }

    // MARK: - Recovery codes

    /// A new set of ten codes, replacing any earlier set. Returned once.
    public func generateRecoveryCodes(account: Account) async throws -> [String] {
        let codes = (0..<RecoveryCodeFormat.count).map { _ in RecoveryCodeFormat.generate() }
        let records = codes.map { code -> RecoveryCodeRecord in
            let salt = Data(Secrets.randomBytes(16))
            return RecoveryCodeRecord(id: Secrets.newIdentifier(), accountID: account.id, salt: salt,
                                      hash: RecoveryCodeFormat.hash(RecoveryCodeFormat.normalise(code)!, salt: salt, keys: keys))
        }
        try await store.replaceRecoveryCodes(accountID: account.id, codes: records,
                                             audit: changeEvent(.recoveryCodesGenerated, account, .recoveryCodesGenerated))
        return codes
    }

    public func remainingRecoveryCodes(account: Account) async throws -> Int {
        try await store.unusedRecoveryCodes(accountID: account.id).count
    }

    /// Uses a recovery code: true once per code, even for concurrent requests.
    func consumeRecoveryCode(account: Account, code: String) async throws -> Bool {
        guard let normalised = RecoveryCodeFormat.normalise(code) else { return false }
        var matched: RecoveryCodeRecord?
        for record in try await store.unusedRecoveryCodes(accountID: account.id) {
            // Every stored code is compared, so timing does not tell which matched.
            if Secrets.constantTimeEquals(Array(RecoveryCodeFormat.hash(normalised, salt: record.salt, keys: keys)), Array(record.hash)),
               matched == nil {
                matched = record
            }
        }
        guard let matched else { return false }
        let remaining = try await store.unusedRecoveryCodes(accountID: account.id).count - 1
        return try await store.burnRecoveryCode(id: matched.id, accountID: account.id, at: clock.now,
                                                audit: changeEvent(.recoveryCodeUsed, account, .recoveryCodeUsed(remaining: max(0, remaining))))
    }

    /// The second factors an account can sign in with.
    public func secondFactorMethods(account: Account) async throws -> Set<SecondFactorMethod> {
        var methods: Set<SecondFactorMethod> = []
        if try await store.totpFactor(accountID: account.id)?.confirmedAt != nil { methods.insert(.totp) }
        if try await !store.securityKeys(accountID: account.id).isEmpty { methods.insert(.webauthn) }
        if try await !store.unusedRecoveryCodes(accountID: account.id).isEmpty { methods.insert(.recoveryCode) }
        return methods
    }
}

/// A security key's answer to an authentication challenge (WebAuthn §7.2 inputs).
public struct KeyAssertion: Sendable {
    public var credentialID: [UInt8]
    public var clientDataJSON: [UInt8]
    public var authenticatorData: [UInt8]
    public var signature: [UInt8]

    public init(credentialID: [UInt8], clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8]) {
        self.credentialID = credentialID
        self.clientDataJSON = clientDataJSON
        self.authenticatorData = authenticatorData
        self.signature = signature
    }
}

/// A kind of second factor an account can have. The raw values are what
/// the API names them.
public enum SecondFactorMethod: String, Sendable, CaseIterable {
    case totp
    case webauthn
    case recoveryCode = "recovery_code"
}

/// A proof of the second factor, whichever door it comes in by.
public enum SecondFactorProof: Sendable {
    case totp(String)
    case recoveryCode(String)
    case securityKey(KeyAssertion)

    /// The proof a form or body carries: a security key's answer, else an
    /// authenticator code, else a recovery code; nil when none was given.
    public init?(otp: String?, recoveryCode: String?, key: KeyAssertion? = nil) {
        if let key {
            self = .securityKey(key)
        } else if let otp, !otp.isEmpty {
            self = .totp(otp)
        } else if let recoveryCode, !recoveryCode.isEmpty {
            self = .recoveryCode(recoveryCode)
        } else {
            return nil
        }
    }
}

extension AccountService {
    // MARK: - Proving the second factor

    /// Checks a second factor at any door, through the guard. The attempt is
    /// counted for the account before it is checked (so parallel guesses
    /// cannot slip past the limit) and given back when it is right. Past
    /// `secondFactorFailuresPerHour` wrong proofs, counted on every door and
    /// instance together, authenticator codes are refused — right ones too —
    /// with `secondFactorLocked`; security keys and recovery codes still work,
    /// and their failures count as well. A wrong proof is recorded in the
    /// activity; from the
    /// `secondFactorNotifyAfter`th in an hour the owner is told, once an hour.
    /// Returns false for a wrong proof.
    func proveSecondFactor(_ proof: SecondFactorProof, account: Account, door: CredentialDoor, clientIP: String?) async throws -> Bool {
        let now = clock.now
        let limits = credentialGuard.policy
        let attempts = try await credentialGuard.reserveSecondFactor(accountID: account.id, now: now)
        if case .totp = proof, attempts > limits.secondFactorFailuresPerHour {
            await recordDenial(accountID: account.id, reason: "second_factor_locked:\(door.rawValue)", clientIP: clientIP)
            throw PosternError.secondFactorLocked
        }
        let passed: Bool
        switch proof {
        case .totp(let code):
            passed = try await consumeTOTP(account: account, code: code)
        case .recoveryCode(let code):
            passed = try await consumeRecoveryCode(account: account, code: code)
        case .securityKey(let key):
            passed = try await verifyKeyAssertion(account: account, credentialID: key.credentialID, clientDataJSON: key.clientDataJSON,
                                                  authenticatorData: key.authenticatorData, signature: key.signature)
        }
        if passed {
            await credentialGuard.secondFactorSucceeded(accountID: account.id, now: now)
            return true
        }
        var notices: [Notice] = []
        if attempts >= limits.secondFactorNotifyAfter, let composer = self.notices {
            let recent = (try? await store.auditEvents(accountID: account.id, before: nil, kinds: [.signIn], limit: 100)) ?? []
            var addresses = recent.filter { $0.result == .deny && ($0.reason ?? "").hasPrefix("invalid_second_factor")
                && now.timeIntervalSince($0.at) <= 3600 }.compactMap(\.clientIP)
            if let clientIP { addresses.insert(clientIP, at: 0) }
            var seen = Set<String>()
            addresses = addresses.filter { seen.insert($0).inserted }
            if let notice = composer.secondFactorFailures(recipient: account.username, accountID: account.id, addresses: Array(addresses.prefix(10)),
                                                          at: now) {
                notices = [notice]
            }
        }
        await recordDenial(accountID: account.id, reason: "invalid_second_factor:\(door.rawValue)", clientIP: clientIP, notices: notices)
        return false
    }
}
