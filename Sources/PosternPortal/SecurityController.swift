import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP
import PosternQR

/// The Security pages (the overview, two-step sign-in, apps and devices, the
/// password) and the changes made from them: the password, the authenticator
/// app (TOTP), security keys, recovery codes, and confirming the password
/// again (reauth) before a sensitive change. App passwords are
/// `AppPasswordsController`'s.
///
/// Pages and the reauth form run on `BrowserContext`; sensitive changes on
/// `RecentlyProvenContext`, whose core errors `SensitiveChangeErrorMiddleware`
/// shows on the page whose form was sent. The script's key calls answer JSON, refusals
/// included (`PortalRefusalMiddleware`).
struct SecurityController: Sendable {
    let accounts: AccountService
    let views: PortalViews
    let securityPage: SecurityPage

    func addRoutes(to router: some RouterMethods<PortalContext>) {
        let signedIn = router.group(context: BrowserContext.self)
        signedIn.get("/security") { request, context in try await show(.overview, request, context) }
        signedIn.get("/security/two-step") { request, context in try await show(.twoStep, request, context) }
        signedIn.get("/security/password") { request, context in try await show(.password, request, context) }
        signedIn.get("/security/devices") { request, context in try await show(.devices, request, context) }
        signedIn.get("/security/devices/new/:kind", use: showNewDevice)
        // What the one Security page held moved to pages of their own; old links land there.
        for (old, new) in Self.moved { signedIn.get(RouterPath(old)) { _, _ in PortalViews.redirect(new) } }
        signedIn.get("/security/reauth", use: showReauth)
        signedIn.post("/security/reauth", use: reauthenticate)
        signedIn.get("/security/recovery-codes/new/:id", use: revealRecoveryCodes)

        let changes = router.group(context: RecentlyProvenContext.self)
            .add(middleware: SensitiveChangeErrorMiddleware(page: securityPage))
        changes.post("/security/password", use: changePassword)
        changes.post("/security/totp/start", use: startTOTP)
        // A pending setup shows its secret: only to a recently proven session.
        changes.get("/security/totp/setup", use: showTOTPSetup)
        changes.post("/security/totp/confirm", use: confirmTOTP)
        changes.post("/security/totp/disable", use: disableTOTP)
        changes.post("/security/keys/:id/remove", use: removeKey)
        changes.post("/security/recovery-codes", use: generateRecoveryCodes)

        let scripts = router.group().add(middleware: PortalRefusalMiddleware(for: .script))
        scripts.group(context: RecentlyProvenContext.self).post("/security/keys/options", use: keyOptions)
        scripts.group(context: BrowserContext.self).post("/security/keys", use: addKey)
    }

    /// Paths that once were part of the one Security page (or never were
    /// pages, only forms' targets), and the page that now shows them.
    static let moved: [(String, String)] = [
        ("/security/app-passwords", "/security/devices"), ("/security/totp", "/security/two-step"),
        ("/security/mfa", "/security/two-step"), ("/security/keys", "/security/two-step"),
        ("/security/recovery-codes", "/security/two-step"),
    ]

    /// One of the Security pages; `?done=` names the change just made there.
    func show(_ section: SecurityPage.Section, _ request: Request, _ context: BrowserContext) async throws -> Response {
        let notice = request.uri.queryParameters["done"].flatMap { PortalViews.notices[String($0)] }
        return try await securityPage.render(context, context.account, section: section, notice: notice)
    }

    /// The form for one kind of device, its name and protocols filled in.
    func showNewDevice(_ request: Request, context: BrowserContext) async throws -> Response {
        guard let kind = DeviceKind(rawValue: try context.parameters.require("kind")) else { throw HTTPError(.notFound) }
        if kind == .other { return PortalViews.redirect("/security/devices#by-hand") }
        return try await show(.newDevice(kind), request, context)
    }

    // MARK: - Confirming it's you

    /// `?next=` (a path on this site) is where a confirmed user goes back to:
    /// the page whose change sent them here. Without it, the Security page.
    func showReauth(_ request: Request, context: BrowserContext) async throws -> Response {
        let next = request.uri.queryParameters["next"].flatMap { PortalViews.localPath(String($0)) }
        return try views.page("reauth", context: context, data: try await reauthData(context, next: next))
    }

    /// What the page asks for: the password, and with MFA on a code from the
    /// authenticator app (when there is one) or a recovery code.
    func reauthData(_ context: BrowserContext, next: String?) async throws -> [String: Any] {
        let methods = try await accounts.secondFactorMethods(account: context.account)
        var data: [String: Any] = ["mfaOn": context.account.mfaEnabled, "hasTOTP": methods.contains(.totp),
                                   "hasCodes": methods.contains(.recoveryCode)]
        if let next { data["next"] = next }
        return data
    }

