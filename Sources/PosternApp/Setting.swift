// One user-facing setting, and the parsers that read a setting's text.
//
// Charter: describes and checks values. It reads no file and knows no layer
// (flags, environment, file); `PosternConfig.load` stacks those.

import Foundation

/// One user-facing setting: its key, what it accepts, its default, one line
/// on what it means, and where its value goes in `PosternConfig`.
///
/// The list of them is `PosternConfig.settings`. The config file's keys, the
/// environment variables, the parser, the README table and the help of the
/// command-line flags all come from that list.
public struct Setting: Sendable {
    /// The config-file key, with dots for nested tables: `throttle.max_delay`.
    public let key: String
    /// What the value looks like, for tables and help: `HOST:PORT`, `1 to 10000`.
    public let accepts: String
    /// A short name for the value in a flag's help: `host:port`, `n`.
    public let placeholder: String
    public let defaultValue: Default
    /// One line, lower case, no final full stop.
    public let summary: String
    /// The command-line flag of `postern serve` (or of every command), if any.
    public let flag: Flag?
    /// Checks `text` and stores it in the configuration; throws `ConfigError.invalid`.
    let apply: @Sendable (String, inout PosternConfig) throws(ConfigError) -> Void

    /// A documented default.
    public enum Default: Sendable, Equatable {
        /// A value as it would be written: parsing it gives the built-in default.
        case value(String)
        /// A default that is worked out or bundled: "CPU cores".
        case described(String)
        /// Unset.
        case none
    }

    /// A long option on the command line.
    public struct Flag: Sendable, Equatable {
        /// Without the dashes: `auth-listen`.
        public let name: String
        /// Given once per item (`--sasl-allow A --sasl-allow B`); the items are joined with commas.
        public let repeatable: Bool

        public static func option(_ name: String) -> Flag { Flag(name: name, repeatable: false) }
        public static func repeatable(_ name: String) -> Flag { Flag(name: name, repeatable: true) }
    }

    /// The environment variable: `POSTERN_` + the key in upper case, dots and dashes as underscores.
    public var environmentName: String { PosternConfig.environmentName(key) }

    /// A setting stored at `path`, read by `parser`.
    static func stored<Value>(_ key: String, _ path: WritableKeyPath<PosternConfig, Value> & Sendable, _ parser: ValueParser<Value>,
                              default defaultValue: Default, flag: Flag? = nil, _ summary: String) -> Setting {
        Setting(key: key, accepts: parser.shown, placeholder: parser.placeholder, defaultValue: defaultValue, summary: summary,
                flag: flag) { (text, config) throws(ConfigError) in
            do throws(Rejected) {
                config[keyPath: path] = try parser.parse(text)
            } catch {
                throw ConfigError.invalid(key, parser.expected, parser.secret ? "(hidden)" : error.got)
            }
        }
    }
}

/// Why a value was refused: the text to quote back (the whole value, or the one bad item of a list).
struct Rejected: Error {
    let got: String
}

/// How a setting's text becomes a value.
struct ValueParser<Value>: Sendable {
    /// Ends "Setting “key” must be …" in an error.
    let expected: String
    /// The same, short, for tables and help.
    let shown: String
    /// A short name for the value in a flag's help.
    let placeholder: String
    /// A secret (it may hold a password) is never quoted back in an error.
    var secret = false
    let parse: @Sendable (String) throws(Rejected) -> Value

    init(expected: String, shown: String? = nil, placeholder: String, secret: Bool = false,
         parse: @escaping @Sendable (String) throws(Rejected) -> Value) {
        self.expected = expected
        self.shown = shown ?? expected
        self.placeholder = placeholder
        self.secret = secret
        self.parse = parse
    }

    /// Accepts what `check` returns a value for, and refuses the rest.
    static func checked(expected: String, shown: String? = nil, placeholder: String, secret: Bool = false,
                        _ check: @escaping @Sendable (String) -> Value?) -> ValueParser {
        ValueParser(expected: expected, shown: shown, placeholder: placeholder, secret: secret) { (text) throws(Rejected) in
            guard let value = check(text) else { throw Rejected(got: text) }
            return value
        }
    }

