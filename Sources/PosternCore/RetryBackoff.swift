import Foundation

/// How long a background delivery (an outbox message, an order to end
/// sessions) waits before its next attempt.
public enum RetryBackoff {
    /// `base` after the first failed attempt, doubling with each further one,
    /// and never more than an hour.
    public static func delay(afterAttempt attempts: Int, base: TimeInterval) -> TimeInterval {
        min(base * pow(2, Double(max(0, attempts - 1))), 3600)
    }
}
