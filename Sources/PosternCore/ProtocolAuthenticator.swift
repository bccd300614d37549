import Foundation
import Synchronization

/// One login attempt from a mail or chat server.
public struct ProtocolLoginRequest: Sendable {
    public var username: String
    public var password: String
    public var loginProtocol: LoginProtocol
    public var clientIP: String?

    public init(username: String, password: String, loginProtocol: LoginProtocol, clientIP: String?) {
        self.username = username
        self.password = password
        self.loginProtocol = loginProtocol
        self.clientIP = clientIP
    }
}

public enum ProtocolLoginOutcome: Sendable, Equatable {
    case decided(LoginDecision)
    /// The store could not answer. Adapters must report a temporary failure,
    /// never a denial, so clients keep their saved password.
    case temporaryFailure
}

/// The stores a protocol login reads: the account, its app passwords, and
/// the shared failure counters (for the default `CredentialGuard`). Decisions
/// are written through `LoginRecorder`, not here.
public typealias ProtocolLoginStore = AccountStore & AppPasswordStore & ThrottleStore

/// Answers "may this protocol login proceed?", the question every IMAP, POP3,
/// SMTP and XMPP login asks. Gathers the facts through the store, hands them to
/// `LoginPolicy`, and records the decision.
///
/// Cost: for an app password of an account seen before, an HMAC and a lookup
/// in `CredentialCache` while its change feed is live; on a miss, one indexed
/// query (app password joined with its account); for an account not seen
/// before, an account lookup and one indexed app-password lookup. A slow hash
/// runs only when the password is not an app password and no recent match is
/// cached; for an unknown user a hash of the same cost runs against a dummy, so
/// "unknown user" and "wrong password" take the same time.
public struct ProtocolAuthenticator: Sendable {
    public static let maximumPasswordBytes = 1024

    let store: any ProtocolLoginStore
    let hasher: any PasswordHasher
    let keys: KeyRing
    let cache: VerifiedPasswordCache
    /// App passwords recently looked up, answered while the change feed is live.
    public let credentials: CredentialCache
    let recorder: LoginRecorder
    let clock: Clock
    /// Asked before the account password is checked; told every result.
    let credentialGuard: CredentialGuard
    let accountIDs = AccountIDCache()
    /// Composes the owner's notifications; nil sends none.
    let notices: NoticeComposer?
    /// Once-keys this instance already handed to the store, so a busy app
    /// password does not try its "new network" notice on every login. The
    /// store still decides "once" across instances.
    let noticeKeysSeen = RecentKeys(capacity: 100_000)
    /// App passwords this instance saw succeed, for "first use" before the
    /// write-behind last use reaches the store.
    let appPasswordsUsed = RecentKeys(capacity: 100_000)

    public init(store: any ProtocolLoginStore, hasher: any PasswordHasher, keys: KeyRing, cache: VerifiedPasswordCache,
                recorder: LoginRecorder, clock: Clock = .system, credentialGuard: CredentialGuard? = nil,
                notices: NoticeComposer? = nil, credentials: CredentialCache = CredentialCache(capacity: 0)) {
        self.credentials = credentials
        self.credentialGuard = credentialGuard ?? CredentialGuard(store: store, keys: keys)
        self.notices = notices
        self.store = store
        self.hasher = hasher
        self.keys = keys
        self.cache = cache
        self.recorder = recorder
        self.clock = clock
    }

    public func authenticate(_ request: ProtocolLoginRequest) async -> ProtocolLoginOutcome {
        await evaluate(request).outcome
    }

    /// The decision, and how long the adapter should wait before answering
    /// (zero unless this source or account has been guessing). Adapters carry
    /// the wait their protocol's way; waiting must hold no thread.
    public func evaluate(_ request: ProtocolLoginRequest) async -> (outcome: ProtocolLoginOutcome, delay: TimeInterval) {
        let now = clock.now
        let facts: LoginFacts
        let gate: Gate
        do {
            (facts, gate) = try await gatherFacts(request, now: now)
        } catch {
            return (.temporaryFailure, 0)
        }
        let decision = LoginPolicy.decide(facts)
        let ip = request.clientIP
        var delay: TimeInterval = 0
        var recordIt = true
        // The guard counted an account-password attempt before it was checked:
        // a wrong password (or unknown name) keeps that count, anything else
        // gives it back.
        if case .admitted(let attempt) = gate {
            if decision == .deny(.wrongPassword) || decision == .deny(.unknownUser) {
                delay = credentialGuard.accountPasswordFailed(attempt, accountID: facts.account?.id, clientIP: ip, now: now)
            } else {
                await credentialGuard.accountPasswordSettled(attempt, now: now)
            }
        }
        switch decision {
        case .allow(let accountID, _, .accountPassword):
            credentialGuard.accountPasswordSucceeded(accountID: accountID, clientIP: ip, now: now)
        case .allow, .deny(.wrongPassword), .deny(.unknownUser):
            break  // an app password earns no standing for account-password attempts; failures are settled above
        case .deny(.throttled):
            // Refused before any work; the refusal itself waits out the pace.
            if case .refused(let wait) = gate { delay = wait }
        case .deny(.accountDisabled):
            delay = credentialGuard.sourceFailed(clientIP: ip, now: now)
        case .deny(.appPasswordRevoked), .deny(.appPasswordExpired):
            // A stale client, not an attacker: recorded once a day, never counted.
            recordIt = credentialGuard.throttle.firstStaleAttempt(appPasswordID: facts.appPassword?.id ?? "", clientIP: ip, now: now)
        case .deny(.appPasswordRequired), .deny(.protocolNotInScope):
            break  // a misconfigured client with a right credential: not a guess
        }
        if recordIt { record(decision, request: request, facts: facts) }
        return (.decided(decision), delay)
    }

