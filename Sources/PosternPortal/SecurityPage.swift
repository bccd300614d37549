import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// The Security pages: an overview of cards, each leading to its own page
/// (two-step sign-in, apps and devices, the password), and the page for
/// setting up one kind of device. Shared by the controllers whose changes come
/// back to one of them, with a notice or an error.
///
/// Only reads: what each page shows is asked of the core, never decided here.
struct SecurityPage: Sendable {
    let accounts: AccountService
    let views: PortalViews
    /// Whether the profiles setup links deliver are signed (the server's
    /// signing setting), which decides what the device will say about them.
    var profilesSigned = false

    /// One of the Security pages, by what it is about.
    enum Section: Equatable, Sendable {
        case overview, twoStep, devices, password
        /// Setting up one kind of device (`/security/devices/new/:kind`).
        case newDevice(DeviceKind)

        var template: String {
            switch self {
            case .overview: "security"
            case .twoStep: "security_two_step"
            case .devices: "security_devices"
            case .password: "security_password"
            case .newDevice: "device_new"
            }
        }

        /// Where a change made on this page comes back to.
        var path: String {
            switch self {
            case .overview: "/security"
            case .twoStep: "/security/two-step"
            case .devices: "/security/devices"
            case .password: "/security/password"
            case .newDevice(let kind): "/security/devices/new/\(kind.rawValue)"
            }
        }

        /// The page a sensitive change's form was on, from the path it posts
        /// to, so that a refusal is shown beside the form that caused it.
        static func posting(to path: String, form: [String: [String]]) -> Section {
            if path.hasPrefix("/security/password") { return .password }
            if path.hasPrefix("/security/app-passwords") || path.hasPrefix("/security/devices") {
                if let kind = form["kind"]?.first.flatMap(DeviceKind.init(rawValue:)) { return .newDevice(kind) }
                return .devices
            }
            return .twoStep
        }
    }

    func render(_ context: some PortalPageContext, _ account: Account, section: Section = .overview, notice: String? = nil,
                error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let time = RelativeTime(now: accounts.now)
        var data: [String: Any] = switch section {
        case .overview: try await overviewData(account, time)
        case .twoStep: try await twoStepData(account, time)
        case .devices: try await devicesData(context, account, time)
        case .password: ["mfaOn": account.mfaEnabled, "revokeByDefault": accounts.policy.passwordChangeRevokesByDefault]
        case .newDevice(let kind): try await newDeviceData(context, account, kind)
        }
        if let notice { data["notice"] = notice }
        if let error { data["error"] = error }
        return try views.page(section.template, status: status, context: context, data: data)
    }

    // MARK: - The overview

    /// One card per page: what is set up, and what was used last.
    func overviewData(_ account: Account, _ time: RelativeTime) async throws -> [String: Any] {
        var data = try await factorSummary(account)
        let records = try await accounts.listAppPasswords(account: account)
        data["appPasswordCount"] = Self.count(records.count, "app password", none: "No app passwords yet")
        let lastUsed = records.filter { $0.lastUse != nil }.max { $0.lastUse!.at < $1.lastUse!.at }
        if let lastUsed, let use = lastUsed.lastUse {
            data["lastUsed"] = ["name": lastUsed.name, "at": time.view(use.at), "how": Self.whereAndHow(use)]
        }
        let recent = try await accounts.activity(account: account, before: nil, categories: nil, limit: 3)
        data["hasRecent"] = !recent.entries.isEmpty
        data["recent"] = recent.entries.map { ["at": time.view($0.at), "summary": $0.summary, "result": $0.result] }
        return data
    }

    /// The two-step card's facts, also the top of the two-step page.
    func factorSummary(_ account: Account) async throws -> [String: Any] {
        let methods = try await accounts.secondFactorMethods(account: account)
        let keyCount = try await accounts.securityKeys(account: account).count
        let codes = try await accounts.remainingRecoveryCodes(account: account)
        return [
            "mfaOn": account.mfaEnabled, "totpOn": methods.contains(.totp),
            "keyCount": Self.count(keyCount, "security key", none: "No security keys"),
            "codesLeft": codes == 0 ? "No recovery codes" : Self.count(codes, "recovery code") + " left",
            "fewCodes": account.mfaEnabled && codes <= 3,
        ]
    }

    // MARK: - Two-step sign-in

    func twoStepData(_ account: Account, _ time: RelativeTime) async throws -> [String: Any] {
        var data = try await factorSummary(account)
        let keys = try await accounts.securityKeys(account: account)
        let codesRemaining = try await accounts.remainingRecoveryCodes(account: account)
        data["hasKeys"] = !keys.isEmpty
        data["keys"] = keys.map { key -> [String: Any] in
            var item: [String: Any] = ["id": Base64URL.encode(key.credentialID), "name": key.name, "added": time.view(key.createdAt)]
            if let used = key.lastUsedAt { item["lastUsed"] = time.view(used) }
            return item
        }
        data["hasCodes"] = codesRemaining > 0
        data["codesRemaining"] = codesRemaining
        data["oneCode"] = codesRemaining == 1
        return data
    }

    // MARK: - Apps and devices

    func devicesData(_ context: some PortalPageContext, _ account: Account, _ time: RelativeTime) async throws -> [String: Any] {
        let records = try await accounts.listAppPasswords(account: account)
        return [
            "mfaOn": account.mfaEnabled,
            "hasAppPasswords": !records.isEmpty,
            "appPasswords": records.map { Self.row($0, time) },
            "kinds": DeviceKind.allCases.map { ["href": $0.href, "label": $0.label, "hint": $0.hint] },
            "protocolChoices": Self.choices(checked: Set(LoginProtocol.allCases)),
            "nameValue": context.form["kind"] == nil ? context.field("name") : "",
        ]
    }

