import Foundation
import PosternCore
import Testing

/// `servesDomain`, on every store: the domain part of a username, matched
/// exactly, with SQL's `LIKE` wildcards taken literally.
@Suite("Store contract: served domains")
struct DomainStoreContractTests {
    @Test("a domain is served when some username ends in @domain, and only then", arguments: StoreKind.allCases)
    func servedDomains(kind: StoreKind) async throws {
        try await TestStore.with(kind) { store in
            #expect(try await !store.servesDomain("example.org"), "no accounts, no domains")
            for name in ["alice@example.org", "bob@mail.example.net", "carol@exa_ple.com", "dave@a%b.org", "erin@back\\slash.org"] {
                let account = Fixture.account(name)
                try await store.createAccount(account, audit: Fixture.audit(account.id, .accountCreated))
            }
            for served in ["example.org", "mail.example.net", "exa_ple.com", "a%b.org", "back\\slash.org"] {
                #expect(try await store.servesDomain(served), "\(served)")
            }
            let notServed = ["ample.org", "org", "example.or", "xample.org", "sub.example.org", "example.net", "e@example.org", "",
                             "exa-ple.com", "exaxple.com", "exampl_.org", "%", "%.org", "_xample.org", "example.org%", "a_b.org",
                             "axb.org", "backslash.org", "back\\\\slash.org", "\\", "%@example.org", "alice@example.org"]
            for domain in notServed {
                #expect(try await !store.servesDomain(domain), "\(domain.debugDescription)")
            }
        }
    }
}
