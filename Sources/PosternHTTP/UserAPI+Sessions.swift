import Foundation
import Hummingbird
import PosternCore

extension UserAPI {
    func addSessionRoutes(api: RouterGroup<PortalContext>, signedIn: RouterGroup<SignedInContext>) {
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
                                             "methods": methods.map(\.rawValue), "mfa_token": mfaToken]
                if let webauthn { answer["webauthn"] = webauthn }
                return JSONBody.object(.unauthorized, answer)
            }
        }
        api.post("sessions/webauthn") { request, context in
            let body = try await JSONBody.decode(KeySignIn.self, from: request)
            try body.credential.checkType()
            let (token, session) = try await accounts.completeSignInWithKey(pendingToken: body.mfaToken, assertion: try body.credential.assertion(),
                                                                        clientIP: context.peerAddress)
            return JSONBody.response(.created, CreatedSession(token: token, expiresAt: session.expiresAt))
        }
        signedIn.delete("sessions/current") { _, context in
            try await accounts.signOut(session: context.session)
            return Self.noContent
        }
        signedIn.post("sessions/current/reauthenticate") { request, context in
            let body = try await JSONBody.decode(Reauthentication.self, from: request)
            try await accounts.reauthenticate(session: context.session, account: context.account, password: body.password,
                                              otp: body.otp, recoveryCode: body.recoveryCode, key: try body.credential?.assertion())
            return Self.noContent
        }
        signedIn.post("sessions/current/reauthenticate/webauthn") { _, context in
            guard let options = try await accounts.beginKeyAssertion(account: context.account) else {
                throw APIError(.notFound, "no_security_key", "The account has no security key.")
            }
            return JSONBody.object(.ok, options)
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
    }
}
