import Foundation
import Hummingbird
import PosternCore

extension UserAPI {
    func addAppPasswordRoutes(signedIn: RouterGroup<SignedInContext>) {
        signedIn.get("app-passwords") { _, context in
            let records = try await accounts.listAppPasswords(account: context.account)
            return JSONBody.response(.ok, records.map(AppPasswordItem.init))
        }
        signedIn.post("app-passwords") { request, context in
            try requireRecentProof(context)
            let body = try await JSONBody.decode(NewAppPassword.self, from: request)
            let expiresAt = try body.expiresAt.map(Self.parseDate)
            let issued = try await accounts.createAppPassword(account: context.account, name: body.name, protocols: body.protocols,
                                                              expiresAt: expiresAt)
            return JSONBody.response(.created, IssuedBody(id: issued.record.id, name: issued.record.name, password: issued.password,
                                                          protocols: Self.protocolNames(issued.record.protocols),
                                                          createdAt: issued.record.createdAt, expiresAt: issued.record.expiresAt))
        }
        signedIn.delete("app-passwords/:id") { _, context in
            try requireRecentProof(context)
            let id = try context.parameters.require("id")
            try await accounts.revokeAppPassword(account: context.account, id: id)
            return Self.noContent
        }
        signedIn.delete("app-passwords") { _, context in
            try requireRecentProof(context)
            try await accounts.revokeAllAppPasswords(account: context.account)
            return Self.noContent
        }
    }
}