    func reauthenticate(_ request: Request, context: BrowserContext) async throws -> Response {
        let next = PortalViews.localPath(context.field("next"))
        do {
            try await accounts.reauthenticate(session: context.session, account: context.account, password: context.field("password"),
                                              otp: context.form["otp"]?.first, recoveryCode: context.form["recovery_code"]?.first)
            return PortalViews.redirect(next ?? "/security?done=confirmed")
        } catch let error as PosternError {
            let message = switch error {
            case .invalidCode: "That code is not valid. Enter the current code."
            case .invalidCredentials: "That password is not right."
            default: error.message
            }
            var data = try await reauthData(context, next: next)
            data["error"] = message
            let page = try views.page("reauth", status: error.retryAfter == nil ? .unauthorized : .tooManyRequests, context: context, data: data)
            return PortalViews.withRetryAfter(page, error)
        }
    }

    // MARK: - Password

    func changePassword(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        try await accounts.changePassword(account: context.account, current: context.field("current_password"),
                                          new: context.field("new_password"), keepingSession: context.session.tokenDigest,
                                          revokeAppPasswords: context.field("revoke_app_passwords") == "1")
        return PortalViews.redirect("/security/password?done=password_changed")
    }

    // MARK: - Authenticator app

    func startTOTP(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        _ = try await accounts.beginTOTP(account: context.account)
        return PortalViews.redirect("/security/totp/setup")
    }

    func showTOTPSetup(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        try await totpSetupPage(context, error: nil)
    }

    func confirmTOTP(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        do {
            try await accounts.confirmTOTP(account: context.account, code: context.field("otp"))
            return PortalViews.redirect("/security/two-step?done=mfa_on")
        } catch PosternError.invalidCode {
            return try await totpSetupPage(context, error: "That code is not valid. Enter the code your app shows now.")
        } catch PosternError.totpNotPending {
            return PortalViews.redirect("/security/two-step")  // nothing pending any more (expired or confirmed elsewhere)
        } catch let error as PosternError where error.retryAfter != nil {
            return PortalViews.withRetryAfter(try await totpSetupPage(context, error: error.message), error)
        }
    }

    func disableTOTP(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        try await accounts.disableTOTP(account: context.account, password: context.field("password"), code: context.field("otp"))
        return PortalViews.redirect("/security/two-step?done=mfa_off")
    }

    func totpSetupPage(_ context: RecentlyProvenContext, error: String?) async throws -> Response {
        guard let enrolment = try await accounts.pendingTOTP(account: context.account) else { return PortalViews.redirect("/security/two-step") }
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

    // MARK: - Security keys

    /// The script's first call: options for a new key (a sensitive change).
    func keyOptions(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        JSONBody.object(.ok, try await accounts.beginKeyRegistration(account: context.account))
    }

    /// The script's second call: the new key's attestation, checked against the
    /// challenge the first call issued.
    func addKey(_ request: Request, context: BrowserContext) async throws -> Response {
        let body = try await JSONBody.decode(KeyRegistrationBody.self, from: request)
        do {
            _ = try await accounts.finishKeyRegistration(account: context.account, name: body.name,
                                                         clientDataJSON: try body.credential.bytes(body.credential.response.clientDataJSON, "response.clientDataJSON"),
                                                         attestationObject: try body.credential.bytes(body.credential.response.attestationObject, "response.attestationObject"))
            return JSONBody.object(.created, ["ok": true])
        } catch let error as PosternError {
            return JSONBody.object(.badRequest, ["message": error.message])
        }
    }

    func removeKey(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        guard let id = Base64URL.decode(try context.parameters.require("id")) else { throw PosternError.notFound }
        try await accounts.removeSecurityKey(account: context.account, session: context.session, credentialID: id)
        return PortalViews.redirect("/security/two-step?done=key_removed")
    }

    // MARK: - Recovery codes

    /// New codes, kept sealed for one showing to this session (see `revealRecoveryCodes`).
    func generateRecoveryCodes(_ request: Request, context: RecentlyProvenContext) async throws -> Response {
        let codes = try await accounts.generateRecoveryCodes(account: context.account)
        let id = try await accounts.stashReveal(codes.joined(separator: "\n"), session: context.session)
        return PortalViews.redirect("/security/recovery-codes/new/\(id)")
    }

    /// Shows the new codes once. Reading them spends the reveal: one of the two
    /// documented exceptions to "nothing changes state on GET" (PosternPortal.swift).
    func revealRecoveryCodes(_ request: Request, context: BrowserContext) async throws -> Response {
        guard let stashed = try await accounts.takeReveal(id: try context.parameters.require("id"), session: context.session) else {
            return try views.page("recovery_codes", status: .gone, context: context, data: ["shown": false])
        }
        let codes = stashed.split(separator: "\n").map(String.init)
        let text = "Postern recovery codes for \(context.account.username)\n\n" + codes.joined(separator: "\n") + "\n"
        return try views.page("recovery_codes", context: context, data: [
            "shown": true, "codes": codes,
            "download": text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "",
        ])
    }
}

/// The body the portal's script posts to add a security key.
struct KeyRegistrationBody: Decodable {
    let name: String
    let credential: PublicKeyCredentialJSON
}
