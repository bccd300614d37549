import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP
import PosternQR

/// Where a mail or chat client connects, shown beside a new app password.
public struct ClientServer: Sendable {
    public var label: String
    public var host: String
    public var port: Int

    public init(label: String, host: String, port: Int) {
        self.label = label
        self.host = host
        self.port = port
    }

    var security: String { [993, 995, 465, 5223].contains(port) ? "SSL/TLS" : "STARTTLS" }
}

/// The HTML portal: sign up, sign in (with a second step when MFA is on), and
/// the Security page. Paths and form field names are stable: `/signup`,
/// `/signin`, `/signout`, `/security`; `username`, `password`, `otp`, `name`,
/// `csrf_token`.
public struct Portal: Sendable {
    let accounts: AccountService
    let keys: KeyRing
    let views: PortalViews
    let statics: StaticFiles
    let cookies: CookiePolicy
    let publicOrigin: String
    let servers: [ClientServer]

    public init(accounts: AccountService, keys: KeyRing, views: PortalViews, publicURL: String, servers: [ClientServer]) throws {
        self.accounts = accounts
        self.keys = keys
        self.views = views
        statics = try StaticFiles()
        cookies = CookiePolicy(publicURL: publicURL)
        let url = URL(string: publicURL)!
        publicOrigin = "\(url.scheme!)://\(url.host!)" + (url.port.map { ":\($0)" } ?? "")
        self.servers = servers
    }

    static let notices: [String: String] = [
        "password_changed": "Your password was changed. Your other sessions were signed out.",
        "mfa_on": "Multi-factor authentication is on. Mail and chat apps now need app passwords.",
        "mfa_off": "Multi-factor authentication is off.",
        "revoked": "The app password was revoked. Any app still using it can no longer sign in.",
        "revoked_all": "All app passwords were revoked.",
        "confirmed": "Thanks. You can make your change now.",
        "signed_out": "You have signed out.",
        "key_added": "Your security key was added. You can now sign in with it.",
        "key_removed": "The security key was removed.",
        "expired": "Please sign in again.",
        "reset": "Your password was reset. Sign in with the new one.",
    ]

    static let protocolLabels: [(LoginProtocol, String)] = [
        (.imap, "IMAP (reading mail)"), (.pop3, "POP3"), (.smtp, "SMTP (sending mail)"), (.xmpp, "XMPP (chat)"), (.other, "Other"),
    ]

    // MARK: - Routes

