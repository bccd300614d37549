// The config file: TOML or JSON, nested tables flattened into dotted keys.
//
// Charter: reads the file and refuses keys the table does not know. It checks
// no value; `PosternConfig.settings` does that.

import Foundation
import TOMLKit

extension PosternConfig {
    /// Reads a TOML or JSON file (by extension; TOML otherwise) into flat keys.
    static func readFile(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError.file(path, "cannot be read")
        }
        let json: String
        if path.lowercased().hasSuffix(".json") {
            json = text
        } else {
            do {
                json = try TOMLTable(string: text).convert(to: .json)
            } catch {
                throw ConfigError.file(path, "is not valid TOML: \(error)")
            }
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ConfigError.file(path, "must hold a table of settings")
        }
        var flat: [String: String] = [:]
        try flatten(object, prefix: "", into: &flat, path: path)
        for key in flat.keys where !keys.contains(key) {
            throw ConfigError.unknownKey(key, source: path)
        }
        return flat
    }

    private static func flatten(_ object: [String: Any], prefix: String, into flat: inout [String: String], path: String) throws {
        for (key, value) in object {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case let table as [String: Any]: try flatten(table, prefix: name, into: &flat, path: path)
            case let string as String: flat[name] = string
            case let list as [String]: flat[name] = list.joined(separator: ",")
            case let number as NSNumber:
                flat[name] = number.stringValue
            default: throw ConfigError.file(path, "has a value of an unsupported type at \(name)")
            }
        }
    }
}