    /// Empty text leaves the setting unset; anything else must pass this parser.
    var optional: ValueParser<Value?> {
        let parse = self.parse
        return ValueParser<Value?>(expected: expected, shown: shown, placeholder: placeholder, secret: secret) { (text) throws(Rejected) in
            text.isEmpty ? nil : try parse(text)
        }
    }

    func map<Other>(_ transform: @escaping @Sendable (Value) -> Other) -> ValueParser<Other> {
        let parse = self.parse
        return ValueParser<Other>(expected: expected, shown: shown, placeholder: placeholder, secret: secret) { (text) throws(Rejected) in
            transform(try parse(text))
        }
    }
}

// MARK: - Parsers for common kinds of value

extension ValueParser where Value == String {
    /// Any text, taken as it is: a path, say.
    static func text(_ shown: String, placeholder: String) -> ValueParser {
        ValueParser(expected: shown, placeholder: placeholder) { (text) throws(Rejected) in text }
    }
}

extension ValueParser where Value == String? {
    /// A file holding a secret, read when it is needed; empty text leaves it unset.
    static var file: ValueParser { ValueParser<String>.text("a file path", placeholder: "file").optional }
}

extension ValueParser where Value == HostAndPort {
    static var hostAndPort: ValueParser { checked(expected: "HOST:PORT", placeholder: "host:port") { HostAndPort($0) } }
}

extension ValueParser where Value == Int {
    /// A whole number in `range`; spaces around it are ignored.
    static func integer(_ range: ClosedRange<Int>) -> ValueParser {
        checked(expected: "a whole number from \(range.lowerBound) to \(range.upperBound)",
                    shown: "\(range.lowerBound) to \(range.upperBound)", placeholder: "n") {
            Int($0.trimmingCharacters(in: .whitespaces)).flatMap { range.contains($0) ? $0 : nil }
        }
    }
}

extension ValueParser where Value == Double {
    /// A number of seconds, 0 or more, then brought into `range`: a value
    /// outside it counts as the nearest bound rather than being refused.
    static func seconds(clampedTo range: ClosedRange<Double> = 0...Double.infinity) -> ValueParser {
        let (low, high) = (number(range.lowerBound), number(range.upperBound))
        let shown = switch (range.lowerBound > 0, range.upperBound.isFinite) {
        case (false, false): "0 or more"
        case (false, true): "0 or more; above \(high) counts as \(high)"
        case (true, false): "0 or more; below \(low) counts as \(low)"
        case (true, true): "0 or more; below \(low) counts as \(low), above \(high) as \(high)"
        }
        return checked(expected: "a number of seconds, 0 or more", shown: shown, placeholder: "seconds") { text in
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value >= 0, value.isFinite else { return nil }
            return min(max(range.lowerBound, value), range.upperBound)
        }
    }

    private static func number(_ value: Double) -> String {
        value.isFinite && value.rounded() == value ? String(Int(value)) : String(value)
    }
}

extension ValueParser where Value == Bool {
    static var boolean: ValueParser {
        checked(expected: "true or false", placeholder: "bool") { text in
            switch text.lowercased() {
            case "true", "1", "yes", "on": true
            case "false", "0", "no", "off": false
            default: nil
            }
        }
    }
}

extension ValueParser {
    /// Items separated by commas, each trimmed and read by `item`. A bad item
    /// is quoted back alone. With `skippingBlanks`, empty items are dropped
    /// and at least one must remain; otherwise an empty item is a bad item.
    static func commaSeparated<Item>(expected: String, shown: String, placeholder: String, skippingBlanks: Bool = false,
                                     _ item: @escaping @Sendable (String) -> Item?) -> ValueParser where Value == [Item] {
        ValueParser(expected: expected, shown: shown, placeholder: placeholder) { (text) throws(Rejected) in
            var items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if skippingBlanks {
                items.removeAll { $0.isEmpty }
                guard !items.isEmpty else { throw Rejected(got: text) }
            }
            return try items.map { (text) throws(Rejected) in
                guard let value = item(text) else { throw Rejected(got: text) }
                return value
            }
        }
    }

    /// One of `choices`, exactly as written.
    static func oneOf(_ choices: [String], placeholder: String) -> ValueParser where Value == String {
        let listed = choices.dropLast().joined(separator: ", ") + " or " + (choices.last ?? "")
        return checked(expected: listed, placeholder: placeholder) { choices.contains($0) ? $0 : nil }
    }
}
