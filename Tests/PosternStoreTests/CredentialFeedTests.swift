import Foundation
import Logging
import PosternCore
@testable import PosternSQL
import PosternTestSupport
import SQLKit
import Testing

/// The credential feed on each SQL store: every change that can alter a
/// protocol login's answer reaches the cache; nothing else churns it.
@Suite("Credential feed (SQL stores)")
struct CredentialFeedTests {
    /// A store whose writes catch its feed up, as in a running Postern, and
    /// the raw executor beneath it (writes through that one do not).
    struct Instance {
        let cache: CredentialCache
        let feed: CredentialFeed
        let store: SQLStore
        let raw: any SQLExecutor

        /// A long `freshness` where a test is not about it (a busy test
        /// machine may take more than a second between steps).
        init(_ raw: any SQLExecutor, freshness: Duration = .seconds(3600)) {
            self.raw = raw
            cache = CredentialCache(capacity: 1000, freshness: freshness)
            feed = CredentialFeed(cache: cache, executor: raw, logger: Logger(label: "test"))
            store = SQLStore(executor: CredentialFeedExecutor(raw, feed: feed))
        }

        /// Caches `record` as a login would.
        func remember(_ record: AppPasswordRecord) async throws {
            let ticket = cache.ticket(accountID: record.accountID)
            let (found, account) = try #require(try await store.appPasswordWithAccount(digest: record.digest))
            cache.insert(.init(record: found, account: .init(id: account.id, username: account.username, disabled: account.disabled,
                                                              mfaEnabled: account.mfaEnabled)),
                         digest: record.digest, ticket: ticket)
        }

        func cached(_ record: AppPasswordRecord) -> Bool { cache.lookup(record.digest) != nil }
    }