    /// Whether `username` names an account that may log in (ejabberd's
    /// `isuser`, so chat servers accept messages only for real users). Throws
    /// when the store cannot answer.
    public func accountExists(_ username: String) async throws -> Bool {
        guard let canonical = Username.canonical(username) else { return false }
        guard let account = try await store.account(username: canonical) else { return false }
        return !account.disabled
    }

    /// What the guard said about the account-password check, if it was asked.
    enum Gate {
        case notAsked
        case admitted(CredentialGuard.PasswordAttempt)
        case refused(TimeInterval)
    }

    /// The facts of a login, and what the guard said about checking the
    /// account password.
    private func gatherFacts(_ request: ProtocolLoginRequest, now: Date) async throws -> (LoginFacts, Gate) {
        let canonical = Username.canonical(request.username)
        let tooLong = request.password.utf8.count > Self.maximumPasswordBytes
        let normalised = tooLong ? nil : AppPasswordFormat.normalise(request.password)
        func facts(_ account: LoginFacts.AccountFacts?, _ appPassword: AppPasswordRecord?, matched: Bool) -> LoginFacts {
            LoginFacts(account: account, appPassword: appPassword, accountPasswordMatched: matched, loginProtocol: request.loginProtocol, now: now)
        }

        // Fast path: a known account and an app password, from the cache or
        // in one query that also returns the account's current state.
        var lookedUp: Data?
        if let canonical, let normalised, let id = accountIDs.id(for: canonical) {
            let digest = AppPasswordFormat.digest(normalised: normalised, accountID: id, keys: keys)
            if let hit = credentials.lookup(digest), hit.account.id == id {
                return (facts(hit.account, hit.record, matched: false), .notAsked)
            }
            let ticket = credentials.ticket(accountID: id)
            if let (record, account) = try await store.appPasswordWithAccount(digest: digest), account.id == id {
                let entry = CredentialCache.Entry(record: record, account: account.loginFacts)
                credentials.insert(entry, digest: digest, ticket: ticket)
                return (facts(entry.account, record, matched: false), .notAsked)
            }
            lookedUp = digest
        }

        let account = try await canonical.asyncMap { try await store.account(username: $0) } ?? nil
        if let canonical, let account { accountIDs.remember(canonical, id: account.id) }

        var appPassword: AppPasswordRecord?
        if let normalised {
            // For an unknown user the lookup still runs (and finds nothing), so
            // both cases do the same work.
            let digest = AppPasswordFormat.digest(normalised: normalised, accountID: account?.id ?? "\u{0}", keys: keys)
            if digest != lookedUp, let found = try await store.appPassword(digest: digest), found.accountID == account?.id {
                appPassword = found
            }
        }

        var matched = false
        var gate = Gate.notAsked
        if appPassword == nil {
            (matched, gate) = try await checkAccountPassword(request, account: account, tooLong: tooLong, now: now)
        }
        var gathered = facts(account?.loginFacts, appPassword, matched: matched)
        if case .refused = gate { gathered.accountPasswordBlocked = true }
        return (gathered, gate)
    }

    /// The guard first: a paced source or a name over its cap is refused
    /// before any hash, for names that exist and don't alike. An overlong
    /// password is asked about too, but never hashed.
    private func checkAccountPassword(_ request: ProtocolLoginRequest, account: Account?, tooLong: Bool,
                                      now: Date) async throws -> (matched: Bool, gate: Gate) {
        let attempt: CredentialGuard.PasswordAttempt
        switch try await credentialGuard.admitAccountPassword(name: credentialGuard.name(for: request.username), accountID: account?.id,
                                                              clientIP: request.clientIP, now: now) {
        case .refused(let wait): return (false, .refused(wait))
        case .admitted(let admitted): attempt = admitted
        }
        guard !tooLong else { return (false, .admitted(attempt)) }
        do {
            if let account { return (try await accountPasswordMatches(request.password, account: account, now: now), .admitted(attempt)) }
            _ = try await hasher.verify(request.password, against: hasher.dummyHash)
            return (false, .admitted(attempt))
        } catch {
            await credentialGuard.accountPasswordSettled(attempt, now: now)
            throw error
        }
    }

