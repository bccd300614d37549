import Foundation
import Hummingbird
import PosternCore

extension UserAPI {
    func addMFARoutes(signedIn: RouterGroup<SignedInContext>) {
        signedIn.post("mfa/totp") { _, context in
            try requireRecentProof(context)
            let enrolment = try await accounts.beginTOTP(account: context.account)
            return JSONBody.response(.ok, Enrolment(secret: enrolment.secretBase32, otpauthUri: enrolment.otpauthURI))
        }
        signedIn.post("mfa/totp/confirm") { request, context in
            try requireRecentProof(context)
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
            try requireRecentProof(context)
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
    }
}
