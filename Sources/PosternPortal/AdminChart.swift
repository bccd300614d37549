import Foundation
import PosternCore

/// The overview's two small charts, drawn on the server as inline SVG, so the
/// console needs no script and the CSP stays as strict as the rest of the
/// portal (no inline style: colours come from classes in postern.css).
///
/// Pure: numbers in, markup and words out. Every chart comes with a sentence
/// that says what it shows (for screen readers, and for anyone who would
/// rather read), and every text inside the SVG is escaped here, because the
/// template inserts the markup as it is.
struct AdminChart: Equatable {
    /// The `<svg>` element.
    var svg: String
    /// What the chart shows, in a sentence or two.
    var summary: String

    static let width = 720.0
    static let height = 180.0
    /// Room for the axis labels: left, right, top, bottom.
    static let plot = (left: 36.0, right: 8.0, top: 10.0, bottom: 22.0)

    // MARK: - Logins and refusals per hour

    /// Stacked bars, one per hour: allowed logins below, refusals above, with
    /// a label at each UTC midnight. `id` prefixes the element ids, which the
    /// page's `aria-describedby` and the SVG's own `aria-labelledby` use.
    static func logins(_ hours: [AdminOverview.Hour], id: String) -> AdminChart {
        let allowed = hours.reduce(0) { $0 + $1.allowed }, refused = hours.reduce(0) { $0 + $1.refused }
        let top = niceCeiling(hours.map { $0.allowed + $0.refused }.max() ?? 0)
        let slot = (width - plot.left - plot.right) / Double(max(hours.count, 1))
        let title = "Logins and refusals per hour, last \(hours.count / 24) days (UTC)"
        var body = axis(top: top, suffix: "")
        for (index, hour) in hours.enumerated() {
            let x = plot.left + Double(index) * slot
            if Calendar.utc.component(.hour, from: hour.start) == 0 {
                body += "<line class=\"tick\" x1=\"\(f(x))\" y1=\"\(f(baseline))\" x2=\"\(f(x))\" y2=\"\(f(baseline + 4))\"/>"
                body += "<text class=\"label\" x=\"\(f(x + 2))\" y=\"\(f(height - 6))\">\(esc(dayLabel(hour.start)))</text>"
            }
            guard hour.allowed + hour.refused > 0 else { continue }
            let allowedHeight = scaled(hour.allowed, top), refusedHeight = scaled(hour.refused, top)
            let tip = "\(hourLabel(hour.start)): \(count(hour.allowed, "login")) allowed, \(hour.refused) refused"
            body += "<g><title>\(esc(tip))</title>"
            body += rect("allowed", x: x, y: baseline - allowedHeight, width: slot * 0.8, height: allowedHeight)
            body += rect("refused", x: x, y: baseline - allowedHeight - refusedHeight, width: slot * 0.8, height: refusedHeight)
            body += "</g>"
        }
        var summary = "\(count(allowed, "login")) allowed and \(count(refused, "refusal")) in the last \(hours.count / 24) days."
        // The first of the busiest hours, if anything happened at all.
        if let busiest = hours.max(by: { $0.allowed + $0.refused < $1.allowed + $1.refused }), busiest.allowed + busiest.refused > 0 {
            summary += " The busiest hour was \(hourLabel(busiest.start)), with \(busiest.allowed) allowed and \(busiest.refused) refused."
        }
        return AdminChart(svg: svg(id: id, title: title, summary: summary, body: body), summary: summary)
    }

    /// Per UTC day: allowed and refused, oldest first (the table beside the chart).
    static func dailyTotals(_ hours: [AdminOverview.Hour]) -> [(day: Date, allowed: Int, refused: Int)] {
        var days: [(day: Date, allowed: Int, refused: Int)] = []
        for hour in hours {
            let day = Calendar.utc.startOfDay(for: hour.start)
            if days.last?.day == day {
                days[days.count - 1].allowed += hour.allowed
                days[days.count - 1].refused += hour.refused
            } else {
                days.append((day, hour.allowed, hour.refused))
            }
        }
        return days
    }

    // MARK: - Second-factor adoption