    private func accountPasswordMatches(_ password: String, account: Account, now: Date) async throws -> Bool {
        if cache.contains(accountID: account.id, storedHash: account.passwordHash, password: password, now: now) {
            return true
        }
        guard try await hasher.verify(password, against: account.passwordHash) else { return false }
        var storedHash = account.passwordHash
        if hasher.needsRehash(account.passwordHash) {
            let upgraded = try await hasher.hash(password)
            if try await store.replacePasswordHash(accountID: account.id, expected: account.passwordHash, new: upgraded, audit: nil) {
                storedHash = upgraded
            }
        }
        cache.insert(accountID: account.id, storedHash: storedHash, password: password, now: now)
        return true
    }

    private func record(_ decision: LoginDecision, request: ProtocolLoginRequest, facts: LoginFacts) {
        let now = facts.now
        let event: AuditEvent
        var lastUse: LastUse?
        switch decision {
        case .allow(let accountID, _, let credential):
            var appID: String?
            if case .appPassword(let id) = credential {
                appID = id
                lastUse = LastUse(appPasswordID: id, at: now, clientIP: request.clientIP, loginProtocol: request.loginProtocol)
            }
            event = AuditEvent(accountID: accountID, kind: .protocolLogin, result: .allow, loginProtocol: request.loginProtocol,
                               credential: credential.kind, appPasswordID: appID, clientIP: request.clientIP, at: now)
        case .deny(let reason):
            // A matched but unusable app password is named, so the user can
            // see which client is still trying it.
            let app = facts.appPassword
            event = AuditEvent(accountID: facts.account?.id, kind: .protocolLogin, result: .deny, reason: reason.rawValue,
                               loginProtocol: request.loginProtocol, credential: app == nil ? nil : "app_password",
                               appPasswordID: app?.id, clientIP: request.clientIP, at: now)
        }
        var withNotices = event
        withNotices.notices = notices(for: decision, request: request, facts: facts)
        recorder.record(withNotices, lastUse: lastUse)
    }

    /// The owner's notifications a decision causes: a third-party app's first
    /// login or first login from a new network; the account password refused
    /// because MFA is on; a stale client. Never for failed guesses.
    private func notices(for decision: LoginDecision, request: ProtocolLoginRequest, facts: LoginFacts) -> [Notice] {
        guard let composer = notices, let account = facts.account else { return [] }
        let ip = request.clientIP
        func once(_ key: String, _ make: () -> Notice?) -> [Notice] {
            guard !noticeKeysSeen.contains(key), let notice = make() else { return [] }
            noticeKeysSeen.insert(key)
            return [notice]
        }
        switch decision {
        case .allow(_, _, .appPassword(let id)):
            guard let app = facts.appPassword else { return [] }
            let network = ip.flatMap { ClientAddress.buckets($0).last } ?? "unknown"
            let firstUse = app.lastUse == nil && !appPasswordsUsed.contains(id)
            appPasswordsUsed.insert(id)
            return once("app-net:\(id):\(network)") {
                composer.appPasswordUsed(recipient: account.username, appName: app.name, appID: id, loginProtocol: request.loginProtocol,
                                         clientIP: ip, network: network, firstUse: firstUse, at: facts.now)
            }
        case .deny(.appPasswordRequired):
            return once("mfa-password:\(account.id):\(ip ?? "-"):\(Int(facts.now.timeIntervalSince1970 / 86_400))") {
                composer.accountPasswordRefused(recipient: account.username, accountID: account.id, loginProtocol: request.loginProtocol,
                                                clientIP: ip, at: facts.now)
            }
        case .deny(.appPasswordRevoked), .deny(.appPasswordExpired):
            guard let app = facts.appPassword else { return [] }
            return once("stale:\(app.id):\(ip ?? "-")") {
                composer.staleClient(recipient: account.username, appName: app.name, appID: app.id, loginProtocol: request.loginProtocol,
                                     clientIP: ip, at: facts.now)
            }
        default:
            return []
        }
    }
}

extension Account {
    /// What a login decision needs to know about the account.
    var loginFacts: LoginFacts.AccountFacts { .init(id: id, username: username, disabled: disabled, mfaEnabled: mfaEnabled) }
}

/// Remembers which account id a canonical username belongs to.
///
/// Safe across instances and revocations because the mapping never changes:
/// accounts are neither renamed nor deleted, and everything that can change
/// (disabled, MFA, app passwords) is read from the database on every login.
/// A feature that renames or deletes accounts must clear this cache.
final class AccountIDCache: Sendable {
    private let ids = Mutex<[String: String]>([:])
    private let capacity: Int

    init(capacity: Int = 200_000) { self.capacity = capacity }

    func id(for username: String) -> String? { ids.withLock { $0[username] } }

    func remember(_ username: String, id: String) {
        ids.withLock { ids in
            if ids.count >= capacity { ids.removeAll(keepingCapacity: true) }
            ids[username] = id
        }
    }
}

/// A bounded set of keys this instance has seen (notice once-keys already
/// handed to the store, app passwords seen succeeding). Forgetting is safe:
/// the store decides "once" in the end.
final class RecentKeys: Sendable {
    private let keys = Mutex<Set<String>>([])
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ key: String) -> Bool { keys.withLock { $0.contains(key) } }

    func insert(_ key: String) {
        keys.withLock { keys in
            if keys.count >= capacity { keys.removeAll(keepingCapacity: true) }
            keys.insert(key)
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}
