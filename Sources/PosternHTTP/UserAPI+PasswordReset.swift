import Foundation
import Hummingbird
import PosternCore

extension UserAPI {
    func addPasswordResetRoutes(api: RouterGroup<PortalContext>) {
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
    }
}
