import Foundation

/// Times as people read them on a page: "3 minutes ago", "yesterday",
/// "in 23 days", with the exact moment beside it for whoever hovers or
/// reads it aloud (`<time datetime=… title=…>`).
///
/// Pure: `now` and the time zone are given, never read, so the wording is
/// tested for any moment. The portal does not know where its reader is, so
/// the calendar days ("yesterday", "12 Nov") are counted in UTC, the zone the
/// exact title names.
struct RelativeTime: Sendable {
    let now: Date
    var timeZone = TimeZone(identifier: "UTC")!

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Within this much of `now`, either way, a time is "just now": clocks
    /// differ by a few seconds and nobody needs them counted.
    static let justNow: TimeInterval = 60
    /// Further ahead than this, a time is a date, not a count of days.
    static let countedDaysAhead = 60

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    /// The words for `date`: seconds, minutes and hours are counted, whole
    /// calendar days are named ("yesterday", "tomorrow") or counted ahead, and
    /// anything older is a date, with the year only when it is not this one.
    func describe(_ date: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        if abs(seconds) < Self.justNow { return "just now" }
        return seconds > 0 ? past(date, seconds: seconds) : future(date, seconds: -seconds)
    }

    private func past(_ date: Date, seconds: TimeInterval) -> String {
        if seconds < 3600 { return Self.count(Int(seconds / 60), "minute") + " ago" }
        let days = calendarDays(from: date, to: now)
        // Past midnight, a time a few hours back is still "2 hours ago", not "yesterday".
        if days == 0 || seconds < 6 * 3600 { return Self.count(Int(seconds / 3600), "hour") + " ago" }
        if days == 1 { return "yesterday" }
        return day(date)
    }

    private func future(_ date: Date, seconds: TimeInterval) -> String {
        if seconds < 3600 { return "in " + Self.count(Int(seconds / 60), "minute") }
        if seconds < 24 * 3600 { return "in " + Self.count(Int(seconds / 3600), "hour") }
        let days = calendarDays(from: now, to: date)
        if days <= 1 { return "tomorrow" }
        if days <= Self.countedDaysAhead { return "in \(days) days" }
        return day(date)
    }

    /// "12 Nov", or "12 Nov 2025" outside the current year.
    func day(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        let thisYear = calendar.component(.year, from: now)
        let text = "\(parts.day!) \(Self.months[parts.month! - 1])"
        return parts.year == thisYear ? text : text + " \(parts.year!)"
    }

    /// The exact moment, to the second, always with its year and zone:
    /// "12 Nov 2025, 14:02:07 UTC".
    func exact(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let clock = String(format: "%02d:%02d:%02d", parts.hour!, parts.minute!, parts.second!)
        // Foundation on Linux calls UTC "GMT"; people expect the name the rest of the page uses.
        let zone = ["UTC", "GMT"].contains(timeZone.identifier) ? "UTC" : timeZone.abbreviation(for: date) ?? timeZone.identifier
        return "\(parts.day!) \(Self.months[parts.month! - 1]) \(parts.year!), \(clock) \(zone)"
    }

    /// The time of day, for "downloaded at 14:02": with the day in front
    /// when it is not today ("12 Nov, 14:02").
    func clock(_ date: Date) -> String {
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        let time = String(format: "%02d:%02d", parts.hour!, parts.minute!)
        return calendarDays(from: date, to: now) == 0 ? time : day(date) + ", " + time
    }

    /// What the `time` partial renders: `<time datetime="{{iso}}" title="{{exact}}">{{relative}}</time>`,
    /// with `text` in place of the words when given.
    func view(_ date: Date, text: String? = nil) -> [String: String] {
        ["iso": date.formatted(.iso8601), "exact": exact(date), "relative": text ?? describe(date)]
    }

    private func calendarDays(from start: Date, to end: Date) -> Int {
        calendar.dateComponents([.day], from: calendar.startOfDay(for: start), to: calendar.startOfDay(for: end)).day ?? 0
    }

    private static func count(_ number: Int, _ unit: String) -> String {
        "\(number) \(unit)" + (number == 1 ? "" : "s")
    }
}
