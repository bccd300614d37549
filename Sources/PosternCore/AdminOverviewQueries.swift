import Foundation

/// The shapes every store gives the overview's series, so that the stores
/// only count and this fills the gaps.
public enum AdminOverviewQueries {
    /// At most this many rows in each of the overview's lists.
    public static let rows = 500
    /// The events that are logins (protocol logins, portal and API sign-ins).
    public static let loginKinds: Set<AuditEvent.Kind> = [.protocolLogin, .signIn]

    /// The 168 hours that end with the current one: the first hour's number
    /// (hours since 1970) and the time it starts.
    public static func hourWindow(now: Date) -> (first: Int64, from: Date) {
        let current = Int64((now.timeIntervalSince1970 / 3600).rounded(.down))
        let first = current - 167
        return (first, Date(timeIntervalSince1970: Double(first) * 3600))
    }

    /// Every hour of the window, oldest first, with zeros where nothing was counted.
    public static func hours(_ window: (first: Int64, from: Date), _ counts: [Int64: (Int, Int)]) -> [AdminOverview.Hour] {
        (0..<168).map { offset in
            let hour = window.first + Int64(offset)
            let (allowed, refused) = counts[hour] ?? (0, 0)
            return AdminOverview.Hour(start: Date(timeIntervalSince1970: Double(hour) * 3600), allowed: allowed, refused: refused)
        }
    }

    /// The UTC day (days since 1970) of a time.
    public static func day(_ at: Date) -> Int64 { Int64((at.timeIntervalSince1970 / 86_400).rounded(.down)) }

    /// The last 30 UTC days, oldest first, each with the accounts created and
    /// the accounts whose first (still existing) factor was set up by its end.
    public static func adoption(now: Date, created: [Int64: Int], protected: [Int64: Int]) -> [AdminOverview.Day] {
        let today = day(now)
        var accounts = created.filter { $0.key < today - 29 }.values.reduce(0, +)
        var withMFA = protected.filter { $0.key < today - 29 }.values.reduce(0, +)
        return (today - 29...today).map { day in
            accounts += created[day] ?? 0
            withMFA += protected[day] ?? 0
            return AdminOverview.Day(end: Date(timeIntervalSince1970: Double(day + 1) * 86_400), accounts: accounts, withMFA: withMFA)
        }
    }
}
