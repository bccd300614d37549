import Foundation

// The store protocols: everything the core needs from persistence, and no more.
//
// Contract for every method: it either does all it says or nothing (each call
// is one transaction), and it throws `StoreError.unavailable` when the database
// cannot answer, so callers can tell "no" from "cannot say". Every
// implementation must pass the store contract test suite.

public protocol AccountStore: Sendable {
    /// Inserts `account` and `audit` together. Throws `StoreError.conflict("username")`
    /// when the canonical username exists.
    func createAccount(_ account: Account, audit: AuditEvent) async throws
    /// The account with this canonical username, or nil.
    func account(username: String) async throws -> Account?
    func account(id: String) async throws -> Account?
    /// Every account, ordered by username.
    func listAccounts() async throws -> [Account]
    /// Sets the disabled flag. Returns false when there is no such account.
    func setDisabled(accountID: String, _ disabled: Bool, audit: AuditEvent) async throws -> Bool
    /// Replaces the password hash, but only while it still equals `expected`
    /// (so a rehash cannot undo a concurrent change). Returns whether it did.
    func replacePasswordHash(accountID: String, expected: String, new: String, audit: AuditEvent?) async throws -> Bool
    /// The domain of every account (what follows the last `@` of each
    /// username), for client setup, which answers only for served domains.
    /// Read in full: callers keep the set and refresh it now and then.
    func accountDomains() async throws -> Set<String>
}

public protocol TOTPStore: Sendable {
    func totpFactor(accountID: String) async throws -> TOTPFactor?
    /// Stores an unconfirmed enrolment, replacing any earlier unconfirmed one.
    /// Returns false, changing nothing, when a confirmed factor exists.
    func savePendingTOTP(_ factor: TOTPFactor) async throws -> Bool
    /// Confirms the pending enrolment whose sealed secret is `sealedSecret`
    /// (the one the code was checked against) and records `step` as used,
    /// atomically. Returns false when there is no such pending enrolment —
    /// none, or it was replaced by a newer one in the meantime.
    func confirmTOTP(accountID: String, sealedSecret: Data, step: Int64, at: Date, audit: AuditEvent) async throws -> Bool
    /// Marks `step` used if it is later than the last used step, atomically.
    /// Returns false when the step was already used (a replay) or there is no
    /// confirmed factor. Two concurrent calls with one step: exactly one wins.
    func consumeTOTPStep(accountID: String, step: Int64) async throws -> Bool
    /// Removes the factor. Returns false when there was none.
    func deleteTOTP(accountID: String, audit: AuditEvent) async throws -> Bool
}

public protocol AppPasswordStore: Sendable {
    /// Inserts `record`, unless the account already has `limit` active app
    /// passwords (`PosternError.appPasswordLimit`) or an active one with the
    /// same name (`StoreError.conflict("name")`). A digest collision throws
    /// `StoreError.conflict("digest")`.
    func createAppPassword(_ record: AppPasswordRecord, limit: Int, audit: AuditEvent) async throws
    /// The app password with this digest, revoked or not, or nil. One indexed
    /// lookup, however many app passwords exist.
    func appPassword(digest: Data) async throws -> AppPasswordRecord?
    /// The app password with this digest together with its account's current
    /// state, in one query: the hot path of a protocol login.
    func appPasswordWithAccount(digest: Data) async throws -> (AppPasswordRecord, Account)?
    /// The account's app passwords that are not revoked, oldest first.
    func listAppPasswords(accountID: String) async throws -> [AppPasswordRecord]
    /// Revokes one. Returns false when it is not the account's or already revoked.
    func revokeAppPassword(accountID: String, id: String, at: Date, audit: AuditEvent) async throws -> Bool
    /// Revokes every active one. Returns how many.
    func revokeAllAppPasswords(accountID: String, at: Date, audit: AuditEvent) async throws -> Int
}

public protocol SessionStore: Sendable {
    func createSession(_ session: Session, audit: AuditEvent) async throws
    /// The session with this token digest if it has not expired at `now`.
    func session(tokenDigest: Data, now: Date) async throws -> Session?
    func deleteSession(tokenDigest: Data, audit: AuditEvent?) async throws
    /// Deletes the session and returns it, atomically: of two concurrent calls
    /// only one gets it. Nil when it is gone or expired.
    func takeSession(tokenDigest: Data, now: Date) async throws -> Session?
    /// Ends every session of the account except `keeping`. Returns how many.
    func deleteSessions(accountID: String, keeping: Data?) async throws -> Int
    /// Records activity: sets `lastSeenAt`, and `authenticatedAt` when given.
    func touchSession(tokenDigest: Data, lastSeenAt: Date, authenticatedAt: Date?) async throws
    /// Counts one wrong second-factor code. Returns the new count.
    func addSessionFailure(tokenDigest: Data) async throws -> Int
}

