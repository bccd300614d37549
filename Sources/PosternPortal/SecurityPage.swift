import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternHTTP

/// The Security page: second factors, recovery codes, app passwords. Shared by
/// the controllers whose changes come back to it, with a notice or an error.
struct SecurityPage: Sendable {
    let accounts: AccountService
    let views: PortalViews

    static let protocolLabels: [(LoginProtocol, String)] = [
        (.imap, "IMAP (reading mail)"), (.pop3, "POP3"), (.smtp, "SMTP (sending mail)"), (.xmpp, "XMPP (chat)"), (.other, "Other"),
    ]

    func render(_ context: some PortalPageContext, _ account: Account, notice: String? = nil, error: String? = nil,
                status: HTTPResponse.Status = .ok) async throws -> Response {
        let records = try await accounts.listAppPasswords(account: account)
        let keys = try await accounts.securityKeys(account: account)
        let methods = try await accounts.secondFactorMethods(account: account)
        let codesRemaining = try await accounts.remainingRecoveryCodes(account: account)
        var data: [String: Any] = [
            "mfaOn": account.mfaEnabled,
            "totpOn": methods.contains(.totp),
            "hasKeys": !keys.isEmpty,
            "keys": keys.map { key -> [String: Any] in
                var item: [String: Any] = ["id": Base64URL.encode(key.credentialID), "name": key.name, "added": PortalViews.display(key.createdAt)]
                if let used = key.lastUsedAt { item["lastUsed"] = PortalViews.display(used) }
                return item
            },
            "hasCodes": codesRemaining > 0, "codesRemaining": codesRemaining, "oneCode": codesRemaining == 1,
            "fewCodes": account.mfaEnabled && codesRemaining <= 3,
            "hasAppPasswords": !records.isEmpty,
            "appPasswords": records.map(Self.row),
            "revokeByDefault": accounts.policy.passwordChangeRevokesByDefault,
            "protocolChoices": Self.protocolLabels.map { ["value": $0.0.rawValue, "label": $0.1] },
            "nameValue": context.form["name"]?.first ?? "",
        ]
        if let notice { data["notice"] = notice }
        if let error { data["error"] = error }
        return try views.page("security", status: status, context: context, data: data)
    }

    /// One app password in the list: never its secret, only what it is for and when it was used.
    static func row(_ record: AppPasswordRecord) -> [String: Any] {
        var item: [String: Any] = [
            "id": record.id, "name": record.name, "created": PortalViews.display(record.createdAt),
            "protocols": LoginProtocol.allCases.filter(record.protocols.contains).map { $0.rawValue.uppercased() }.joined(separator: ", "),
        ]
        if let use = record.lastUse {
            item["lastUsed"] = "\(PortalViews.display(use.at))" + (use.clientIP.map { " from \($0)" } ?? "") + " over \(use.loginProtocol.rawValue.uppercased())"
        }
        if let expires = record.expiresAt { item["expires"] = PortalViews.display(expires) }
        return item
    }
}

/// For sensitive changes: a refusal from the core comes back on the Security
/// page, with the status that says why (and `Retry-After` when it ends by
/// itself). Other errors go on to `PortalErrorMiddleware`.
struct SensitiveChangeErrorMiddleware: RouterMiddleware {
    let page: SecurityPage

    func handle(_ request: Request, context: RecentlyProvenContext,
                next: (Request, RecentlyProvenContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PosternError {
            if error.retryAfter != nil {
                return PortalViews.withRetryAfter(try await page.render(context, context.account, error: error.message, status: .tooManyRequests), error)
            }
            let status: HTTPResponse.Status = switch error {
            case .invalidCredentials: .unauthorized
            case .reauthenticationRequired: .forbidden
            case .appPasswordNameTaken, .appPasswordLimit, .totpAlreadyEnabled: .conflict
            case .notFound: .notFound
            default: .badRequest
            }
            let message = error == .invalidCredentials ? "That password is not right." : error.message
            return try await page.render(context, context.account, error: message, status: status)
        }
    }
}
