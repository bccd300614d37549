import Foundation
import PosternCore
import Testing
@testable import PosternPortal

/// The console's charts and words, with no server: numbers in, SVG and
/// sentences out.
@Suite("Admin console: charts and wording")
struct AdminChartTests {
    /// The first of 168 hours: 2026-02-26 00:00 UTC (the last starts 2026-03-04 23:00).
    static let start = Date(timeIntervalSince1970: 1_772_582_400 - 6 * 86_400)
    static func hours(_ counts: [Int: (Int, Int)] = [:]) -> [AdminOverview.Hour] {
        (0..<168).map { index in
            let (allowed, refused) = counts[index] ?? (0, 0)
            return AdminOverview.Hour(start: start.addingTimeInterval(Double(index) * 3600), allowed: allowed, refused: refused)
        }
    }

    func count(_ text: String, _ fragment: String) -> Int { text.components(separatedBy: fragment).count - 1 }

    @Test("logins: one group per busy hour, stacked bars scaled to a round top, a label each UTC midnight")
    func loginBars() {
        let chart = AdminChart.logins(Self.hours([10: (30, 10), 11: (5, 0), 100: (0, 3)]), id: "c")
        #expect(chart.svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(chart.svg.contains(#"role="img" aria-labelledby="c-title c-desc""#))
        #expect(chart.svg.contains(#"<title id="c-title">Logins and refusals per hour, last 7 days (UTC)</title>"#))
        #expect(count(chart.svg, "<g><title>") == 3, "empty hours draw nothing")
        #expect(count(chart.svg, "class=\"allowed\"") == 2 && count(chart.svg, "class=\"refused\"") == 2)
        #expect(count(chart.svg, "class=\"tick\"") == 7, "seven midnights")
        #expect(chart.svg.contains(">50</text>"), "40 at most rounds up to 50")
        // The tallest bar's allowed part: 30 on a scale of 50, over a plot 148 high.
        let plotHeight = AdminChart.baseline - AdminChart.plot.top
        #expect(chart.svg.contains("height=\"\(AdminChart.f(30.0 / 50 * plotHeight))\""))
        #expect(chart.summary.hasPrefix("35 logins allowed and 13 refusals in the last 7 days."))
        #expect(chart.summary.contains("The busiest hour was") && chart.summary.contains(", 10:00 UTC, with 30 allowed and 10 refused"))
        #expect(AdminChart.hourLabel(Self.start.addingTimeInterval(22 * 3600)).hasSuffix(", 22:00 UTC"), "a 24-hour clock")
        #expect(!chart.svg.contains("style="), "colours come from the stylesheet (CSP)")
    }

    @Test("logins: an empty week still draws its axes and says so")
    func emptyWeek() {
        let chart = AdminChart.logins(Self.hours(), id: "c")
        #expect(chart.summary == "0 logins allowed and 0 refusals in the last 7 days.")
        #expect(!chart.svg.contains("<rect") && chart.svg.contains("class=\"axis\"") && chart.svg.contains(">1</text>"))
    }

    @Test("daily totals add up the hours of each UTC day")
    func dailyTotals() {
        let days = AdminChart.dailyTotals(Self.hours([0: (1, 2), 23: (3, 0), 24: (5, 5), 167: (7, 1)]))
        #expect(days.count == 7)
        #expect(days[0].allowed == 4 && days[0].refused == 2)
        #expect(days[1].allowed == 5 && days[6].allowed == 7 && days[6].refused == 1)
        #expect(days[0].day == Self.start)
    }

