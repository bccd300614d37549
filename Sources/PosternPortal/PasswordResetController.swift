import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// A forgotten password: ask for a link (`/forgot`), then set a new password
/// behind it (`/reset`), with a second factor when MFA is on — a code, a
/// recovery code, or a security key through the script's two calls.
struct PasswordResetController: Sendable {
    let accounts: AccountService
    let views: PortalViews
    let signInPage: SignInPage

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        router.get("/forgot", use: showForgot)
        router.post("/forgot", use: requestLink)
        router.get("/reset", use: showReset)
        router.post("/reset", use: reset)
        router.post("/reset/key/options", use: keyOptions)
        router.post("/reset/key", use: resetWithKey)
    }

    static let deadLink = "This link doesn't work any more. Ask for a new one."

    func showForgot(_ request: Request, context: PortalContext) async throws -> Response {
        try views.page("forgot", context: context, data: [:])
    }

    func requestLink(_ request: Request, context: PortalContext) async throws -> Response {
        let username = context.field("username")
        guard Username.canonical(username) != nil else {
            return try views.page("forgot", status: .badRequest, context: context, data: ["error": PosternError.invalidUsername.message])
        }
        do {
            try await accounts.admitPasswordReset(username: username, clientIP: context.peerAddress)
        } catch let error as PosternError where error.retryAfter != nil {
            return PortalViews.withRetryAfter(try views.page("forgot", status: .tooManyRequests, context: context, data: ["error": error.message]), error)
        }
        // The same answer, at once, whether or not the account exists.
        let accounts = self.accounts
        Task { await accounts.requestPasswordReset(username: username) }
        return try views.page("forgot", context: context, data: ["sent": true])
    }

    func showReset(_ request: Request, context: PortalContext) async throws -> Response {
        let token = request.uri.queryParameters["token"].map(String.init) ?? ""
        return try await resetPage(context, token: token)
    }

    func reset(_ request: Request, context: PortalContext) async throws -> Response {
        let token = context.field("token")
        do {
            try await accounts.completePasswordReset(token: token, newPassword: context.field("new_password"),
                                                     otp: context.form["otp"]?.first, recoveryCode: context.form["recovery_code"]?.first)
            return try signInPage.render(context, notice: "Your password was reset. Sign in with the new one.")
        } catch let error as PosternError where error != .invalidResetToken {
            let message = switch error {
            case .otpRequired: "Enter a code from your authenticator app, or a recovery code."
            case .invalidCode: "That code is not valid, or was used already."
            default: error.message
            }
            return try await resetPage(context, token: token, error: message)
        }
    }

    /// The script's first call for a reset with a security key: the assertion options.
    func keyOptions(_ request: Request, context: PortalContext) async throws -> Response {
        let body = try await JSONBody.decode(ResetTokenBody.self, from: request)
        guard let options = try await accounts.beginResetKeyAssertion(token: body.token) else {
            return JSONBody.object(.unauthorized, ["message": Self.deadLink, "redirect": "/forgot"])
        }
        return JSONBody.object(.ok, options)
    }

    /// The script's second call: the new password with the key's signature.
    func resetWithKey(_ request: Request, context: PortalContext) async throws -> Response {
        let body = try await JSONBody.decode(ResetWithKeyBody.self, from: request)
        do {
            try await accounts.completePasswordReset(token: body.token, newPassword: body.newPassword, otp: nil, recoveryCode: nil,
                                                     key: try body.credential.assertion())
            return JSONBody.object(.ok, ["redirect": "/signin?notice=reset"])
        } catch PosternError.invalidResetToken {
            return JSONBody.object(.unauthorized, ["message": Self.deadLink, "redirect": "/forgot"])
        } catch let error as PosternError {
            let message = error == .securityKeyRejected ? "That security key could not be verified. Try again." : error.message
            return JSONBody.object(.badRequest, ["message": message])
        }
    }

    /// The page behind a reset link: a new password, and a second factor when MFA is on.
    func resetPage(_ context: PortalContext, token: String, error: String? = nil) async throws -> Response {
        guard token.count <= 100, let account = try await accounts.passwordResetAccount(token: token) else {
            return try views.page("message", status: .notFound, context: context, data: [
                "heading": "This link doesn't work", "message": PosternError.invalidResetToken.message,
                "link": "/forgot", "linkText": "Ask for a new link",
            ])
        }
        let methods = try await accounts.secondFactorMethods(account: account)
        var data: [String: Any] = ["token": token, "account": account.username, "mfaOn": account.mfaEnabled,
                                   "hasKeys": methods.contains(.webauthn), "revokesApps": accounts.policy.revokeAppPasswordsOnReset]
        if let error { data["error"] = error }
        return try views.page("reset", status: error == nil ? .ok : .badRequest, context: context, data: data)
    }
}

/// The body of the script's first call for a reset with a security key.
struct ResetTokenBody: Decodable {
    let token: String
}

/// The body of the script's second call: the new password and the assertion.
struct ResetWithKeyBody: Decodable {
    let token: String
    let newPassword: String
    let credential: PublicKeyCredentialJSON
}
