import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternTestSupport
import PosternWebAuthn
import Testing
@testable import PosternApp

@Suite("Security keys and recovery codes through the API")
struct SecondFactorAPITests {
    static let password = "violet staple orbit"

    /// A software authenticator for the default public URL (http://localhost:8080).
    func device() -> SoftAuthenticator {
        var device = SoftAuthenticator()
        device.rpID = "localhost"
        device.origin = "http://localhost:8080"
        device.credentialID = Secrets.randomBytes(32)
        return device
    }

    func credentialJSON(id: [UInt8], _ fields: [String: [UInt8]]) -> [String: any Sendable] {
        ["id": b64url(id), "rawId": b64url(id), "type": "public-key", "response": fields.mapValues { b64url($0) } as [String: any Sendable]]
    }

    func challenge(_ options: [String: any Sendable]) throws -> [UInt8] {
        let publicKey = try #require(options["publicKey"] as? [String: any Sendable])
        let text = try #require(publicKey["challenge"] as? String)
        return Array(try #require(Base64URL.decode(text)))
    }

    func register(_ portal: Client, token: String, device: SoftAuthenticator, name: String = "YubiKey",
                  alter: (inout [UInt8], inout [UInt8]) -> Void = { _, _ in }) async throws -> Reply {
        let options = try await portal.call(.post, "/api/v1/mfa/webauthn/registrations", token: token)
        #expect(options.status == .ok)
        var (client, attestation) = device.register(challenge: try challenge(options.json))
        alter(&client, &attestation)
        return try await portal.call(.post, "/api/v1/mfa/webauthn/registrations/finish", json: [
            "name": name, "credential": credentialJSON(id: device.credentialID, ["clientDataJSON": client, "attestationObject": attestation]),
        ], token: token)
    }

    /// Password step: returns the mfa_token and the key challenge.
    func passwordStep(_ portal: Client) async throws -> (token: String, challenge: [UInt8], reply: Reply) {
        let reply = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password])
        #expect(reply.status == .unauthorized)
        let token = try #require(reply["mfa_token"])
        let webauthn = try #require(reply.json["webauthn"] as? [String: any Sendable])
        return (token, try challenge(webauthn), reply)
    }

    func keySignIn(_ portal: Client, token: String, device: SoftAuthenticator, assertion: ([UInt8], [UInt8], [UInt8])) async throws -> Reply {
        try await portal.call(.post, "/api/v1/sessions/webauthn", json: [
            "mfa_token": token,
            "credential": credentialJSON(id: device.credentialID, ["clientDataJSON": assertion.0, "authenticatorData": assertion.1, "signature": assertion.2]),
        ])
    }

    @Test("register a key, then sign in with it; the mfa_token and the challenge are single use")
    func keyFlow() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                var key = device()
                let options = try await portal.call(.post, "/api/v1/mfa/webauthn/registrations", token: token)
                let publicKey = try #require(options.json["publicKey"] as? [String: any Sendable])
                #expect((publicKey["rp"] as? [String: any Sendable])?["id"] as? String == "localhost")
                #expect(publicKey["attestation"] as? String == "none")
                #expect(try challenge(options.json).count == 32)
                let registered = try await register(portal, token: token, device: key)
                #expect(registered.status == .created)
                #expect(registered["id"] == b64url(key.credentialID))
                #expect(registered["name"] == "YubiKey")
                let list = try await portal.call(.get, "/api/v1/mfa/webauthn", token: token)
                #expect(list.list.count == 1 && list.list[0]["last_used_at"] is NSNull)
                #expect(try await portal.call(.get, "/api/v1/account", token: token).json["mfa_enabled"] as? Bool == true)

                let (mfaToken, keyChallenge, reply) = try await passwordStep(portal)
                #expect(reply["error"] == "otp_required")
                #expect(reply.json["methods"] as? [String] == ["webauthn"])
                key.counter = 1
                let assertion = key.assert(challenge: keyChallenge)
                let signedIn = try await keySignIn(portal, token: mfaToken, device: key, assertion: assertion)
                #expect(signedIn.status == .created)
                #expect(try await portal.call(.get, "/api/v1/account", token: try #require(signedIn["token"])).status == .ok)
                #expect(try await keySignIn(portal, token: mfaToken, device: key, assertion: assertion).status == .unauthorized, "the mfa_token is spent")
                let (second, _, _) = try await passwordStep(portal)
                #expect(try await keySignIn(portal, token: second, device: key, assertion: assertion).status == .unauthorized, "the challenge is spent")
                #expect(try await portal.call(.get, "/api/v1/mfa/webauthn", token: token).list[0]["last_used_at"] is String)
            }
        }
    }

    @Test("sign-in refuses each altered field and a counter that goes backwards")
    func keySignInRefusals() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                var key = device()
                #expect(try await register(portal, token: token, device: key).status == .created)
                key.counter = 5

                typealias Assertion = ([UInt8], [UInt8], [UInt8])
                let alterations: [(String, (SoftAuthenticator, [UInt8]) -> Assertion)] = [
                    ("origin", { d, c in d.assert(challenge: c, clientData: d.clientData(type: "webauthn.get", challenge: c, origin: "https://evil.example")) }),
                    ("challenge", { d, c in d.assert(challenge: c, clientData: d.clientData(type: "webauthn.get", challenge: Secrets.randomBytes(32))) }),
                    ("type", { d, c in d.assert(challenge: c, clientData: d.clientData(type: "webauthn.create", challenge: c)) }),
                    ("rpIdHash", { d, c in var e = d; e.rpID = "example.org"; return e.assert(challenge: c) }),
                    ("flags", { d, c in d.assert(challenge: c, flags: 0x00) }),
                    ("signature", { d, c in var a = d.assert(challenge: c); a.2[a.2.count - 1] ^= 1; return a }),
                    ("other key", { d, c in var e = SoftAuthenticator(); e.rpID = d.rpID; e.origin = d.origin; e.credentialID = d.credentialID; e.counter = d.counter; return e.assert(challenge: c) }),
                ]
                for (what, alter) in alterations {
                    let (mfaToken, keyChallenge, _) = try await passwordStep(portal)
                    let reply = try await keySignIn(portal, token: mfaToken, device: key, assertion: alter(key, keyChallenge))
                    #expect(reply.status == .unauthorized, "altered \(what)")
                    #expect(reply["error"] == "invalid_credentials")
                }
                var (mfaToken, keyChallenge, _) = try await passwordStep(portal)
                #expect(try await keySignIn(portal, token: mfaToken, device: key, assertion: key.assert(challenge: keyChallenge)).status == .created)
                key.counter = 4
                (mfaToken, keyChallenge, _) = try await passwordStep(portal)
                #expect(try await keySignIn(portal, token: mfaToken, device: key, assertion: key.assert(challenge: keyChallenge)).status == .unauthorized,
                        "a counter that goes backwards")
                key.counter = 5
                (mfaToken, keyChallenge, _) = try await passwordStep(portal)
                #expect(try await keySignIn(portal, token: mfaToken, device: key, assertion: key.assert(challenge: keyChallenge)).status == .unauthorized,
                        "a counter that stands still")
            }
        }
    }

    @Test("registration refuses each altered field, a replayed challenge and a key registered twice")
    func registrationRefusals() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                let key = device()
                let changes: [(String, (inout [UInt8], inout [UInt8]) -> Void)] = [
                    ("origin", { c, _ in c = Array(String(decoding: c, as: UTF8.self).replacingOccurrences(of: "http://localhost:8080", with: "http://evil:8080").utf8) }),
                    ("type", { c, _ in c = Array(String(decoding: c, as: UTF8.self).replacingOccurrences(of: "webauthn.create", with: "webauthn.get").utf8) }),
                    ("attestation", { _, a in a[a.count - 3] ^= 1 }),
                ]
                for (what, change) in changes {
                    let reply = try await register(portal, token: token, device: key, alter: change)
                    #expect(reply.status == .badRequest, "altered \(what)")
                    #expect(reply["error"] == "security_key_rejected" || reply["error"] == "invalid_credential")
                }
                let options = try await portal.call(.post, "/api/v1/mfa/webauthn/registrations", token: token)
                let (client, attestation) = key.register(challenge: try challenge(options.json))
                let body: [String: any Sendable] = ["name": "Key", "credential": credentialJSON(id: key.credentialID, ["clientDataJSON": client, "attestationObject": attestation])]
                #expect(try await portal.call(.post, "/api/v1/mfa/webauthn/registrations/finish", json: body, token: token).status == .created)
                #expect(try await portal.call(.post, "/api/v1/mfa/webauthn/registrations/finish", json: body, token: token).status == .badRequest,
                        "the challenge answers once")
                #expect(try await register(portal, token: token, device: key).status == .conflict, "the same credential id again")
                #expect(try await portal.call(.post, "/api/v1/mfa/webauthn/registrations/finish", body: #"{"name":"x","credential":{"id":"a","type":"public-key","response":{"clientDataJSON":"!!"}}}"#, token: token).status == .badRequest)
            }
        }
    }

    @Test("removing a security key needs a recent proof on the API, as in the portal")
    func removal() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                let first = device(), second = device()
                #expect(try await register(portal, token: token, device: first).status == .created)
                #expect(try await register(portal, token: token, device: second, name: "Backup").status == .created)
                let codes = try await portal.call(.post, "/api/v1/mfa/recovery-codes", token: token).json["codes"] as? [String] ?? []
                h.clock.advance(11 * 60)
                let stale = try await portal.call(.delete, "/api/v1/mfa/webauthn/\(b64url(first.credentialID))", token: token)
                #expect(stale.status == .forbidden && stale["error"] == "reauthentication_required", "a stale token removes no key")
                #expect(try await portal.call(.post, "/api/v1/sessions/current/reauthenticate", json: ["password": "violet staple orbit", "recovery_code": codes.first ?? ""],
                                              token: token).status == .noContent)
                #expect(try await portal.call(.delete, "/api/v1/mfa/webauthn/\(b64url(first.credentialID))", token: token).status == .noContent)
                #expect(try await portal.call(.delete, "/api/v1/mfa/webauthn/\(b64url(second.credentialID))", token: token).status == .noContent,
                        "with a recent proof even the last one")
                #expect(try await portal.call(.delete, "/api/v1/mfa/webauthn/bm9wZQ", token: token).status == .notFound)
            }
        }
    }

    @Test("recovery codes: ten, shown once, each used once, even by two concurrent sign-ins")
    func recoveryCodes() async throws {
        try await withHarness { h in
            try await h.run { portal, _ in
                let token = try await HTTPHarness.signUp(portal)
                let generated = try await portal.call(.post, "/api/v1/mfa/recovery-codes", token: token)
                let codes = try #require(generated.json["codes"] as? [String])
                #expect(codes.count == 10 && Set(codes).count == 10)
                #expect(codes.allSatisfy { $0.range(of: #"^[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{4}$"#, options: .regularExpression) != nil })
                #expect(try await portal.call(.get, "/api/v1/mfa/recovery-codes", token: token).json["remaining"] as? Int == 10)
                #expect(try await portal.call(.get, "/api/v1/account", token: token).json["mfa_enabled"] as? Bool == false, "codes alone are not MFA")
                #expect(try await register(portal, token: token, device: device()).status == .created)

                let withCode = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password,
                                                                                        "recovery_code": codes[0].uppercased()])
                #expect(withCode.status == .created)
                let again = try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password,
                                                                                     "recovery_code": codes[0]])
                #expect(again.status == .unauthorized && again["error"] == "otp_required")
                #expect(again.json["methods"] as? [String] == ["webauthn", "recovery_code"])

                let results = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await portal.call(.post, "/api/v1/sessions", json: ["username": "alice@example.org", "password": Self.password,
                                                                                    "recovery_code": codes[1]]).status
                        }
                    }
                    var statuses: [HTTPResponse.Status] = []
                    for try await status in group { statuses.append(status) }
                    return statuses
                }
                #expect(results.filter { $0 == .created }.count == 1, "\(results)")
                #expect(try await portal.call(.get, "/api/v1/mfa/recovery-codes", token: token).json["remaining"] as? Int == 8)

                let regenerated = try await portal.call(.post, "/api/v1/mfa/recovery-codes", token: token)
                #expect(Set(try #require(regenerated.json["codes"] as? [String])).isDisjoint(with: codes), "a new set replaces the old")
                h.clock.advance(11 * 60)
                #expect(try await portal.call(.post, "/api/v1/mfa/recovery-codes", token: token).status == .forbidden, "needs a recent sign-in")
            }
        }
    }
}
