import ArgumentParser
import PosternApp
import Testing
@testable import PosternCLI

/// The flags for settings are declared in the command, but their names and
/// help come from the table of settings; these check the two agree.
extension CLITests {
    @Test("every flag in the table of settings sets its setting, and nothing else")
    func settingFlags() throws {
        let flagged = PosternConfig.settings.filter { $0.flag != nil }
        #expect(flagged.count >= 16)
        for setting in flagged {
            let flag = try #require(setting.flag)
            let arguments = flag.repeatable ? ["--\(flag.name)", "a", "--\(flag.name)", "b"] : ["--\(flag.name)", "a"]
            let serve = try Postern.Serve.parse(arguments)
            #expect(serve.options.settingFlags(adding: serve.settingFlags) == [setting.key: flag.repeatable ? "a,b" : "a"], "--\(flag.name)")
        }
        let none = try Postern.Serve.parse([])
        #expect(none.options.settingFlags(adding: none.settingFlags).isEmpty)
    }

    @Test("serve --help gives each flag the table's help, and lists the settings without a flag")
    func settingsHelp() {
        let help = Postern.Serve.helpMessage(columns: 10_000)
        for setting in PosternConfig.settings {
            if let flag = setting.flag {
                #expect(help.contains("--\(flag.name) <\(setting.placeholder)>"), "\(setting.key)")
                #expect(help.contains(setting.help), "\(setting.key)")
            } else {
                #expect(help.contains("- \(setting.key) (\(setting.environmentName)): "), "\(setting.key)")
            }
        }
    }
}
