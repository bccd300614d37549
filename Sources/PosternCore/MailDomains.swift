import Foundation
import Synchronization

/// The mail domains Postern answers client-setup lookups for (Mozilla
/// autoconfig, Outlook Autodiscover): the configured list (`client.domains`)
/// when there is one, otherwise every domain some account is in.
///
/// The answer is about a domain, never an address: whether
/// `nobody@example.org` exists is not asked, so the documents built on it
/// cannot tell one address of a served domain from another.
public struct MailDomains: Sendable {
    /// Canonical domains; nil when the accounts decide.
    public let configured: Set<String>?
    let store: any AccountStore
    let clock: Clock
    /// The accounts' domains, read at most once a `refresh` (so a flood of
    /// lookups for made-up domains costs no query each), and when.
    private let known = Known()
    /// How long the accounts' domains are kept: a new domain's first account
    /// is answered for within this.
    public static let refresh: TimeInterval = 60

    /// `configured` empty means "the domains of existing accounts". Each
    /// entry must already be canonical (`canonical(_:)`).
    public init(configured: [String], store: any AccountStore, clock: Clock = .system) {
        self.configured = configured.isEmpty ? nil : Set(configured)
        self.store = store
        self.clock = clock
    }

    /// The canonical form of a domain (NFC, lower case), or nil when it is
    /// not a host name: labels of letters, digits and inner `-`, at most 63
    /// bytes, between dots, letters and digits of any script allowed
    /// (internationalised names typed as such). `_`, `%`, `@`, quotes and
    /// markup are refused, so a domain never carries a SQL `LIKE` wildcard.
    public static func canonical(_ raw: String) -> String? {
        guard let address = Username.canonical("x@" + raw) else { return nil }
        let domain = Username.domain(of: address)
        guard domain.utf8.count <= 253 else { return nil }
        for scalar in domain.unicodeScalars {
            switch scalar {
            case "a"..."z", "0"..."9", "-", ".": continue
            default:
                guard !scalar.isASCII, scalar.properties.isAlphabetic || scalar.properties.numericType != nil
                    || scalar.properties.generalCategory == .nonspacingMark || scalar.properties.generalCategory == .spacingMark else {
                    return nil
                }
            }
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-") }) ? domain : nil
    }

    /// A client's address in canonical form, with its canonical domain; nil
    /// when it is not an address of a domain that could be served.
    public static func address(_ raw: String) -> (address: String, domain: String)? {
        guard let address = Username.canonical(raw), let domain = canonical(Username.domain(of: address)) else { return nil }
        return (address, domain)
    }

    /// Whether client-setup documents are served for `domain` (canonical).
    /// Throws `StoreError.unavailable` when the accounts decide and the
    /// store cannot answer the first read.
    public func serves(_ domain: String) async throws -> Bool {
        if let configured { return configured.contains(domain) }
        guard Self.canonical(domain) == domain else { return false }
        return try await accountDomains().contains(domain)
    }

    /// The kept set, read again once it is older than `refresh`: by one
    /// caller while the others answer from the old set.
    private func accountDomains() async throws -> Set<String> {
        let now = clock.now
        let (domains, due) = known.state.withLock { known -> (Set<String>?, Bool) in
            let stale = known.at.map { now.timeIntervalSince($0) >= Self.refresh || now < $0 } ?? true
            guard stale else { return (known.domains, false) }
            if known.loading, known.at != nil { return (known.domains, false) }
            known.loading = true
            return (known.at == nil ? nil : known.domains, true)
        }
        guard due else { return domains ?? [] }
        do {
            let fresh = try await store.accountDomains()
            known.state.withLock { $0 = (fresh, now, false) }
            return fresh
        } catch {
            known.state.withLock { $0.loading = false }
            if let domains { return domains }
            throw error
        }
    }
}

/// The accounts' domains as last read, shared by every copy of a `MailDomains`.
private final class Known: Sendable {
    let state = Mutex<(domains: Set<String>, at: Date?, loading: Bool)>((domains: [], at: nil, loading: false))
}