    public func addRoutes(to parent: Router<PortalContext>) {
        let router = parent.group()
        router.add(middleware: PortalErrorMiddleware(views: views))
        router.add(middleware: BrowserSessionMiddleware(accounts: accounts, keys: keys, cookies: cookies, publicOrigin: publicOrigin, views: views))
        router.get("/static/:file") { _, context in statics.response(try context.parameters.require("file")) }
        router.get("/") { _, context in PortalViews.redirect(context.browser == nil ? "/signin" : "/security") }

        router.get("/signin") { request, context in
            if context.browser != nil { return PortalViews.redirect("/security") }
            return try signInPage(context, notice: request.uri.queryParameters["notice"].flatMap { Self.notices[String($0)] })
        }
        router.post("/signin") { _, context in try await signIn(context) }
        router.get("/signin/verify") { request, context in
            guard let account = try await pendingAccount(request) else { return PortalViews.redirect("/signin") }
            return try await verifyPage(context, account)
        }
        router.post("/signin/verify/options") { request, _ in
            guard let account = try await pendingAccount(request), let options = try await accounts.beginKeyAssertion(account: account) else {
                return JSONBody.object(.unauthorized, ["message": "Your sign-in took too long. Start again.", "redirect": "/signin"])
            }
            return JSONBody.object(.ok, options)
        }
        router.post("/signin/verify/key") { request, context in
            guard let token = CookiePolicy.parse(request.headers[.cookie])[cookies.pending] else {
                return JSONBody.object(.unauthorized, ["message": "Your sign-in took too long. Start again.", "redirect": "/signin"])
            }
            let credential = try await JSONBody.decode(KeyCredentialBody.self, from: request).credential
            do {
                let (sessionToken, _) = try await accounts.completeSignInWithKey(
                    pendingToken: token, credentialID: try credential.bytes(credential.credentialID, "rawId"),
                    clientDataJSON: try credential.bytes(credential.response.clientDataJSON, "response.clientDataJSON"),
                    authenticatorData: try credential.bytes(credential.response.authenticatorData, "response.authenticatorData"),
                    signature: try credential.bytes(credential.response.signature, "response.signature"),
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
        router.post("/signin/verify") { request, context in try await verifySecondFactor(request, context) }
        router.get("/signup") { _, context in
            guard accounts.policy.signupOpen else { return try signupClosed(context) }
            return try views.page("signup", context: context, data: [:])
        }
        router.post("/signup") { _, context in try await signUp(context) }
        router.post("/signout") { _, context in
            if let browser = context.browser { try await accounts.signOut(session: browser.session) }
            return PortalViews.redirect("/signin?notice=signed_out",
                                        cookies: [cookies.clear(cookies.session), cookies.set(cookies.csrf, Secrets.newToken())])
        }

        router.get("/forgot") { _, context in try views.page("forgot", context: context, data: [:]) }
        router.post("/forgot") { _, context in
            let username = context.field("username")
            guard Username.canonical(username) != nil else {
                return try views.page("forgot", status: .badRequest, context: context, data: ["error": PosternError.invalidUsername.message])
            }
            do {
                try await accounts.admitPasswordReset(username: username, clientIP: context.peerAddress)
            } catch let error as PosternError where error.retryAfter != nil {
                return Self.withRetryAfter(try views.page("forgot", status: .tooManyRequests, context: context, data: ["error": error.message]), error)
            }
            // The same answer, at once, whether or not the account exists.
            let accounts = self.accounts
            Task { await accounts.requestPasswordReset(username: username) }
            return try views.page("forgot", context: context, data: ["sent": true])
        }
        router.get("/reset") { request, context in
            let token = request.uri.queryParameters["token"].map(String.init) ?? ""
            return try await resetPage(context, token: token)
        }
        router.post("/reset") { _, context in
            let token = context.field("token")
            do {
                try await accounts.completePasswordReset(token: token, newPassword: context.field("new_password"),
                                                         otp: context.form["otp"]?.first, recoveryCode: context.form["recovery_code"]?.first)
                return try signInPage(context, notice: "Your password was reset. Sign in with the new one.")
            } catch let error as PosternError where error != .invalidResetToken {
                let message = switch error {
                case .otpRequired: "Enter a code from your authenticator app, or a recovery code."
                case .invalidCode: "That code is not valid, or was used already."
                default: error.message
                }
                return try await resetPage(context, token: token, error: message)
            }
        }
        router.post("/reset/key/options") { request, _ in
            let body = try await JSONBody.decode(ResetTokenBody.self, from: request)
            guard let options = try await accounts.beginResetKeyAssertion(token: body.token) else {
                return JSONBody.object(.unauthorized, ["message": "This link doesn't work any more. Ask for a new one.", "redirect": "/forgot"])
            }
            return JSONBody.object(.ok, options)
        }
        router.post("/reset/key") { request, _ in
            let body = try await JSONBody.decode(ResetWithKeyBody.self, from: request)
            do {
                try await accounts.completePasswordReset(token: body.token, newPassword: body.newPassword, otp: nil, recoveryCode: nil,
                                                         key: try body.credential.assertion())
                return JSONBody.object(.ok, ["redirect": "/signin?notice=reset"])
            } catch PosternError.invalidResetToken {
                return JSONBody.object(.unauthorized, ["message": "This link doesn't work any more. Ask for a new one.", "redirect": "/forgot"])
            } catch let error as PosternError {
                let message = error == .securityKeyRejected ? "That security key could not be verified. Try again." : error.message
                return JSONBody.object(.badRequest, ["message": message])
            }
        }
        router.get("/security/activity") { request, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            return try await activityPage(context, browser.account, request: request)
        }
        router.get("/security") { request, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            return try await securityPage(context, browser.account, notice: request.uri.queryParameters["done"].flatMap { Self.notices[String($0)] })
        }
        router.get("/security/reauth") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            return try views.page("reauth", context: context, data: ["mfaOn": browser.account.mfaEnabled])
        }
        router.post("/security/reauth") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            do {
                try await accounts.reauthenticate(session: browser.session, account: browser.account,
                                                  password: context.field("password"), otp: context.form["otp"]?.first)
                return PortalViews.redirect("/security?done=confirmed")
            } catch let error as PosternError {
                let message = switch error {
                case .invalidCode: "That code is not valid. Enter the current code."
                case .invalidCredentials: "That password is not right."
                default: error.message
                }
                let page = try views.page("reauth", status: error.retryAfter == nil ? .unauthorized : .tooManyRequests,
                                          context: context, data: ["mfaOn": browser.account.mfaEnabled, "error": message])
                return Self.withRetryAfter(page, error)
            }
        }
        router.post("/security/password") { _, context in
            try await sensitive(context) { browser in
                try await accounts.changePassword(account: browser.account, current: context.field("current_password"),
                                                  new: context.field("new_password"), keepingSession: browser.session.tokenDigest,
                                                  revokeAppPasswords: context.field("revoke_app_passwords") == "1")
                return PortalViews.redirect("/security?done=password_changed")
            }
        }
        router.post("/security/totp/start") { _, context in
            try await sensitive(context) { browser in
                _ = try await accounts.beginTOTP(account: browser.account)
                return PortalViews.redirect("/security/totp/setup")
            }
        }
        router.get("/security/totp/setup") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            return try await totpSetupPage(context, browser.account, error: nil)
        }
        router.post("/security/totp/confirm") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            do {
                try await accounts.confirmTOTP(account: browser.account, code: context.field("otp"))
                return PortalViews.redirect("/security?done=mfa_on")
            } catch PosternError.invalidCode {
                return try await totpSetupPage(context, browser.account, error: "That code is not valid. Enter the code your app shows now.")
            }
        }
        router.post("/security/totp/disable") { _, context in
            try await sensitive(context) { browser in
                try await accounts.disableTOTP(account: browser.account, password: context.field("password"), code: context.field("otp"))
                return PortalViews.redirect("/security?done=mfa_off")
            }
        }
        router.post("/security/keys/options") { _, context in
            guard let browser = context.browser else { return JSONBody.object(.unauthorized, ["redirect": "/signin?notice=expired"]) }
            if accounts.needsReauthentication(browser.session) { return JSONBody.object(.forbidden, ["redirect": "/security/reauth"]) }
            return JSONBody.object(.ok, try await accounts.beginKeyRegistration(account: browser.account))
        }
        router.post("/security/keys") { request, context in
            guard let browser = context.browser else { return JSONBody.object(.unauthorized, ["redirect": "/signin?notice=expired"]) }
            let body = try await JSONBody.decode(KeyRegistrationBody.self, from: request)
            do {
                _ = try await accounts.finishKeyRegistration(account: browser.account, name: body.name,
                                                             clientDataJSON: try body.credential.bytes(body.credential.response.clientDataJSON, "response.clientDataJSON"),
                                                             attestationObject: try body.credential.bytes(body.credential.response.attestationObject, "response.attestationObject"))
                return JSONBody.object(.created, ["ok": true])
            } catch let error as PosternError {
                return JSONBody.object(.badRequest, ["message": error.message])
            }
        }
        router.post("/security/keys/:id/remove") { _, context in
            try await sensitive(context) { browser in
                guard let id = Base64URL.decode(try context.parameters.require("id")) else { throw PosternError.notFound }
                try await accounts.removeSecurityKey(account: browser.account, session: browser.session, credentialID: id)
                return PortalViews.redirect("/security?done=key_removed")
            }
        }
        router.post("/security/recovery-codes") { _, context in
            try await sensitive(context) { browser in
                let codes = try await accounts.generateRecoveryCodes(account: browser.account)
                let id = try await accounts.stashReveal(codes.joined(separator: "\n"), session: browser.session)
                return PortalViews.redirect("/security/recovery-codes/new/\(id)")
            }
        }
        router.get("/security/recovery-codes/new/:id") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            guard let stashed = try await accounts.takeReveal(id: try context.parameters.require("id"), session: browser.session) else {
                return try views.page("recovery_codes", status: .gone, context: context, data: ["shown": false])
            }
            let codes = stashed.split(separator: "\n").map(String.init)
            let text = "Postern recovery codes for \(browser.account.username)\n\n" + codes.joined(separator: "\n") + "\n"
            return try views.page("recovery_codes", context: context, data: [
                "shown": true, "codes": codes,
                "download": text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "",
            ])
        }
        router.post("/security/app-passwords") { _, context in
            try await sensitive(context) { browser in
                let protocols = context.form["protocols"] ?? []
                if protocols.isEmpty { throw PosternError.invalidProtocols("Choose at least one kind of app the password is for.") }
                let issued = try await accounts.createAppPassword(account: browser.account, name: context.field("name"),
                                                                  protocols: protocols, expiresAt: nil)
                let id = try await accounts.stashReveal(issued.password + "\n" + issued.record.name, session: browser.session)
                return PortalViews.redirect("/security/app-passwords/new/\(id)")
            }
        }
        router.get("/security/app-passwords/new/:id") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            let stashed = try await accounts.takeReveal(id: try context.parameters.require("id"), session: browser.session)
            guard let stashed, let newline = stashed.firstIndex(of: "\n") else {
                return try views.page("app_password_new", status: .gone, context: context, data: ["shown": false, "name": "this app"])
            }
            let password = String(stashed[..<newline])
            return try views.page("app_password_new", context: context, data: [
                "shown": true, "name": String(stashed[stashed.index(after: newline)...]), "password": password,
                "grouped": AppPasswordFormat.grouped(password), "username": browser.account.username,
                "servers": servers.map { ["label": $0.label, "host": $0.host, "port": String($0.port), "security": $0.security] },
            ])
        }
        router.get("/security/app-passwords/revoke-all") { _, context in
            guard context.browser != nil else { return PortalViews.redirect("/signin") }
            return try confirmPage(context, heading: "Revoke all app passwords?", button: "Revoke all",
                                   explanation: "Every mail and chat app signed in with an app password will be signed out and will need a new one.",
                                   action: "/security/app-passwords/revoke-all")
        }
        router.post("/security/app-passwords/revoke-all") { _, context in
            try await sensitive(context) { browser in
                try await accounts.revokeAllAppPasswords(account: browser.account)
                return PortalViews.redirect("/security?done=revoked_all")
            }
        }
        router.get("/security/app-passwords/:id/revoke") { _, context in
            guard let browser = context.browser else { return PortalViews.redirect("/signin") }
            let id = try context.parameters.require("id")
            guard let record = try await accounts.listAppPasswords(account: browser.account).first(where: { $0.id == id }) else {
                return try notFound(context)
            }
            return try confirmPage(context, heading: "Revoke \u{201C}\(record.name)\u{201D}?", button: "Revoke \u{201C}\(record.name)\u{201D}",
                                   explanation: "The app using it will be signed out at its next login. Your other apps are not affected.",
                                   action: "/security/app-passwords/\(record.id)/revoke")
        }
        router.post("/security/app-passwords/:id/revoke") { _, context in
            try await sensitive(context) { browser in
                try await accounts.revokeAppPassword(account: browser.account, id: try context.parameters.require("id"))
                return PortalViews.redirect("/security?done=revoked")
            }
        }
    }

    // MARK: - Pages

    func signInPage(_ context: PortalContext, username: String = "", error: String? = nil, notice: String? = nil,
                    status: HTTPResponse.Status = .ok, cookies extra: [String] = []) throws -> Response {
        var data: [String: Any] = ["username": username, "signupOpen": accounts.policy.signupOpen]
        if let error { data["error"] = error }
        if let notice { data["notice"] = notice }
        return try views.page("signin", status: status, context: context, data: data, cookies: extra)
    }

    func signupClosed(_ context: PortalContext) throws -> Response {
        try views.page("message", status: .forbidden, context: context, data: [
            "heading": "Sign-up is closed", "message": PosternError.signupClosed.message, "link": "/signin", "linkText": "Sign in",
        ])
    }

    /// A page that asks before a destructive change; only its form's POST acts.
    func confirmPage(_ context: PortalContext, heading: String, button: String, explanation: String, action: String) throws -> Response {
        try views.page("confirm", context: context, data: ["heading": heading, "button": button, "explanation": explanation, "action": action])
    }

    func notFound(_ context: PortalContext) throws -> Response {
        try views.page("message", status: .notFound, context: context, data: [
            "heading": "Not found", "message": "That app password doesn't exist, or was already revoked.",
            "link": "/security", "linkText": "Back to Security",
        ])
    }

    func securityPage(_ context: PortalContext, _ account: Account, notice: String? = nil, error: String? = nil,
                      status: HTTPResponse.Status = .ok) async throws -> Response {
        let records = try await accounts.listAppPasswords(account: account)
        let keys = try await accounts.securityKeys(account: account)
        let methods = try await accounts.secondFactorMethods(account: account)
        let codesRemaining = try await accounts.remainingRecoveryCodes(account: account)
        var data: [String: Any] = [
            "mfaOn": account.mfaEnabled,
            "totpOn": methods.contains("totp"),
            "hasKeys": !keys.isEmpty,
            "keys": keys.map { key -> [String: Any] in
                var item: [String: Any] = ["id": Base64URL.encode(key.credentialID), "name": key.name, "added": PortalViews.display(key.createdAt)]
                if let used = key.lastUsedAt { item["lastUsed"] = PortalViews.display(used) }
                return item
            },
            "hasCodes": codesRemaining > 0, "codesRemaining": codesRemaining, "oneCode": codesRemaining == 1,
            "fewCodes": account.mfaEnabled && codesRemaining <= 3,
            "hasAppPasswords": !records.isEmpty,
            "appPasswords": records.map { record -> [String: Any] in
                var item: [String: Any] = [
                    "id": record.id, "name": record.name, "created": PortalViews.display(record.createdAt),
                    "protocols": LoginProtocol.allCases.filter(record.protocols.contains).map { $0.rawValue.uppercased() }.joined(separator: ", "),
                ]
                if let use = record.lastUse {
                    item["lastUsed"] = "\(PortalViews.display(use.at))" + (use.clientIP.map { " from \($0)" } ?? "") + " over \(use.loginProtocol.rawValue.uppercased())"
                }
                if let expires = record.expiresAt { item["expires"] = PortalViews.display(expires) }
                return item
            },
            "revokeByDefault": accounts.policy.passwordChangeRevokesByDefault,
            "protocolChoices": Self.protocolLabels.map { ["value": $0.0.rawValue, "label": $0.1] },
            "nameValue": context.form["name"]?.first ?? "",
        ]
        if let notice { data["notice"] = notice }
        if let error { data["error"] = error }
        return try views.page("security", status: status, context: context, data: data)
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
                                   "hasKeys": methods.contains("webauthn"), "revokesApps": accounts.policy.revokeAppPasswordsOnReset]
        if let error { data["error"] = error }
        return try views.page("reset", status: error == nil ? .ok : .badRequest, context: context, data: data)
    }

    func activityPage(_ context: PortalContext, _ account: Account, request: Request) async throws -> Response {
        let categoryName = request.uri.queryParameters["category"].map(String.init)
        let category = categoryName.flatMap(ActivityEntry.Category.init(rawValue:))
        var cursor: AuditCursor?
        if let text = request.uri.queryParameters["before"], let millis = Int64(text.prefix { $0 != "." }),
           let id = text.split(separator: ".", maxSplits: 1).dropFirst().first {
            cursor = AuditCursor(at: Date(timeIntervalSince1970: Double(millis) / 1000), id: String(id))
        }
        let page = try await accounts.activity(account: account, before: cursor, categories: category.map { [$0] }, limit: 50)
        var data: [String: Any] = [
            "all": category == nil, "signIn": category == .signIn, "protocolLogin": category == .protocolLogin, "change": category == .change,
            "hasEntries": !page.entries.isEmpty,
            "entries": page.entries.map { entry -> [String: Any] in
                ["when": PortalViews.display(entry.at), "summary": entry.summary, "from": entry.clientIP ?? "", "result": entry.result]
            },
        ]
        if let next = page.next {
            let before = "before=\(Int64(next.at.timeIntervalSince1970 * 1000)).\(next.id)"
            data["next"] = (category.map { "category=\($0.rawValue)&" } ?? "") + before
        }
        return try views.page("activity", context: context, data: data)
    }

    func totpSetupPage(_ context: PortalContext, _ account: Account, error: String?) async throws -> Response {
        guard let enrolment = try await accounts.pendingTOTP(account: account) else { return PortalViews.redirect("/security") }
        let qr = try QRCode.encode(enrolment.otpauthURI)
        var grouped = ""
        for (index, character) in enrolment.secretBase32.enumerated() {
            if index > 0, index % 4 == 0 { grouped.append(" ") }
            grouped.append(character)
        }
        var data: [String: Any] = [
            "qrSVG": qr.svg(moduleSize: 4, label: "QR code for your authenticator app"),
            "secret": enrolment.secretBase32, "secretGrouped": grouped,
        ]
        if let error { data["error"] = error }
        return try views.page("totp_setup", status: error == nil ? .ok : .badRequest, context: context, data: data)
    }

    // MARK: - Actions

    func signIn(_ context: PortalContext) async throws -> Response {
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
            return try signInPage(context, username: username, error: "The email address or password is not right. Check both and try again.",
                                  status: .unauthorized)
        } catch let error as PosternError where error.retryAfter != nil {
            return Self.withRetryAfter(try signInPage(context, username: username, error: error.message, status: .tooManyRequests), error)
        }
    }

    func verifyPage(_ context: PortalContext, _ account: Account, error: String? = nil) async throws -> Response {
        let methods = try await accounts.secondFactorMethods(account: account)
        var data: [String: Any] = ["username": account.username, "hasTOTP": methods.contains("totp"), "hasKeys": methods.contains("webauthn"),
                                   "hasCodes": methods.contains("recovery_code")]
        if let error { data["error"] = error }
        return try views.page("signin_verify", status: error == nil ? .ok : .unauthorized, context: context, data: data)
    }

    func pendingAccount(_ request: Request) async throws -> Account? {
        guard let token = CookiePolicy.parse(request.headers[.cookie])[cookies.pending] else { return nil }
        return try await accounts.pendingSignIn(token: token)
    }

    func verifySecondFactor(_ request: Request, _ context: PortalContext) async throws -> Response {
        guard let token = CookiePolicy.parse(request.headers[.cookie])[cookies.pending], let account = try await accounts.pendingSignIn(token: token) else {
            return try signInPage(context, error: "Your sign-in took too long. Start again.", status: .unauthorized)
        }
        do {
            let (sessionToken, _) = try await accounts.completeSignIn(pendingToken: token, otp: context.field("otp"),
                                                                      recoveryCode: context.form["recovery_code"]?.first, clientIP: context.peerAddress)
            return PortalViews.redirect("/security", cookies: signedInCookies(sessionToken) + [cookies.clear(cookies.pending)])
        } catch PosternError.invalidCode {
            return try await verifyPage(context, account, error: context.form["recovery_code"] != nil
                ? "That recovery code is not valid, or was used already." : "That code is not valid. Enter the code your app shows now.")
        } catch PosternError.invalidCredentials {
            return try signInPage(context, username: account.username, error: "Too many wrong codes. Sign in again.",
                                  status: .unauthorized, cookies: [cookies.clear(cookies.pending)])
        } catch let error as PosternError where error.retryAfter != nil {
            var page = try await verifyPage(context, account, error: error.message)
            page.status = .tooManyRequests
            return Self.withRetryAfter(page, error)
        }
    }

    func signUp(_ context: PortalContext) async throws -> Response {
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
            return Self.withRetryAfter(try views.page("signup", status: status, context: context, data: ["username": username, "error": error.message]),
                                       error)
        }
    }

    /// A refusal that ends by itself says when (`Retry-After`).
    static func withRetryAfter(_ response: Response, _ error: PosternError) -> Response {
        guard let seconds = error.retryAfter else { return response }
        var response = response
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    /// A new session cookie (the id changes at every sign-in step) and a new CSRF seed.
    func signedInCookies(_ token: String) -> [String] {
        [cookies.set(cookies.session, token), cookies.set(cookies.csrf, Secrets.newToken())]
    }

    /// Runs a sensitive change: signed in, and authenticated recently, or the
    /// user is asked to confirm first. Core errors come back on the Security page.
    func sensitive(_ context: PortalContext, _ change: ((session: Session, account: Account)) async throws -> Response) async throws -> Response {
        guard let browser = context.browser else { return PortalViews.redirect("/signin?notice=expired") }
        if accounts.needsReauthentication(browser.session) { return PortalViews.redirect("/security/reauth") }
        do {
            return try await change(browser)
        } catch let error as PosternError {
            if error.retryAfter != nil {
                return Self.withRetryAfter(try await securityPage(context, browser.account, error: error.message, status: .tooManyRequests), error)
            }
            let status: HTTPResponse.Status = switch error {
            case .invalidCredentials: .unauthorized
            case .reauthenticationRequired: .forbidden
            case .appPasswordNameTaken, .appPasswordLimit, .totpAlreadyEnabled: .conflict
            case .notFound: .notFound
            default: .badRequest
            }
            let message = error == .invalidCredentials ? "That password is not right." : error.message
            return try await securityPage(context, browser.account, error: message, status: status)
        }
    }
}

/// The bodies the portal's script posts for security keys.
struct KeyCredentialBody: Decodable {
    let credential: PublicKeyCredentialJSON
}

struct ResetTokenBody: Decodable {
    let token: String
}

struct ResetWithKeyBody: Decodable {
    let token: String
    let newPassword: String
    let credential: PublicKeyCredentialJSON
}

struct KeyRegistrationBody: Decodable {
    let name: String
    let credential: PublicKeyCredentialJSON
}