public protocol SecurityKeyStore: Sendable {
    /// Stores a new key. Throws `StoreError.conflict("credential_id")` when the
    /// credential id is registered already (to anyone).
    func addSecurityKey(_ key: SecurityKey, audit: AuditEvent) async throws
    /// The account's keys, oldest first.
    func securityKeys(accountID: String) async throws -> [SecurityKey]
    /// Records a successful use: the new counter, but only if it is higher
    /// than the stored one (or both are zero). Returns false when it is not,
    /// which signals a replay or a cloned authenticator.
    func useSecurityKey(credentialID: Data, accountID: String, signCount: UInt32, at: Date) async throws -> Bool
    /// Removes one. Returns false when it is not the account's.
    func removeSecurityKey(credentialID: Data, accountID: String, audit: AuditEvent) async throws -> Bool
    /// Removes one, but only while the account keeps a second factor after
    /// it (another key, or a confirmed authenticator app), decided in one
    /// transaction: of two concurrent removals of an account's last two keys,
    /// one is refused.
    func removeSecurityKeyUnlessLast(credentialID: Data, accountID: String, audit: AuditEvent) async throws -> SecurityKeyRemoval
    /// Keeps a challenge until `takeChallenge` consumes it.
    func saveChallenge(_ challenge: Challenge) async throws
    /// Deletes and returns the challenge if it is the account's, of this
    /// purpose, and not expired, atomically: a challenge answers once.
    func takeChallenge(id: String, accountID: String, purpose: Challenge.Purpose, now: Date) async throws -> Challenge?
}

public enum SecurityKeyRemoval: Sendable, Equatable {
    case removed
    /// No such key of the account.
    case notFound
    /// It is the account's last second factor; nothing was removed.
    case lastFactor
}

public protocol RecoveryCodeStore: Sendable {
    /// Replaces every recovery code of the account with `codes`.
    func replaceRecoveryCodes(accountID: String, codes: [RecoveryCodeRecord], audit: AuditEvent) async throws
    /// The account's codes not yet used.
    func unusedRecoveryCodes(accountID: String) async throws -> [RecoveryCodeRecord]
    /// Marks a code used if it is still unused, atomically. Returns whether
    /// this call did it: of two concurrent uses, one wins.
    func burnRecoveryCode(id: String, accountID: String, at: Date, audit: AuditEvent) async throws -> Bool
}

/// Secrets to be shown to their owner exactly once (a new app password after
/// the redirect that follows its creation), sealed at rest.
public protocol RevealStore: Sendable {
    func saveReveal(id: String, sessionDigest: Data, sealed: Data, expiresAt: Date) async throws
    /// Deletes and returns the sealed secret if it belongs to this session and
    /// has not expired. A second call gets nil.
    func takeReveal(id: String, sessionDigest: Data, now: Date) async throws -> Data?
}

public protocol AuditStore: Sendable {
    /// The account's events, newest first.
    func auditEvents(accountID: String, limit: Int) async throws -> [AuditEvent]
    /// A page of the account's events, newest first: those strictly older than
    /// `before` (time, then id), of the given kinds (all when nil).
    func auditEvents(accountID: String, before: AuditCursor?, kinds: Set<AuditEvent.Kind>?, limit: Int) async throws -> [AuditEvent]
    /// Deletes events older than `before` (retention). Returns how many.
    func pruneAuditEvents(before: Date) async throws -> Int
    /// Writes what protocol logins produced, in one transaction: the newest
    /// last use per app password (never replacing a newer one already stored)
    /// and the audit events.
    func recordLogins(lastUses: [LastUse], events: [AuditEvent]) async throws
}

/// Where a page of audit events ends: the last event's time and id.
public struct AuditCursor: Sendable, Equatable {
    public var at: Date
    public var id: String
    public init(at: Date, id: String) {
        self.at = at
        self.id = id
    }
}

/// The outbox of notifications. Every store method that takes an
/// `AuditEvent` also writes the event's notices, in the same transaction; a
/// notice with a `onceKey` is written only if that key was never used.
public protocol OutboxStore: Sendable {
    /// Up to `limit` unsent messages due at `now` that no other deliverer
    /// holds, each leased until `leaseUntil`. Two concurrent callers never get
    /// the same message.
    func claimOutbox(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage]
    /// Marks a message sent (after the server's 250) and drops its content.
    func markOutboxSent(id: String, at: Date) async throws
    /// Records a failed attempt and when to try again.
    func markOutboxFailed(id: String, attempts: Int, nextAttemptAt: Date, error: String) async throws
    /// Unsent messages, oldest first (for admins and tests).
    func pendingOutbox(limit: Int) async throws -> [OutboxMessage]
}

/// The queue of orders to end open sessions on mail and chat servers. Orders
/// arrive with the audit event of the change that caused them
/// (`AuditEvent.terminations`), in its transaction; an order whose once-key
/// was used before is dropped, so a change is acted on once however many
/// instances see it.
public protocol TerminationStore: Sendable {
    /// Up to `limit` pending orders due at `now` that no other instance
    /// holds, each leased until `leaseUntil`, oldest first. Two concurrent
    /// callers never get the same order.
    func claimTerminations(now: Date, leaseUntil: Date, limit: Int) async throws -> [TerminationTask]
    /// Records an attempt on a pending order and writes `audit` (what the
    /// owner's activity shows, with any notice) in the same transaction.
    /// Does nothing, and returns false, when the order is not pending.
    func recordTerminationAttempt(id: String, attempts: Int, _ attempt: TerminationAttempt, audit: AuditEvent) async throws -> Bool
    /// Orders, newest first, of an account or of all (for admins and tests).
    func terminations(accountID: String?, limit: Int) async throws -> [TerminationTask]
}

