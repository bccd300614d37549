// Command-line flags for settings of the table: a flag's name, value name and
// help all come from `PosternConfig.settings`, so they cannot drift from the
// README or the config file.

import ArgumentParser
import PosternApp

extension Option where Value == String? {
    /// The flag of the setting `key`, which must have one in the table.
    init(setting key: String) {
        let setting = Setting.withFlag(key)
        self.init(name: .customLong(setting.flag!.name), help: ArgumentHelp(setting.help, valueName: setting.placeholder))
    }
}

extension Option where Value == [String] {
    /// The repeatable flag of the setting `key`; its items are joined with commas.
    init(wrappedValue: [String], setting key: String) {
        let setting = Setting.withFlag(key)
        self.init(wrappedValue: wrappedValue, name: .customLong(setting.flag!.name), parsing: .singleValue,
                  help: ArgumentHelp(setting.help, valueName: setting.placeholder))
    }
}

extension Setting {
    fileprivate static func withFlag(_ key: String) -> Setting {
        guard let setting = PosternConfig.settings.first(where: { $0.key == key }), setting.flag != nil else {
            preconditionFailure("the table of settings gives \(key) no flag")
        }
        return setting
    }
}
