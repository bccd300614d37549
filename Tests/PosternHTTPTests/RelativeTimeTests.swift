import Foundation
import Testing
@testable import PosternPortal

/// The wording of times on the Security pages, for a fixed "now":
/// Wednesday 12 November 2025, 14:02:07 UTC.
@Suite("Relative times")
struct RelativeTimeTests {
    static let now = Date(timeIntervalSince1970: 1_762_956_127)
    let time = RelativeTime(now: Self.now)

    func ago(_ seconds: TimeInterval) -> String { time.describe(Self.now.addingTimeInterval(-seconds)) }
    func ahead(_ seconds: TimeInterval) -> String { time.describe(Self.now.addingTimeInterval(seconds)) }

    @Test("the fixed now is what the comments say")
    func fixedNow() {
        #expect(time.exact(Self.now) == "12 Nov 2025, 14:02:07 UTC")
    }

    @Test("seconds are just now, either way")
    func justNow() {
        #expect(ago(0) == "just now")
        #expect(ago(59) == "just now")
        #expect(ahead(30) == "just now", "a clock a little ahead")
    }

    @Test("minutes and hours are counted, in the singular for one")
    func counted() {
        #expect(ago(60) == "1 minute ago")
        #expect(ago(3 * 60 + 20) == "3 minutes ago")
        #expect(ago(59 * 60 + 59) == "59 minutes ago")
        #expect(ago(3600) == "1 hour ago")
        #expect(ago(2 * 3600 + 59 * 60) == "2 hours ago")
        #expect(ago(14 * 3600) == "14 hours ago", "00:02 the same day")
    }

    @Test("the day before is yesterday, unless it was only a few hours ago")
    func yesterday() {
        #expect(ago(15 * 3600) == "yesterday", "23:02 the day before")
        #expect(ago(37 * 3600) == "yesterday", "01:02 the day before")
        #expect(ago(39 * 3600) == "10 Nov")
        let justAfterMidnight = RelativeTime(now: Date(timeIntervalSince1970: 1_762_905_900))  // 12 Nov 2025, 00:05 UTC
        #expect(justAfterMidnight.describe(Date(timeIntervalSince1970: 1_762_898_400)) == "2 hours ago", "22:00 the day before")
    }

    @Test("older days are dates, with the year only when it is another one")
    func dates() {
        #expect(ago(5 * 86_400) == "7 Nov")
        #expect(ago(300 * 86_400) == "16 Jan")
        #expect(ago(320 * 86_400) == "27 Dec 2024")
        #expect(ahead(90 * 86_400) == "10 Feb 2026")
        #expect(ahead(61 * 86_400) == "12 Jan 2026")
    }

    @Test("the future: in minutes, in hours, tomorrow, in days")
    func future() {
        #expect(ahead(5 * 60) == "in 5 minutes")
        #expect(ahead(60) == "in 1 minute")
        #expect(ahead(3 * 3600) == "in 3 hours")
        #expect(ahead(25 * 3600) == "tomorrow")
        #expect(ahead(23 * 86_400 + 3600) == "in 23 days")
        #expect(ahead(60 * 86_400) == "in 60 days")
    }

    @Test("the view holds the ISO time, the exact UTC time and the words")
    func view() {
        let view = time.view(Self.now.addingTimeInterval(-120))
        #expect(view["iso"] == "2025-11-12T14:00:07Z")
        #expect(view["exact"] == "12 Nov 2025, 14:00:07 UTC")
        #expect(view["relative"] == "2 minutes ago")
    }

    @Test("a time of day, with the day in front when it is not today")
    func clock() {
        #expect(time.clock(Self.now) == "14:02")
        #expect(time.clock(Self.now.addingTimeInterval(-14 * 3600)) == "00:02")
        #expect(time.clock(Self.now.addingTimeInterval(-15 * 3600)) == "11 Nov, 23:02")
        #expect(time.view(Self.now, text: time.clock(Self.now))["relative"] == "14:02")
    }
}