public protocol PasswordResetStore: Sendable {
    /// Saves a request and ends every other open request of the account, so
    /// at most one link is live; the audit event carries the email. Does
    /// nothing and returns false while the account has an open request made
    /// after `unlessOpenSince` (its link was just sent).
    func savePasswordReset(_ reset: PasswordReset, unlessOpenSince: Date, audit: AuditEvent) async throws -> Bool
    /// Ends an open request (its link took too many wrong codes).
    func endPasswordReset(tokenDigest: Data, at: Date) async throws
    /// The request for a token digest, if unused and unexpired.
    func passwordReset(tokenDigest: Data, now: Date) async throws -> PasswordReset?
    /// In one transaction: marks the request used (only if it is still unused
    /// and unexpired — of two concurrent uses one wins), sets the password
    /// hash, ends every session of the account, optionally revokes its app
    /// passwords, and writes the event. False when the token was already used
    /// or expired; then nothing changes.
    func completePasswordReset(tokenDigest: Data, accountID: String, newPasswordHash: String, revokeAppPasswords: Bool,
                               now: Date, audit: AuditEvent) async throws -> Bool
}

/// Failure counters every instance shares, so a cap holds in total and not
/// per instance.
public protocol ThrottleStore: Sendable {
    /// Adds one failure to `key`'s fixed window of `window` seconds (a new
    /// window starts when the last one has ended) and returns the count in
    /// the current window. Atomic: concurrent increments all count.
    func addFailure(key: String, window: TimeInterval, now: Date) async throws -> Int
    /// The failures in `key`'s current window, 0 when it has ended.
    func failures(key: String, window: TimeInterval, now: Date) async throws -> Int
    /// Takes one back from `key`'s current window (a reserved attempt that
    /// succeeded); never below zero, and nothing when the window has ended.
    func removeFailure(key: String, window: TimeInterval, now: Date) async throws
    /// Deletes counters whose window started before `before`. Returns how many.
    func pruneThrottleCounters(before: Date) async throws -> Int
    /// Whether the account password succeeded for the account from
    /// `clientIP` since `since` — a protocol login with it, or a completed
    /// portal or API sign-in — as any instance saw it (a known-good source).
    /// An app password's success does not count.
    func succeeded(accountID: String, clientIP: String, since: Date) async throws -> Bool
}

/// One-time device-setup links. Every store method that takes an
/// `AuditEvent` with `cancelsDeviceSetups` also cancels the account's waiting
/// links, in the same transaction.
public protocol DeviceSetupStore: Sendable {
    /// Inserts `setup`, unless the account already has `liveLimit` links that
    /// are unused, uncancelled and unexpired at `now`
    /// (`PosternError.deviceSetupLimit`). A token-digest collision throws
    /// `StoreError.conflict("token_digest")`.
    func createDeviceSetup(_ setup: DeviceSetup, liveLimit: Int, now: Date) async throws
    /// The link with this token digest, whatever its state, or nil.
    func deviceSetup(tokenDigest: Data) async throws -> DeviceSetup?
    /// In one transaction: marks the link of `appPassword`'s account with this
    /// digest used (at `now`, from `clientIP`, naming `appPassword`), but only
    /// while it is unused, uncancelled and unexpired — of concurrent calls,
    /// on any number of instances, exactly one wins — then inserts
    /// `appPassword` under `createAppPassword`'s rules and writes `audit`.
    /// Returns the link as now stored, or nil when it could not be used.
    /// Throws as `createAppPassword` does (`PosternError.appPasswordLimit`,
    /// `StoreError.conflict("name")`, `conflict("digest")`). On nil or a
    /// throw nothing changes: the link stays as it was.
    func redeemDeviceSetup(tokenDigest: Data, now: Date, clientIP: String?, appPassword: AppPasswordRecord, limit: Int,
                           audit: AuditEvent) async throws -> DeviceSetup?
    /// The account's links in every state, newest first, at most `limit`.
    func deviceSetups(accountID: String, limit: Int) async throws -> [DeviceSetup]
    /// Cancels one of the account's links if it is neither used nor
    /// cancelled. Returns whether it did.
    func cancelDeviceSetup(accountID: String, id: String, at: Date) async throws -> Bool
}

/// Everything Postern stores.
public protocol PosternStore: AccountStore, TOTPStore, AppPasswordStore, SessionStore, RevealStore, SecurityKeyStore,
    RecoveryCodeStore, AuditStore, OutboxStore, PasswordResetStore, ThrottleStore, TerminationStore, AdminStore, DeviceSetupStore {}
