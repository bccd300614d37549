import Foundation
import HTTPTypes
import Hummingbird
import PosternCore
import PosternProtocols

/// Signs a device-setup profile (CMS SignedData, DER). PosternApp makes one
/// from `device_setup.signing_certificate` and `device_setup.signing_key`.
public protocol ProfileSigning: Sendable {
    func sign(_ profile: Data) throws -> Data
}

/// Device-setup links over HTTP, on the portal listener: the user API's
/// `POST`, `GET` and `DELETE /api/v1/device-setups`, and the public
/// `GET /setup/{token}` that the phone opens. Every rule is the core's;
/// this translates, builds the profile from the core's answer and the
/// configured servers, and signs it when a signer is configured.
public struct DeviceSetupAPI: Sendable {
    public let accounts: AccountService
    /// The portal's public URL; links are `<publicURL>/setup/<token>`.
    public let publicURL: String
    public let incoming: AppleMailProfile.Server
    public let outgoing: AppleMailProfile.Server
    public let signer: (any ProfileSigning)?

    public init(accounts: AccountService, publicURL: String, incoming: AppleMailProfile.Server, outgoing: AppleMailProfile.Server,
                signer: (any ProfileSigning)?) {
        self.accounts = accounts
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.incoming = incoming
        self.outgoing = outgoing
        self.signer = signer
    }

    public func addRoutes(to router: Router<PortalContext>) {
        let signedIn = router.group("api/v1").group(context: SignedInContext.self)
        signedIn.post("device-setups") { request, context in try await create(request, context) }
        signedIn.get("device-setups") { _, context in
            JSONBody.response(.ok, try await accounts.listDeviceSetups(account: context.account).map(Item.init))
        }
        signedIn.delete("device-setups/:id") { _, context in
            try await accounts.cancelDeviceSetup(account: context.account, id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("setup/:token") { _, context in try await open(token: try context.parameters.require("token"), context: context) }
    }

    // MARK: - Handlers

    /// Only `apple` is accepted (the core says so): other clients take an
    /// app password typed in, from `POST /api/v1/app-passwords`.
    func create(_ request: Request, _ context: SignedInContext) async throws -> Response {
        let body = try await JSONBody.decode(NewDeviceSetup.self, from: request)
        guard let kind = DeviceSetup.Kind(rawValue: body.kind) else {
            throw PosternError.invalidRequest("kind must be one of apple, thunderbird, outlook or other.")
        }
        let issued = try await accounts.createDeviceSetup(account: context.account, session: context.session, kind: kind, name: body.name,
                                                          protocols: body.protocols)
        return JSONBody.response(.created, Created(id: issued.setup.id, url: "\(publicURL)/setup/\(issued.token)", expiresAt: issued.setup.expiresAt))
    }

    /// Spends the link and answers the profile, once. A GET that changes
    /// state, like the portal's one-time reveals: the link is the secret,
    /// and opening it is what it is for.
    ///
    /// Every answer is made here, failures too: the error middleware would
    /// log the request's path, and the path holds the token.
    func open(token: String, context: PortalContext) async throws -> Response {
        do {
            let redeemed = try await accounts.redeemDeviceSetup(token: token, clientIP: context.peerAddress)
            return try profileResponse(redeemed)
        } catch let error as PosternError {
            switch error {
            case .deviceSetupGone: return Self.page(.gone, "This link was already used or has expired. Ask for a new one on the Security page.")
            case .invalidRequest: return Self.page(.badRequest, "This is not a setup link. Check that the whole link was copied.")
            case .appPasswordLimit: return Self.page(.conflict, error.message)
            default: return Self.page(.badRequest, error.message)
            }
        } catch StoreError.unavailable {
            context.logger.error("store unavailable", metadata: ["path": "/setup/…"])
            return Self.page(.serviceUnavailable, "The server cannot answer right now. Try the link again in a minute.")
        } catch {
            context.logger.error("unexpected error", metadata: ["path": "/setup/…", "type": "\(type(of: error))"])
            return Self.page(.internalServerError, "Something went wrong on our side. Ask for a new setup link.")
        }
    }

    /// The profile for the account, with the link's new password, signed
    /// when a signer is configured.
    func profileResponse(_ redeemed: RedeemedDeviceSetup) throws -> Response {
        let profile = AppleMailProfile(address: redeemed.account.username, password: redeemed.appPassword.password, incoming: incoming,
                                       outgoing: outgoing, publicHost: URL(string: publicURL)?.host ?? "localhost",
                                       mentionsChat: redeemed.setup.protocols.contains(.xmpp))
        var bytes = try profile.xml()
        if let signer { bytes = try signer.sign(bytes) }
        return Response(status: .ok, headers: [
            .contentType: "application/x-apple-aspen-config",
            .contentDisposition: "attachment; filename=\"postern.mobileconfig\"",
            .cacheControl: "no-store",
        ], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A short page for a person holding a phone; nothing in it comes from
    /// the request.
    static func page(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
            <title>Device setup</title><link rel="stylesheet" href="/static/postern.css"></head><body><main>\
            <h1>Device setup</h1><p>\(HTMLEscaping.escape(message))</p></main></body></html>
            """
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    // MARK: - Bodies

    struct NewDeviceSetup: Decodable {
        let kind: String
        let name: String
        let protocols: [String]?
    }

    struct Created: Encodable {
        let id: String
        let url: String
        let expiresAt: Date
    }

    struct Item: Encodable {
        let listed: ListedDeviceSetup

        func encode(to encoder: any Encoder) throws {
            let setup = listed.setup
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(setup.id, forKey: .id)
            try c.encode(setup.kind.rawValue, forKey: .kind)
            try c.encode(setup.name, forKey: .name)
            try c.encode(UserAPI.protocolNames(setup.protocols), forKey: .protocols)
            try c.encode(setup.createdAt, forKey: .createdAt)
            try c.encode(setup.expiresAt, forKey: .expiresAt)
            try c.encode(setup.createdFrom, forKey: .createdFrom)
            try c.encode(setup.usedAt, forKey: .usedAt)
            try c.encode(setup.usedFrom, forKey: .usedFrom)
            try c.encode(setup.appPasswordID, forKey: .appPasswordId)
            try c.encode(listed.state.rawValue, forKey: .state)
        }
        enum CodingKeys: CodingKey { case id, kind, name, protocols, createdAt, expiresAt, createdFrom, usedAt, usedFrom, appPasswordId, state }
    }
}