    func withInstance(_ kind: StoreKind, _ body: (Instance) async throws -> Void) async throws {
        let test = try await kind.make()
        do {
            try await body(Instance(try #require(test.executor)))
        } catch {
            await test.close()
            throw error
        }
        await test.close()
    }

    func seeded(_ instance: Instance, _ name: String) async throws -> (Account, AppPasswordRecord) {
        let account = Fixture.account(name)
        try await instance.store.createAccount(account, audit: Fixture.audit(account.id))
        let app = Fixture.appPassword(account)
        try await instance.store.createAppPassword(app, limit: 100, audit: Fixture.audit(account.id))
        try await instance.remember(app)
        try await instance.feed.catchUp()
        return (account, app)
    }

    @Test("each change to a credential or an account is applied before the write returns; only that account is forgotten",
          arguments: StoreKind.sqlCases)
    func changesReachTheCache(kind: StoreKind) async throws {
        try await withInstance(kind) { instance in
            let (alice, aliceApp) = try await seeded(instance, "alice@example.org")
            let (_, bobApp) = try await seeded(instance, "bob@example.org")
            #expect(instance.cached(aliceApp) && instance.cached(bobApp))

            let changes: [(String, () async throws -> Void)] = [
                ("revoke", { _ = try await instance.store.revokeAppPassword(accountID: alice.id, id: aliceApp.id, at: Fixture.t0, audit: Fixture.audit(alice.id)) }),
                ("disable", { _ = try await instance.store.setDisabled(accountID: alice.id, true, audit: Fixture.audit(alice.id)) }),
                ("enable", { _ = try await instance.store.setDisabled(accountID: alice.id, false, audit: Fixture.audit(alice.id)) }),
            ]
            for (name, change) in changes {
                try await instance.remember(aliceApp)
                #expect(instance.cached(aliceApp), "\(name): cached before")
                try await change()
                #expect(!instance.cached(aliceApp), "\(name): forgotten when the write returned")
                #expect(instance.cached(bobApp), "\(name): another account is untouched")
            }
        }
    }

    @Test("a change made outside Postern (SQL by hand, another process) is applied at the next catch-up",
          arguments: StoreKind.sqlCases)
    func changesByHand(kind: StoreKind) async throws {
        try await withInstance(kind) { instance in
            let (_, app) = try await seeded(instance, "carol@example.org")
            for statement in ["UPDATE app_passwords SET protocols = 'imap' WHERE id = ",
                              "UPDATE app_passwords SET expires_at = 1 WHERE id = ",
                              "DELETE FROM app_passwords WHERE id = "] {
                try await instance.remember(app)
                try await instance.raw.write { db in try await db.raw(SQLQueryString(statement) + "\(bind: app.id)").run() }
                #expect(instance.cached(app), "not yet: nothing told this instance")
                try await instance.feed.catchUp()
                #expect(!instance.cached(app), "\(statement)…")
            }
        }
    }

    @Test("an app password moved to another account (by hand) is forgotten under both; second factors are not changes",
          arguments: StoreKind.sqlCases)
    func movedAndFactors(kind: StoreKind) async throws {
        try await withInstance(kind) { instance in
            let (ivy, ivyApp) = try await seeded(instance, "ivy@example.org")
            let (jack, jackApp) = try await seeded(instance, "jack@example.org")
            let before = instance.feed.appliedThrough
            try await instance.store.addSecurityKey(SecurityKey(credentialID: Data(Secrets.randomBytes(16)), accountID: ivy.id, name: "Key",
                                                                publicKey: Data([1]), algorithm: -7, signCount: 0, createdAt: Fixture.t0),
                                                    audit: Fixture.audit(ivy.id))
            #expect(instance.feed.appliedThrough == before && instance.cached(ivyApp), "a new factor does not change an app-password login")
            try await instance.raw.write { db in
                try await db.raw("UPDATE app_passwords SET account_id = \(bind: jack.id), name = 'Moved' WHERE id = \(bind: ivyApp.id)").run()
            }
            try await instance.feed.catchUp()
            #expect(instance.feed.appliedThrough == (before ?? 0) + 2)
            #expect(!instance.cached(ivyApp) && !instance.cached(jackApp))
        }
    }

    @Test("last-use and audit writes do not touch the cache", arguments: StoreKind.sqlCases)
    func lastUseDoesNotChurn(kind: StoreKind) async throws {
        try await withInstance(kind) { instance in
            let (account, app) = try await seeded(instance, "dave@example.org")
            let before = instance.feed.appliedThrough
            try await instance.store.recordLogins(lastUses: [LastUse(appPasswordID: app.id, at: Fixture.t0, clientIP: "192.0.2.1", loginProtocol: .imap)],
                                                  events: [Fixture.audit(account.id)])
            #expect(instance.cached(app))
            #expect(instance.feed.appliedThrough == before)
        }
    }

    @Test("changes pruned before this instance read them clear the whole cache", arguments: StoreKind.sqlCases)
    func gapClearsEverything(kind: StoreKind) async throws {
        try await withInstance(kind) { instance in
            let (_, erin) = try await seeded(instance, "erin@example.org")
            let (frank, frankApp) = try await seeded(instance, "frank@example.org")
            // Another process revokes Frank's password; the change is pruned before this instance reads it.
            try await instance.raw.write { db in
                try await db.raw("UPDATE app_passwords SET revoked_at = 1 WHERE account_id = \(bind: frank.id)").run()
            }
            try await instance.raw.write { db in try await db.raw("DELETE FROM credential_changes").run() }
            try await instance.feed.catchUp()
            #expect(!instance.cached(frankApp))
            #expect(!instance.cached(erin), "it cannot tell what it missed, so it forgets everything")
        }
    }

    @Test("numbers stay dense and in commit order under concurrent changes", arguments: StoreKind.sqlCases)
    func denseUnderConcurrency(kind: StoreKind) async throws {
        try await withInstance(kind) { instance in
            let account = Fixture.account("grace@example.org")
            try await instance.store.createAccount(account, audit: Fixture.audit(account.id))
            var apps: [AppPasswordRecord] = []
            for n in 0..<24 {
                let app = Fixture.appPassword(account, name: "Device \(n)")
                try await instance.store.createAppPassword(app, limit: 100, audit: Fixture.audit(account.id))
                apps.append(app)
            }
            let start = try #require(instance.feed.appliedThrough)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for app in apps {
                    group.addTask {
                        _ = try await instance.raw.write { db in
                            try await db.raw("UPDATE app_passwords SET revoked_at = 5 WHERE id = \(bind: app.id)").run()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seqs = try await instance.raw.read { db in
                try await db.raw("SELECT seq FROM credential_changes WHERE seq > \(bind: start) ORDER BY seq").all().map { try $0.decode(column: "seq", as: Int64.self) }
            }
            #expect(seqs == Array((start + 1)...(start + 24)))
            let head = try await instance.raw.read { db in try await CredentialFeed.page(after: nil, db).head }
            #expect(head == start + 24)
        }
    }
}

/// Two instances on one PostgreSQL database, each with its feed running.
@Suite("Credential feed across instances (PostgreSQL)")
struct CredentialFeedInstancesTests {
    static var enabled: Bool { StoreKind.allCases.contains(.postgres) }

    /// Polls `condition` every 10 ms for at most `seconds`; true when it held.
    func within(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }

    @Test("a change on A reaches B's cache through LISTEN within a second; with B's listening connection cut, B stops answering from its cache until the feed is back",
          .enabled(if: enabled))
    func acrossInstances() async throws {
        let test = try await StoreKind.postgres.make()
        let settings = try #require(test.postgres)
        let a = CredentialFeedTests.Instance(try #require(test.executor))
        let b = CredentialFeedTests.Instance(await PostgresExecutor.open(settings: settings, maximumConnections: 4, connectTimeout: .seconds(30),
                                                                                  operationTimeout: .seconds(30), logger: Logger(label: "b")),
                                             freshness: .seconds(1))
        let watching = Task { await b.feed.watch() }
        defer {
            watching.cancel()
            Task { await b.raw.shutdown(); await test.close() }
        }
        let account = Fixture.account("henry@example.org")
        try await a.store.createAccount(account, audit: Fixture.audit(account.id))
        for round in 0..<3 {
            let app = Fixture.appPassword(account, name: "Phone \(round)")
            try await a.store.createAppPassword(app, limit: 100, audit: Fixture.audit(account.id))
            // An insert is dropped when its account's change (the last round's
            // revocation) is applied meanwhile, and the cache answers only
            // while live: on a loaded machine that can take a few tries.
            #expect(try await within(10) {
                try await b.remember(app)
                return b.cached(app)
            }, "cached on B")
            _ = try await a.store.revokeAppPassword(accountID: account.id, id: app.id, at: Fixture.t0, audit: Fixture.audit(account.id))
            let acknowledged = ContinuousClock.now
            #expect(try await within(1) { !b.cached(app) }, "round \(round)")
            #expect(ContinuousClock.now - acknowledged < .seconds(1))
        }

        // Cut B's listening connection; then change something on A.
        let app = Fixture.appPassword(account, name: "Tablet")
        try await a.store.createAppPassword(app, limit: 100, audit: Fixture.audit(account.id))
        try await b.remember(app)
        let cut = try await a.raw.read { db in
            try await db.raw("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'postern-feed'").all().count
        }
        #expect(cut == 1)
        _ = try await a.store.revokeAppPassword(accountID: account.id, id: app.id, at: Fixture.t0, audit: Fixture.audit(account.id))
        #expect(try await within(1) { !b.cached(app) }, "either the feed came back and applied it, or the cache stopped answering")
        #expect(try await within(10) { b.cache.isLive }, "the feed reconnects")
    }
}
