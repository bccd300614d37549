import Foundation
import PosternCore
import Testing

/// `accountDomains`, on every store: the part of each username after its
/// last `@`, exactly as stored.
@Suite("Store contract: served domains")
struct DomainStoreContractTests {
    @Test("the accounts' domains are exactly the parts after each username's @", arguments: StoreKind.allCases)
    func servedDomains(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            #expect(try await store.accountDomains().isEmpty, "no accounts, no domains")
            for name in ["alice@example.org", "bob@mail.example.net", "carol@exa_ple.com", "dave@a%b.org", "erin@back\\slash.org", "frank@example.org"] {
                let account = Fixture.account(name)
                try await store.createAccount(account, audit: Fixture.audit(account.id, .accountCreated))
            }
            #expect(try await store.accountDomains() == ["example.org", "mail.example.net", "exa_ple.com", "a%b.org", "back\\slash.org"])
        }
    }
}
