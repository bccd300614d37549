import Foundation
import PosternCore

/// The one way an adapter asks "may this mail or chat login proceed?".
///
/// Every adapter — `/v1/verify`, nginx's `auth_http`, the Dovecot-protocol
/// SASL socket, and through `/v1/verify` the Dovecot Lua passdb and ejabberd's
/// extauth — decodes its own wire format and then hands the gate the same
/// four things. The gate qualifies a bare username with the default domain,
/// canonicalises the client address (an unparseable one counts as none),
/// evaluates the login in the core, counts it in the metrics and times it.
/// Carrying the answer, and the guard's delay, is left to the adapter: a new
/// adapter (LDAP bind, OAuth) is a codec and nothing more.
public struct ProtocolLoginGate: Sendable {
    public let authenticator: ProtocolAuthenticator
    public let metrics: PosternMetrics
    /// Added to usernames that arrive without a domain.
    public let defaultDomain: String?

    public init(authenticator: ProtocolAuthenticator, metrics: PosternMetrics, defaultDomain: String?) {
        self.authenticator = authenticator
        self.metrics = metrics
        self.defaultDomain = defaultDomain
    }

    /// The decision, and how long the answer should wait (zero unless the
    /// source or name has been guessing).
    public func evaluate(username: String, password: String, loginProtocol: LoginProtocol,
                         clientIP: String?) async -> (outcome: ProtocolLoginOutcome, delay: TimeInterval) {
        let started = ContinuousClock.now
        let result = await authenticator.evaluate(ProtocolLoginRequest(
            username: Username.qualified(username, defaultDomain: defaultDomain), password: password, loginProtocol: loginProtocol,
            clientIP: clientIP.flatMap(ClientAddress.canonical)))
        metrics.countLogin(protocol: loginProtocol, outcome: result.outcome)
        metrics.recordVerifyLatency(ContinuousClock.now - started)
        return result
    }

    /// `evaluate`, with the delay waited out before returning, for adapters
    /// that answer late.
    public func decide(username: String, password: String, loginProtocol: LoginProtocol, clientIP: String?) async -> ProtocolLoginOutcome {
        let (outcome, delay) = await evaluate(username: username, password: password, loginProtocol: loginProtocol, clientIP: clientIP)
        await Self.wait(delay)
        return outcome
    }

    /// Waits as a suspended task: it holds no thread.
    public static func wait(_ seconds: TimeInterval) async {
        if seconds > 0 { try? await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }
    }
}