    func newDeviceData(_ context: some PortalPageContext, _ account: Account, _ kind: DeviceKind) async throws -> [String: Any] {
        let taken = try await accounts.listAppPasswords(account: account).map(\.name)
        let posted = context.form["kind"] != nil ? context.form["name"]?.first : nil
        var data: [String: Any] = [
            "kind": kind.rawValue, "label": kind.label, "isApple": kind == .apple,
            "nameValue": posted ?? kind.suggestedName(avoiding: taken),
            "protocolChoices": Self.choices(checked: kind.protocols),
        ]
        if kind == .apple { data.merge(try await setupLinksData(account)) { $1 } }
        return data
    }

    /// The account's setup links that are waiting or were used, and whether
    /// their profiles are signed: for the Apple page and the link's own page.
    func setupLinksData(_ account: Account) async throws -> [String: Any] {
        let time = RelativeTime(now: accounts.now)
        let links = try await accounts.listDeviceSetups(account: account)
        return [
            "signed": profilesSigned, "hasLinks": !links.isEmpty, "minutes": Int(AccountService.deviceSetupLifetime / 60),
            "links": links.map { listed -> [String: Any] in
                let setup = listed.setup
                var item: [String: Any] = ["id": setup.id, "name": setup.name, "pending": listed.state == .pending,
                                           "expires": time.view(setup.expiresAt), "created": time.view(setup.createdAt),
                                           "asked": setup.createdFrom ?? "an unknown address"]
                if listed.state == .used, let usedAt = setup.usedAt {
                    item["used"] = ["at": time.view(usedAt, text: time.clock(usedAt)), "from": setup.usedFrom ?? "an unknown address"]
                }
                return item
            },
        ]
    }

    /// One app password in the list: never its secret, only what it is for and when it was used.
    static func row(_ record: AppPasswordRecord, _ time: RelativeTime) -> [String: Any] {
        var item: [String: Any] = [
            "id": record.id, "name": record.name, "created": time.view(record.createdAt),
            "scopes": Scope.all.filter { record.protocols.contains($0.value) }.map(\.label),
        ]
        if let use = record.lastUse { item["lastUsed"] = ["at": time.view(use.at), "how": whereAndHow(use)] }
        if let expires = record.expiresAt { item["expires"] = time.view(expires) }
        return item
    }

    /// The same facts with exact times, as the operator's console shows them
    /// beside its log.
    static func exactRow(_ record: AppPasswordRecord) -> [String: Any] {
        var item: [String: Any] = [
            "id": record.id, "name": record.name, "created": PortalViews.display(record.createdAt),
            "protocols": Scope.all.filter { record.protocols.contains($0.value) }.map(\.label).joined(separator: ", "),
        ]
        if let use = record.lastUse { item["lastUsed"] = PortalViews.display(use.at) + " " + whereAndHow(use) }
        if let expires = record.expiresAt { item["expires"] = PortalViews.display(expires) }
        return item
    }

    /// "from 198.51.100.7 over IMAP": where the last login came from and which
    /// protocol it used.
    static func whereAndHow(_ use: LastUse) -> String {
        (use.clientIP.map { "from \($0) " } ?? "") + "over " + Scope.named(use.loginProtocol).short
    }

    static func choices(checked: Set<LoginProtocol>) -> [[String: Any]] {
        Scope.all.map { ["value": $0.value.rawValue, "label": $0.label, "checked": checked.contains($0.value)] }
    }

    /// "3 app passwords", "1 app password", or `none`.
    static func count(_ number: Int, _ noun: String, none: String? = nil) -> String {
        if number == 0, let none { return none }
        return "\(number) \(noun)" + (number == 1 ? "" : "s")
    }

    // MARK: - Scopes

    /// What an app password may be used for, in the same words on the form
    /// and in the list.
    struct Scope: Sendable {
        let value: LoginProtocol
        /// In a sentence: "over IMAP".
        let short: String
        /// On the form and in the list.
        let label: String

        static let all: [Scope] = [
            Scope(value: .imap, short: "IMAP", label: "IMAP (reading mail)"),
            Scope(value: .pop3, short: "POP3", label: "POP3 (reading mail)"),
            Scope(value: .smtp, short: "SMTP", label: "SMTP (sending mail)"),
            Scope(value: .xmpp, short: "XMPP", label: "XMPP (chat)"),
            Scope(value: .other, short: "another protocol", label: "Other"),
        ]

        static func named(_ value: LoginProtocol) -> Scope { all.first { $0.value == value }! }
    }
}

/// For sensitive changes: a refusal from the core comes back on the Security
/// page whose form was sent, with the status that says why (and `Retry-After`
/// when it ends by itself). Other errors go on to `PortalErrorMiddleware`.
struct SensitiveChangeErrorMiddleware: RouterMiddleware {
    let page: SecurityPage

    func handle(_ request: Request, context: RecentlyProvenContext,
                next: (Request, RecentlyProvenContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PosternError {
            let section = SecurityPage.Section.posting(to: request.uri.path, form: context.form)
            if error.retryAfter != nil {
                let shown = try await page.render(context, context.account, section: section, error: error.message, status: .tooManyRequests)
                return PortalViews.withRetryAfter(shown, error)
            }
            let status: HTTPResponse.Status = switch error {
            case .invalidCredentials: .unauthorized
            case .reauthenticationRequired: .forbidden
            case .appPasswordNameTaken, .appPasswordLimit, .totpAlreadyEnabled: .conflict
            case .notFound: .notFound
            default: .badRequest
            }
            let message = error == .invalidCredentials ? "That password is not right." : error.message
            return try await page.render(context, context.account, section: section, error: message, status: status)
        }
    }
}
