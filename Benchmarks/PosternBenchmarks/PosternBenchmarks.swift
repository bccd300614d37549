// Micro-benchmarks of the steps of one POST /v1/verify, run by `scripts/bench`
// (ordo-one/benchmark). Each is a few lines: a name and one iteration of the
// work; `loginPathBenchmark` supplies the metrics, the loop and the
// regression thresholds. Add a benchmark with three lines:
//
//     loginPathBenchmark("LoginPolicy.decide, app password allowed") {
//         blackHole(LoginPolicy.decide(Fixtures.appPasswordLoginFacts))
//     }
//
// then `scripts/bench --update` on the standard machine to record its
// baseline (a benchmark missing from the baseline is reported, not failed).

import Benchmark
import Foundation
import PosternCore
import PosternProtocols

let benchmarks: @Sendable () -> Void = {
    // MARK: The login decision

    let allowFacts = Fixtures.appPasswordLoginFacts
    loginPathBenchmark("LoginPolicy.decide, app password allowed") {
        blackHole(LoginPolicy.decide(allowFacts))
    }

    // MARK: The app-password digest (the key of the indexed lookup)

    let keys = Fixtures.keys
    loginPathBenchmark("AppPasswordFormat.normalise + digest") {
        let normalised = AppPasswordFormat.normalise(Fixtures.appPasswordAsTyped)!
        blackHole(AppPasswordFormat.digest(normalised: normalised, accountID: Fixtures.accountID, keys: keys))
    }

    // MARK: The /v1/verify JSON codec

    let body = Fixtures.verifyRequestBody
    loginPathBenchmark("VerifyMessage.decode, typical request") {
        blackHole(try? VerifyMessage.decode(body))
    }
    loginPathBenchmark("VerifyMessage.encode, allow answer") {
        blackHole(VerifyMessage.encode(.allow(username: Fixtures.username, credential: "app_password",
                                              appPasswordID: "a1b2c3d4e5f6g7h8i9j0k1l2m3")))
    }

    // MARK: The credential cache: a hit, as every repeated login is

    let cache = Fixtures.filledCache
    let digest = Fixtures.appPasswordLoginFacts.appPassword!.digest
    loginPathBenchmark("CredentialCache.lookup, hit in 20,000 entries") {
        blackHole(cache.lookup(digest))
    }
}

/// Registers one benchmark of a step of the login path: `body` is one
/// iteration, run `scalingFactor` times per measured sample.
///
/// Metrics and thresholds (see docs/benchmarks.md):
/// - wall clock and throughput, checked at the lower quartile (p25): fail when
///   more than 20% worse than the baseline. On a shared 2-core machine another
///   process's build only ever makes a sample slower, never faster, so the
///   faster samples are the work itself: with the load at 8 on 2 cores, p25
///   stayed within 2% of the fastest sample while the median moved five-fold.
/// - allocations, checked at the median: fail on more than 0.1 allocation per
///   iteration over the baseline. The count is exact and does not depend on the
///   load, so it needs no tolerance for noise; and a relative threshold would
///   never fire for a step that allocates nothing today (a change from zero has
///   no percentage), which is the case the login path cares about most.
func loginPathBenchmark(_ name: String, scalingFactor: BenchmarkScalingFactor = .kilo, _ body: @escaping () -> Void) {
    let time = BenchmarkThresholds(relative: [.p25: 20.0])
    // Absolute thresholds are per measured sample, i.e. per `scalingFactor` iterations.
    let allocations = BenchmarkThresholds(absolute: [.p50: scalingFactor.rawValue / 10])
    Benchmark(
        name,
        configuration: .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal],
            timeUnits: .nanoseconds,
            warmupIterations: 10,
            scalingFactor: scalingFactor,
            maxDuration: .seconds(2),
            maxIterations: 2_000,
            thresholds: [.wallClock: time, .throughput: time, .mallocCountTotal: allocations]
        )
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            body()
        }
    }
}

/// Typical inputs of one /v1/verify login: fixed, so every run measures the
/// same work.
enum Fixtures {
    /// A fixed server key: the digest's cost does not depend on the key.
    static let keys = KeyRing(serverKey: [UInt8](repeating: 0x5a, count: 32))
    /// The shape of `Secrets.newIdentifier()`: 26 characters of base32.
    static let accountID = "k3m5q7s9u2w4y6a8c0e1g3i5lo"
    static let username = "alice@example.org"
    /// As a person types it from the screen: grouped, with spaces.
    static let appPasswordAsTyped = "abcd efgh ijkl"

    /// What `AuthEndpoints.verify` receives from a mail server.
    static let verifyRequestBody = Array(
        #"{"username":"alice@example.org","password":"abcd efgh ijkl","protocol":"imap","client_ip":"203.0.113.7"}"#.utf8)

    /// A cache holding a working set of 20,000 app passwords, the fixture's
    /// among them, its feed confirmed for the length of the run.
    static let filledCache: CredentialCache = {
        let cache = CredentialCache(capacity: 200_000, freshness: .seconds(86_400))
        let facts = appPasswordLoginFacts
        let entry = CredentialCache.Entry(record: facts.appPassword!, account: facts.account!)
        cache.insert(entry, digest: entry.record.digest, ticket: cache.ticket(accountID: accountID))
        for n in 1..<20_000 {
            var other = entry
            other.record.digest = AppPasswordFormat.digest(normalised: "other\(n)", accountID: accountID, keys: keys)
            cache.insert(other, digest: other.record.digest, ticket: cache.ticket(accountID: accountID))
        }
        cache.confirm(at: .now)
        return cache
    }()

    /// The facts of the common case: an app password of an active account,
    /// valid for every protocol, MFA on.
    static let appPasswordLoginFacts: LoginFacts = {
        let created = Date(timeIntervalSince1970: 1_790_000_000)
        let appPassword = AppPasswordRecord(
            id: "a1b2c3d4e5f6g7h8i9j0k1l2m3", accountID: accountID, name: "Thunderbird on laptop",
            digest: AppPasswordFormat.digest(normalised: "abcdefghijkl", accountID: accountID, keys: keys),
            protocols: Set(LoginProtocol.allCases), createdAt: created)
        return LoginFacts(
            account: .init(id: accountID, username: username, disabled: false, mfaEnabled: true),
            appPassword: appPassword, accountPasswordMatched: false, loginProtocol: .imap,
            now: created.addingTimeInterval(86_400))
    }()
}
