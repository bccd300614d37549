import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// Sign-in (the password, then a second step when MFA is on: a code, a
/// recovery code or a security key), sign-up and sign-out. None of these
/// needs a signed-in browser, so they run on `PortalContext`; the second step
/// finds its sign-in through the pending cookie.
struct SignInController: Sendable {
    let accounts: AccountService
    let views: PortalViews
    let cookies: CookiePolicy
    let signInPage: SignInPage

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        router.get("/signin", use: showSignIn)
        router.post("/signin", use: signIn)
        router.get("/signin/verify", use: showVerify)
        router.post("/signin/verify/options", use: keyOptions)
        router.post("/signin/verify/key", use: verifyKey)
        router.post("/signin/verify", use: verifySecondFactor)
        router.get("/signup", use: showSignUp)
        router.post("/signup", use: signUp)
        router.post("/signout", use: signOut)
    }

    static let tooSlow = "Your sign-in took too long. Start again."

    // MARK: - Password

    func showSignIn(_ request: Request, context: PortalContext) async throws -> Response {
        if context.browser != nil { return PortalViews.redirect("/security") }
        return try signInPage.render(context, notice: request.uri.queryParameters["notice"].flatMap { PortalViews.notices[String($0)] })
    }

    func signIn(_ request: Request, context: PortalContext) async throws -> Response {
        let username = context.field("username")
        do {
            switch try await accounts.beginSignIn(username: username, password: context.field("password"), clientIP: context.peerAddress) {
            case .signedIn(let token, _):
                return PortalViews.redirect("/security", cookies: signedInCookies(token))
            case .secondFactorRequired(let token, _):
                return PortalViews.redirect("/signin/verify", cookies: [
                    cookies.set(cookies.pending, token, maxAge: Int(accounts.policy.secondFactorWindow)), cookies.clear(cookies.session),
                ])
            }
        } catch PosternError.invalidCredentials {
            return try signInPage.render(context, username: username, error: "The email address or password is not right. Check both and try again.",
                                         status: .unauthorized)
        } catch let error as PosternError where error.retryAfter != nil {
            return PortalViews.withRetryAfter(try signInPage.render(context, username: username, error: error.message, status: .tooManyRequests), error)
        }
    }

    // MARK: - Second step

    func showVerify(_ request: Request, context: PortalContext) async throws -> Response {
        guard let account = try await pendingAccount(request) else { return PortalViews.redirect("/signin") }
        return try await verifyPage(context, account)
    }

    func verifySecondFactor(_ request: Request, context: PortalContext) async throws -> Response {
        guard let token = CookiePolicy.parse(request.headers[.cookie])[cookies.pending], let account = try await accounts.pendingSignIn(token: token) else {
            return try signInPage.render(context, error: Self.tooSlow, status: .unauthorized)
        }
        do {
            let (sessionToken, _) = try await accounts.completeSignIn(pendingToken: token, otp: context.field("otp"),
                                                                      recoveryCode: context.form["recovery_code"]?.first, clientIP: context.peerAddress)
            return PortalViews.redirect("/security", cookies: signedInCookies(sessionToken) + [cookies.clear(cookies.pending)])
        } catch PosternError.invalidCode {
            return try await verifyPage(context, account, error: context.form["recovery_code"] != nil
                ? "That recovery code is not valid, or was used already." : "That code is not valid. Enter the code your app shows now.")
        } catch PosternError.invalidCredentials {
            return try signInPage.render(context, username: account.username, error: "Too many wrong codes. Sign in again.",
                                         status: .unauthorized, cookies: [cookies.clear(cookies.pending)])
        } catch let error as PosternError where error.retryAfter != nil {
            var page = try await verifyPage(context, account, error: error.message)
            page.status = .tooManyRequests
            return PortalViews.withRetryAfter(page, error)
        }
    }

    /// The script's first call for a security key: the assertion options.
    func keyOptions(_ request: Request, context: PortalContext) async throws -> Response {
        guard let account = try await pendingAccount(request), let options = try await accounts.beginKeyAssertion(account: account) else {
            return JSONBody.object(.unauthorized, ["message": Self.tooSlow, "redirect": "/signin"])
        }
        return JSONBody.object(.ok, options)
    }

    /// The script's second call: the key's signature, which completes the sign-in.
    func verifyKey(_ request: Request, context: PortalContext) async throws -> Response {
        guard let token = CookiePolicy.parse(request.headers[.cookie])[cookies.pending] else {
            return JSONBody.object(.unauthorized, ["message": Self.tooSlow, "redirect": "/signin"])
        }
        let credential = try await JSONBody.decode(KeyCredentialBody.self, from: request).credential
        do {
            let (sessionToken, _) = try await accounts.completeSignInWithKey(pendingToken: token, assertion: try credential.assertion(),
                                                                             clientIP: context.peerAddress)
            var response = JSONBody.object(.ok, ["redirect": "/security"])
            for cookie in signedInCookies(sessionToken) + [cookies.clear(cookies.pending)] {
                response.headers.append(HTTPField(name: .setCookie, value: cookie))
            }
            return response
        } catch is PosternError {
            return JSONBody.object(.unauthorized, ["message": "That security key could not be verified. Try again, or use another way to sign in."])
        }
    }

    func verifyPage(_ context: PortalContext, _ account: Account, error: String? = nil) async throws -> Response {
        let methods = try await accounts.secondFactorMethods(account: account)
        var data: [String: Any] = ["username": account.username, "hasTOTP": methods.contains(.totp), "hasKeys": methods.contains(.webauthn),
                                   "hasCodes": methods.contains(.recoveryCode)]
        if let error { data["error"] = error }
        return try views.page("signin_verify", status: error == nil ? .ok : .unauthorized, context: context, data: data)
    }

    func pendingAccount(_ request: Request) async throws -> Account? {
        guard let token = CookiePolicy.parse(request.headers[.cookie])[cookies.pending] else { return nil }
        return try await accounts.pendingSignIn(token: token)
    }

    // MARK: - Sign-up and sign-out

    func showSignUp(_ request: Request, context: PortalContext) async throws -> Response {
        guard accounts.policy.signupOpen else { return try signupClosed(context) }
        return try views.page("signup", context: context, data: [:])
    }

    func signUp(_ request: Request, context: PortalContext) async throws -> Response {
        guard accounts.policy.signupOpen else { return try signupClosed(context) }
        let username = context.field("username")
        let password = context.field("password")
        do {
            _ = try await accounts.createAccount(username: username, password: password)
            guard case .signedIn(let token, _) = try await accounts.beginSignIn(username: username, password: password, clientIP: context.peerAddress) else {
                return PortalViews.redirect("/signin")
            }
            return PortalViews.redirect("/security", cookies: signedInCookies(token))
        } catch let error as PosternError {
            let status: HTTPResponse.Status = error == .usernameTaken ? .conflict : error.retryAfter != nil ? .tooManyRequests : .badRequest
            return PortalViews.withRetryAfter(
                try views.page("signup", status: status, context: context, data: ["username": username, "error": error.message]), error)
        }
    }

    func signupClosed(_ context: PortalContext) throws -> Response {
        try views.page("message", status: .forbidden, context: context, data: [
            "heading": "Sign-up is closed", "message": PosternError.signupClosed.message, "link": "/signin", "linkText": "Sign in",
        ])
    }

    /// Ends the browser's session, if it has one, and renews the CSRF seed.
    func signOut(_ request: Request, context: PortalContext) async throws -> Response {
        if let browser = context.browser { try await accounts.signOut(session: browser.session) }
        return PortalViews.redirect("/signin?notice=signed_out",
                                    cookies: [cookies.clear(cookies.session), cookies.set(cookies.csrf, Secrets.newToken())])
    }

    /// A new session cookie (the id changes at every sign-in step) and a new CSRF seed.
    func signedInCookies(_ token: String) -> [String] {
        [cookies.set(cookies.session, token), cookies.set(cookies.csrf, Secrets.newToken())]
    }
}

/// The sign-in page, also shown after a password reset.
struct SignInPage: Sendable {
    let accounts: AccountService
    let views: PortalViews

    func render(_ context: PortalContext, username: String = "", error: String? = nil, notice: String? = nil,
                status: HTTPResponse.Status = .ok, cookies extra: [String] = []) throws -> Response {
        var data: [String: Any] = ["username": username, "signupOpen": accounts.policy.signupOpen]
        if let error { data["error"] = error }
        if let notice { data["notice"] = notice }
        return try views.page("signin", status: status, context: context, data: data, cookies: extra)
    }
}

/// The body the portal's script posts for a security-key sign-in.
struct KeyCredentialBody: Decodable {
    let credential: PublicKeyCredentialJSON
}
