// Documentation of the settings, written from the table: the README's
// Markdown table and the text of command-line help.
//
// Charter: formatting only. Every fact here comes from `PosternConfig.settings`.

extension PosternConfig {
    /// The README's configuration table. The README holds it between
    /// `<!-- settings:begin -->` and `<!-- settings:end -->`, and a test
    /// checks that the two are the same.
    public static func settingsMarkdownTable() -> String {
        var lines = ["| key | default | accepts | meaning |", "|---|---|---|---|"]
        for setting in settings {
            var meaning = setting.summary
            if let flag = setting.flag {
                meaning += " (flag `--\(flag.name)`\(flag.repeatable ? ", repeatable" : ""))"
            }
            let cells = ["`\(setting.key)`", setting.defaultMarkdown, setting.accepts, meaning]
            lines.append("| " + cells.map(markdownCell).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The settings given with no flag, one line each, for a command's help:
    /// `- scrypt.r (POSTERN_SCRYPT_R): password hash cost, … (1 to 32). Default 8.`
    public static func settingsWithoutFlagsHelp() -> String {
        settings.filter { $0.flag == nil }.map { setting in
            "- \(setting.key) (\(setting.environmentName)): \(setting.plainSummary) (\(plain(setting.accepts))).\(setting.defaultHelp)"
        }.joined(separator: "\n")
    }

    /// A table cell: a pipe would end the cell, a newline the row.
    private static func markdownCell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// Help is plain text: no code spans.
    fileprivate static func plain(_ text: String) -> String {
        text.replacingOccurrences(of: "`", with: "")
    }
}

extension Setting {
    /// The help of this setting's flag: what it means, what it accepts, its
    /// default and its environment variable.
    public var help: String {
        let summary = plainSummary.prefix(1).uppercased() + plainSummary.dropFirst()
        let repeatable = flag?.repeatable == true ? " Repeatable." : ""
        return "\(summary) (\(PosternConfig.plain(accepts))).\(repeatable)\(defaultHelp) Key \(key), env \(environmentName)."
    }

    fileprivate var plainSummary: String { PosternConfig.plain(summary) }

    fileprivate var defaultHelp: String {
        switch defaultValue {
        case .value(let text): " Default \(text)."
        case .described(let text): " Default: \(PosternConfig.plain(text))."
        case .none: ""
        }
    }

    fileprivate var defaultMarkdown: String {
        switch defaultValue {
        case .value(let text): "`\(text)`"
        case .described(let text): text
        case .none: "—"
        }
    }
}