    @Test("adoption: a line of whole percentages, a dot per day naming its numbers, and a summary")
    func adoption() {
        let days = (0..<30).map { index in
            AdminOverview.Day(end: Self.start.addingTimeInterval(Double(index + 1) * 86_400), accounts: 10 + index / 10, withMFA: index / 3)
        }
        let chart = AdminChart.adoption(days, id: "a")
        #expect(count(chart.svg, "<circle") == 30)
        #expect(chart.svg.contains("<polyline class=\"line\" points=\""))
        #expect(chart.svg.contains(">100%</text>"))
        #expect(chart.summary == "75% of accounts have a second factor today (9 of 12); 29 days ago it was 0% (0 of 10).")
        #expect(chart.svg.contains("9 of 12 accounts (75%)"))
        #expect(AdminChart.adoption([], id: "a").summary == "No accounts yet.")
        let new = [AdminOverview.Day(end: Self.start, accounts: 0, withMFA: 0), AdminOverview.Day(end: Self.start, accounts: 2, withMFA: 1)]
        #expect(AdminChart.adoption(new, id: "a").summary == "50% of accounts have a second factor today (1 of 2); 1 day ago there were none.")
    }

    @Test("text in a chart is escaped, since the page inserts the SVG as it is")
    func escaping() {
        let svg = AdminChart.svg(id: "x\"y", title: "<b>", summary: "a & b", body: "")
        #expect(svg.contains(#"id="x&quot;y-title""#) && svg.contains("&lt;b&gt;") && svg.contains("a &amp; b"))
    }

    @Test("round tops, percentages, durations")
    func numbers() {
        #expect([0, 1, 2, 3, 7, 10, 11, 40, 51, 999].map(AdminChart.niceCeiling) == [1, 1, 2, 5, 10, 10, 20, 50, 100, 1000])
        #expect(AdminChart.percent(2, of: 3) == 66 && AdminChart.percent(0, of: 0) == 0 && AdminChart.percent(5, of: 5) == 100)
        #expect(AdminWording.duration(12 * 3600) == "12 hours" && AdminWording.duration(600) == "10 minutes")
        #expect(AdminWording.duration(0.25) == "0.25 seconds" && AdminWording.duration(30 * 86_400) == "30 days")
        #expect(AdminWording.duration(1) == "1 second" && AdminWording.duration(90) == "90 seconds")
    }

    @Test("refusal reasons in plain words; unknown ones as they are")
    func refusals() {
        #expect(AdminWording.refusal("app_password_required") == "account password used while MFA is on")
        #expect(AdminWording.refusal("invalid_password:reauthentication") == "wrong password (portal or API)")
        #expect(AdminWording.refusal("invalid_second_factor:sign_in") == "wrong second factor")
        #expect(AdminWording.refusal("something_new") == "something_new")
        for reason in DenialReason.allCases { #expect(AdminWording.refusal(reason.rawValue) != reason.rawValue) }
    }

    @Test("paths: actions by slug, a change's confirmation page, local redirects only")
    func paths() {
        #expect(AdminWording.slug(.revokeAppPassword) == "revoke-app-password")
        #expect(AdminWording.action(slug: "reset-mfa") == .resetMFA)
        #expect(AdminWording.action(slug: "grant-admin") == nil, "the role stays with the command line")
        #expect(AdminWording.userPath("a/b?c#d@example.org") == "/admin/users/a%2Fb%3Fc%23d@example.org")
        #expect(AdminWording.confirmationPath(forChange: "/admin/users/bob@example.org/disable", app: nil)
                == "/admin/users/bob@example.org/confirm/disable")
        #expect(AdminWording.confirmationPath(forChange: "/admin/users/bob@example.org/revoke-app-password", app: "x y")
                == "/admin/users/bob@example.org/confirm/revoke-app-password?app=x%20y")
        #expect(AdminWording.confirmationPath(forChange: "/admin/users/bob/grant-admin", app: nil) == "/admin/users")
        #expect(PortalViews.localPath("/admin/users?query=a") == "/admin/users?query=a")
        for bad in ["", "admin", "//evil.example", "/\\evil.example", "https://evil.example", "/a b", "/a\u{0}"] {
            #expect(PortalViews.localPath(bad) == nil, "\(bad)")
        }
    }
}