    /// A line of the share of accounts with a second factor at the end of each
    /// day, on a 0–100 % scale, with a dot per day that names its numbers.
    static func adoption(_ days: [AdminOverview.Day], id: String) -> AdminChart {
        let slot = (width - plot.left - plot.right) / Double(max(days.count - 1, 1))
        let title = "Accounts with a second factor, last \(days.count) days (UTC)"
        var body = axis(top: 100, suffix: "%")
        var points: [String] = [], dots = ""
        for (index, day) in days.enumerated() {
            let x = plot.left + Double(index) * slot, y = baseline - scaled(percent(day.withMFA, of: day.accounts), 100)
            points.append("\(f(x)),\(f(y))")
            let date = Date(timeInterval: -1, since: day.end)
            let tip = "\(dayLabel(date)): \(day.withMFA) of \(count(day.accounts, "account")) (\(percent(day.withMFA, of: day.accounts))%)"
            dots += "<circle class=\"point\" cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"3\"><title>\(esc(tip))</title></circle>"
            if index % 7 == (days.count - 1) % 7 {  // a label a week apart, ending today
                let anchor = index == days.count - 1 ? "end" : "middle"
                body += "<text class=\"label\" x=\"\(f(x))\" y=\"\(f(height - 6))\" text-anchor=\"\(anchor)\">\(esc(dayLabel(date)))</text>"
            }
        }
        if !points.isEmpty { body += "<polyline class=\"line\" points=\"\(points.joined(separator: " "))\"/>" + dots }
        var summary = "No accounts yet."
        if let first = days.first, let last = days.last, last.accounts > 0 {
            summary = "\(percent(last.withMFA, of: last.accounts))% of accounts have a second factor today (\(last.withMFA) of "
                + "\(last.accounts)); \(count(days.count - 1, "day")) ago "
                + (first.accounts == 0 ? "there were none."
                    : "it was \(percent(first.withMFA, of: first.accounts))% (\(first.withMFA) of \(first.accounts)).")
        }
        return AdminChart(svg: svg(id: id, title: title, summary: summary, body: body), summary: summary)
    }

    /// `part` as a whole percentage of `whole`, rounded down (so 100 % means
    /// every account); 0 when there is nothing to divide.
    static func percent(_ part: Int, of whole: Int) -> Int {
        whole > 0 ? part * 100 / whole : 0
    }

    // MARK: - Drawing

    static var baseline: Double { height - plot.bottom }

    static func svg(id: String, title: String, summary: String, body: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" "
            + "height=\"\(f(height))\" role=\"img\" aria-labelledby=\"\(esc(id))-title \(esc(id))-desc\">"
            + "<title id=\"\(esc(id))-title\">\(esc(title))</title><desc id=\"\(esc(id))-desc\">\(esc(summary))</desc>"
            + body + "</svg>"
    }

    /// The baseline, a top gridline, and their labels.
    static func axis(top: Int, suffix: String) -> String {
        let y = plot.top, right = width - plot.right
        return "<line class=\"grid\" x1=\"\(f(plot.left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\"/>"
            + "<line class=\"axis\" x1=\"\(f(plot.left))\" y1=\"\(f(baseline))\" x2=\"\(f(right))\" y2=\"\(f(baseline))\"/>"
            + "<text class=\"label\" x=\"\(f(plot.left - 4))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(top)\(suffix)</text>"
            + "<text class=\"label\" x=\"\(f(plot.left - 4))\" y=\"\(f(baseline))\" text-anchor=\"end\">0\(suffix)</text>"
    }

    static func rect(_ kind: String, x: Double, y: Double, width: Double, height: Double) -> String {
        guard height > 0 else { return "" }
        return "<rect class=\"\(kind)\" x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(width))\" height=\"\(f(height))\"/>"
    }

    /// `value`'s height on a scale that ends at `top`.
    static func scaled(_ value: Int, _ top: Int) -> Double {
        top > 0 ? Double(value) / Double(top) * (baseline - plot.top) : 0
    }

    /// The smallest of 1, 2, 5, 10, 20, 50… that is at least `value` (at least 1),
    /// so the top gridline has a round label.
    static func niceCeiling(_ value: Int) -> Int {
        var step = 1
        while true {
            for factor in [1, 2, 5] where step * factor >= value { return step * factor }
            step *= 10
        }
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }
    static func esc(_ text: String) -> String { HTMLEscaping.escape(text) }
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    static func dayLabel(_ date: Date) -> String {
        date.formatted(Date.FormatStyle(timeZone: .utcZone).weekday(.abbreviated).day().month(.abbreviated))
    }

    /// "Sun, 29 Nov, 22:00 UTC": a 24-hour clock whatever the locale, as hours are buckets.
    static func hourLabel(_ date: Date) -> String {
        dayLabel(date) + String(format: ", %02d:00 UTC", Calendar.utc.component(.hour, from: date))
    }
}

extension TimeZone {
    static let utcZone = TimeZone(identifier: "UTC")!
}

extension Calendar {
    /// Gregorian, in UTC: the console's days and hours are UTC days and hours.
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .utcZone
        return calendar
    }()
}
