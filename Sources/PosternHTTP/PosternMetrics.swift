import Foundation
import Metrics
import PosternCore
import Prometheus

/// Postern's metrics, through swift-metrics into one Prometheus registry.
/// Each server owns its registry, so tests can run several side by side.
public final class PosternMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let verifyLatency: Metrics.Timer
    /// One counter per label combination, made once: a login only increments.
    private let loginCounters: [String: Metrics.Counter]
    /// Password hashes started and not yet finished, queued ones included.
    public let hashesInFlight: Meter
    /// Password hashes run (real and dummy): what guessing costs the server.
    public let hashes: Metrics.Counter

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["postern_verify_duration_seconds"] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        self.factory = factory
        verifyLatency = Metrics.Timer(label: "postern_verify_duration_seconds", factory: factory)
        hashesInFlight = Meter(label: "postern_password_hashes_in_flight", factory: factory)
        hashes = Metrics.Counter(label: "postern_password_hashes_total", factory: factory)
        var counters: [String: Metrics.Counter] = [:]
        for loginProtocol in LoginProtocol.allCases {
            for credential in ["app_password", "account_password", "unknown"] {
                for result in ["allow", "deny", "tempfail"] {
                    counters["\(loginProtocol.rawValue)/\(credential)/\(result)"] = Metrics.Counter(
                        label: "postern_protocol_logins_total",
                        dimensions: [("protocol", loginProtocol.rawValue), ("credential", credential), ("result", result)],
                        factory: factory)
                }
            }
        }
        loginCounters = counters
    }

    /// Counts one protocol login by protocol, credential kind and result.
    public func countLogin(protocol loginProtocol: LoginProtocol, outcome: ProtocolLoginOutcome) {
        let (credential, result) = Self.labels(outcome)
        loginCounters["\(loginProtocol.rawValue)/\(credential)/\(result)"]?.increment()
    }

    public func recordVerifyLatency(_ duration: Duration) {
        verifyLatency.recordNanoseconds(duration.nanoseconds)
    }

    /// Counts one attempt to end open sessions, by server and result
    /// (`ok`, `retrying`, `failed`), and times it.
    public func countTermination(server: String, result: String, duration: Duration) {
        Metrics.Counter(label: "postern_session_terminations_total", dimensions: [("server", server), ("result", result)],
                        factory: factory).increment()
        Metrics.Timer(label: "postern_session_termination_duration_seconds", dimensions: [("server", server)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    public func render() -> String { registry.emitToString() }

    /// The registry's metrics, and the credential cache's counts read at
    /// this moment (they are kept by the cache, off the metrics path).
    public func render(credentials: CredentialCache) -> String {
        let lookups = credentials.lookups
        return render() + """
            # TYPE postern_credential_cache_lookups_total counter
            postern_credential_cache_lookups_total{result="hit"} \(lookups.hits)
            postern_credential_cache_lookups_total{result="miss"} \(lookups.misses)
            # TYPE postern_credential_cache_entries gauge
            postern_credential_cache_entries \(credentials.count)
            # TYPE postern_credential_feed_live gauge
            postern_credential_feed_live \(credentials.isLive ? 1 : 0)

            """
    }

    static func labels(_ outcome: ProtocolLoginOutcome) -> (credential: String, result: String) {
        switch outcome {
        case .temporaryFailure: return ("unknown", "tempfail")
        case .decided(.allow(_, _, let credential)): return (credential.kind, "allow")
        case .decided(.deny(let reason)):
            switch reason {
            case .appPasswordRevoked, .appPasswordExpired, .protocolNotInScope: return ("app_password", "deny")
            case .unknownUser: return ("unknown", "deny")
            case .wrongPassword, .accountDisabled, .appPasswordRequired, .throttled: return ("account_password", "deny")
            }
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
