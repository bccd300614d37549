import Foundation
import Logging
import PosternCore
import PosternSQL
import PosternTestSupport
import Synchronization
import Testing

/// A cheap scrypt that counts how often it runs.
final class CountingHasher: PasswordHasher {
    let inner: ScryptHasher
    let verifications = Atomic<Int>(0)

    init(logN: Int = 10) { inner = ScryptHasher(parameters: .init(logN: logN)) }
    var dummyHash: String { inner.dummyHash }
    var count: Int { verifications.load(ordering: .relaxed) }
    func hash(_ password: String) async throws -> String { try inner.hashNow(password) }
    func verify(_ password: String, against encoded: String) async throws -> Bool {
        verifications.add(1, ordering: .relaxed)
        return try inner.verifyNow(password, against: encoded)
    }
    func needsRehash(_ encoded: String) -> Bool { inner.needsRehash(encoded) }
}

/// The core's services wired to a store: in memory unless a test asks for
/// another kind (a few end-to-end tests run on every `StoreKind`).
struct CoreHarness {
    let test: TestStore
    let hasher: CountingHasher
    let keys = KeyRing(serverKey: Secrets.randomBytes(32))
    let recorder = LoginRecorder()
    let clock = TestClock()
    let accounts: AccountService
    let authenticator: ProtocolAuthenticator
    /// The one guard both services ask, as in a running Postern.
    let credentialGuard: CredentialGuard
    let notices: NoticeComposer

    /// With `cached`, on a SQL store, logins go through a credential cache
    /// kept by a change feed, as in a running Postern (its freshness long, so
    /// a slow test machine does not turn it off between steps).
    init(kind: StoreKind = .memory, logN: Int = 10, policy: AccountPolicy = AccountPolicy(), throttle: ThrottlePolicy = ThrottlePolicy(),
         cached: Bool = false) async throws {
        var test = try await kind.make()
        let credentials = CredentialCache(capacity: cached ? 1000 : 0, freshness: .seconds(3600))
        if cached, let executor = test.executor {
            let feed = CredentialFeed(cache: credentials, executor: executor, logger: Logger(label: "test"))
            test.store = SQLStore(executor: CredentialFeedExecutor(executor, feed: feed))
            try await feed.catchUp()
        }
        self.test = test
        hasher = CountingHasher(logN: logN)
        credentialGuard = CredentialGuard(store: test.store, keys: keys, throttle: LoginThrottle(policy: throttle))
        notices = NoticeComposer(keys: keys, publicURL: "https://mail.example.org", productName: "Postern")
        accounts = AccountService(store: test.store, hasher: hasher, keys: keys, passwordPolicy: .bundled(), policy: policy, clock: clock.clock,
                                  credentialGuard: credentialGuard, notices: notices)
        authenticator = ProtocolAuthenticator(store: test.store, hasher: hasher, keys: keys, cache: VerifiedPasswordCache(key: keys.passwordCacheKey),
                                              recorder: recorder, clock: clock.clock, credentialGuard: credentialGuard, credentials: credentials)
    }

    func login(_ username: String, _ password: String, _ proto: LoginProtocol = .imap, ip: String? = "192.0.2.10") async -> ProtocolLoginOutcome {
        await authenticator.authenticate(ProtocolLoginRequest(username: username, password: password, loginProtocol: proto, clientIP: ip))
    }

    /// The current code of the account's confirmed authenticator app.
    func code(for enrolment: TOTPEnrolment, offset: Int = 0) -> String {
        OneTimePassword.totp(key: Base32.decode(enrolment.secretBase32)!, at: clock.now.addingTimeInterval(Double(offset * 30)))
    }

    func enableTOTP(_ account: Account) async throws -> TOTPEnrolment {
        let enrolment = try await accounts.beginTOTP(account: account)
        try await accounts.confirmTOTP(account: account, code: code(for: enrolment))
        clock.advance(30)
        return enrolment
    }
}
