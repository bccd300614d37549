// The `postern` command: runs the server and administers accounts.
//
// Charter: parse arguments, open the environment, call the core, print. No
// rule lives here.

import ArgumentParser
import Foundation
import Logging
import PosternApp
import PosternCore
#if canImport(Glibc)
import Glibc
#endif

@main
struct Postern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postern",
        abstract: "Application-specific passwords and MFA for self-hosted mail and chat servers.",
        subcommands: [Serve.self, User.self, AppPassword.self, Activity.self, Migrate.self, XMPPExtAuth.self])
}

/// Options every command shares: where the data and the config file are.
struct ConfigOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Config file, TOML or JSON. Env: POSTERN_CONFIG.", valueName: "file"))
    var config: String?

    @Option(setting: "data") var data: String?
    @Option(setting: "database.url") var database: String?

    /// The settings given as flags, by key: these and a command's own (`extra`).
    func settingFlags(adding extra: [String: String?] = [:]) -> [String: String] {
        var flags: [String: String] = [:]
        if let data { flags["data"] = data }
        if let database { flags["database.url"] = database }
        for (key, value) in extra { if let value { flags[key] = value } }
        return flags
    }

    func load(flags extra: [String: String?] = [:]) throws -> PosternConfig {
        let flags = settingFlags(adding: extra)
        do {
            return try PosternConfig.load(flags: flags, environment: ProcessInfo.processInfo.environment, configFile: config)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
    }
}

enum CLI {
    static func bootstrapLogging(level: String) {
        let logLevel = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }

    /// Opens the environment for an admin command, quietly.
    static func open(_ options: ConfigOptions) async throws -> PosternEnvironment {
        let config = try options.load()
        bootstrapLogging(level: "warning")
        return try await PosternEnvironment.open(config: config, logger: Logger(label: "postern"))
    }

    static func date(_ date: Date?) -> String {
        date.map { $0.formatted(.iso8601) } ?? "-"
    }

    /// Prints rows as aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            let line = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
            print(line)
        }
    }
}

// MARK: - serve

extension Postern {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run Postern: the portal and user API, and the auth endpoints for mail and chat servers.",
            discussion: """
            Each option's help names its config-file key and its environment variable. Precedence: flags, then the \
            environment, then the config file (--config), then defaults.

            Settings without a flag, for the environment or the config file:
            """ + "\n" + PosternConfig.settingsWithoutFlagsHelp())

        @OptionGroup var options: ConfigOptions

        // Help, flag names and value names come from the table of settings.
        @Option(setting: "listen") var listen: String?
        @Option(setting: "auth_listen") var authListen: String?
        @Option(setting: "auth_secret_file") var authSecretFile: String?
        @Option(setting: "public_url") var publicURL: String?
        @Option(setting: "signup") var signup: String?
        @Option(setting: "denial_message") var denialMessage: String?
        @Option(setting: "totp_issuer") var totpIssuer: String?
        @Option(setting: "app_password_limit") var appPasswordLimit: String?
        @Option(setting: "log_level") var logLevel: String?
        @Option(setting: "sasl_listen") var saslListen: [String] = []
        @Option(setting: "sasl_allow") var saslAllow: [String] = []
        @Option(setting: "sasl_default_domain") var saslDefaultDomain: String?
        @Option(setting: "mail.smtp_url") var smtpURL: String?
        @Option(setting: "mail.from") var mailFrom: String?

        @Flag(help: "Refuse to start if the database schema needs migrating, instead of migrating it. Env: POSTERN_NO_MIGRATE=1.")
        var noMigrate = false

        /// The settings given as this command's own flags, by key.
        var settingFlags: [String: String?] {
            [
                "listen": listen, "auth_listen": authListen, "auth_secret_file": authSecretFile, "public_url": publicURL,
                "signup": signup, "denial_message": denialMessage, "totp_issuer": totpIssuer,
                "app_password_limit": appPasswordLimit, "log_level": logLevel,
                "sasl_listen": saslListen.isEmpty ? nil : saslListen.joined(separator: ","),
                "sasl_allow": saslAllow.isEmpty ? nil : saslAllow.joined(separator: ","),
                "sasl_default_domain": saslDefaultDomain, "mail.smtp_url": smtpURL, "mail.from": mailFrom,
            ]
        }

        func run() async throws {
            let config = try options.load(flags: settingFlags)
            CLI.bootstrapLogging(level: config.logLevel)
            let logger = Logger(label: "postern")
            let migrate = !(noMigrate || ProcessInfo.processInfo.environment["POSTERN_NO_MIGRATE"] == "1")
            let environment = try await PosternEnvironment.open(config: config, logger: logger, migrate: migrate)
            logger.notice("data", metadata: ["database": "\(environment.databasePath)", "server_key": "\(environment.keyPath)",
                                             "signup": "\(config.signupOpen ? "open" : "closed")"])
            try await PosternServer.run(environment: environment, logger: logger)
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending database migrations, then exit.")

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let environment = try await CLI.open(options)
            await environment.close()
            print("Database is up to date: \(environment.databasePath)")
        }
    }
}

// MARK: - user

extension Postern {
    struct User: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage accounts.",
            subcommands: [Add.self, List.self, Disable.self, Enable.self, ResetMFA.self, GrantAdmin.self, RevokeAdmin.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create an account (works when sign-up is closed).",
                discussion: "The password is read from --password-file, or else from standard input (prompted for on a terminal).")

            @OptionGroup var options: ConfigOptions
            @Argument(help: "The username, an address like alice@example.org.") var username: String
            @Option(help: ArgumentHelp("Read the password from this file's first line.", valueName: "file")) var passwordFile: String?

            func run() async throws {
                let password = try readPassword()
                let environment = try await CLI.open(options)
                do {
                    let account = try await environment.accounts.createAccount(username: username, password: password, byAdministrator: true)
                    await environment.close()
                    print("Created \(account.username)")
                } catch let error as PosternError {
                    await environment.close()
                    throw ValidationError(error.message)
                }
            }

            func readPassword() throws -> String {
                if let passwordFile {
                    guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                        throw ValidationError("Cannot read \(passwordFile).")
                    }
                    return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
                }
                if isatty(STDIN_FILENO) != 0, let entered = getpass("Password: ") {
                    return String(cString: entered)
                }
                guard let line = readLine(strippingNewline: true) else { throw ValidationError("No password given on standard input.") }
                return line
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List accounts.")
            @OptionGroup var options: ConfigOptions

            func run() async throws {
                let environment = try await CLI.open(options)
                let accounts = try await environment.accounts.listAccounts()
                await environment.close()
                CLI.table(["USERNAME", "STATUS", "MFA", "ADMIN", "CREATED"], accounts.map {
                    [$0.username, $0.disabled ? "disabled" : "enabled", $0.mfaEnabled ? "on" : "off", $0.isAdmin ? "yes" : "no", CLI.date($0.createdAt)]
                })
            }
        }

        struct Disable: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Disable an account: every login is refused and its sessions end.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String

            func run() async throws { try await User.act(options, .disable, username, done: "Disabled \(username)") }
        }

        struct Enable: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Enable a disabled account.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String

            func run() async throws { try await User.act(options, .enable, username, done: "Enabled \(username)") }
        }

        struct ResetMFA: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "reset-mfa",
                abstract: "Remove an account's second factors (authenticator app, security keys) and recovery codes, for a user who lost them. Their app passwords keep working.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String

            func run() async throws { try await User.act(options, .resetMFA, username, done: "MFA reset for \(username)") }
        }

        struct GrantAdmin: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "grant-admin",
                abstract: "Make an account an administrator: it may use the console at /admin and /api/v1/admin once it has a second factor.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String

            func run() async throws { try await User.act(options, .grantAdmin, username, done: "\(username) is an administrator") }
        }

        struct RevokeAdmin: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "revoke-admin", abstract: "Take the administrator role from an account.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String

            func run() async throws { try await User.act(options, .revokeAdmin, username, done: "\(username) is no longer an administrator") }
        }

        /// Does an administrator's action as the command line: the owner is
        /// told, and the admin log and the owner's activity record it.
        static func act(_ options: ConfigOptions, _ action: AdminAction, _ username: String, appPasswordID: String? = nil,
                        done: String) async throws {
            let environment = try await CLI.open(options)
            do {
                try await environment.admin.perform(action, on: username, appPasswordID: appPasswordID, by: .commandLine)
                await environment.close()
                print(done)
            } catch PosternError.notFound {
                await environment.close()
                throw ValidationError(appPasswordID == nil ? "No account \(username)." : "No such account or active app password.")
            } catch {
                await environment.close()
                throw error
            }
        }
    }
}

// MARK: - app-password

extension Postern {
    struct AppPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "app-password",
            abstract: "See and revoke a user's app passwords (administrator view).",
            subcommands: [List.self, Revoke.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a user's active app passwords.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String

            func run() async throws {
                let environment = try await CLI.open(options)
                do {
                    let account = try await environment.accounts.account(username: username)
                    let records = try await environment.accounts.listAppPasswords(account: account)
                    await environment.close()
                    CLI.table(["ID", "NAME", "PROTOCOLS", "CREATED", "EXPIRES", "LAST USED"], records.map { record in
                        let lastUse = record.lastUse.map { "\(CLI.date($0.at)) \($0.loginProtocol.rawValue) \($0.clientIP ?? "-")" } ?? "never used"
                        return [record.id, record.name, LoginProtocol.allCases.filter(record.protocols.contains).map(\.rawValue).joined(separator: ","),
                                CLI.date(record.createdAt), CLI.date(record.expiresAt), lastUse]
                    })
                } catch PosternError.notFound {
                    await environment.close()
                    throw ValidationError("No account \(username).")
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Revoke one of a user's app passwords, or all of them.")
            @OptionGroup var options: ConfigOptions
            @Argument var username: String
            @Argument(help: "The app password's id (from `list`).") var id: String?
            @Flag(help: "Revoke every app password of the user.") var all = false

            func validate() throws {
                if all == (id != nil) { throw ValidationError("Give either an app password id or --all.") }
            }

            func run() async throws {
                if let id {
                    try await User.act(options, .revokeAppPassword, username, appPasswordID: id, done: "Revoked \(id)")
                } else {
                    try await User.act(options, .revokeAppPasswords, username, done: "Revoked every app password of \(username)")
                }
            }
        }
    }
}

extension Postern {
    /// `postern activity USER`: the account's security events, as its owner sees them.
    struct Activity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an account's security activity, newest first.")
        @OptionGroup var options: ConfigOptions
        @Argument var username: String
        @Option(help: "How many events. Default 50.") var limit = 50
        @Option(help: ArgumentHelp("Only sign_in, protocol_login or change.", valueName: "category")) var category: String?

        func validate() throws {
            guard (1...200).contains(limit) else { throw ValidationError("--limit must be from 1 to 200.") }
            if let category, ActivityEntry.Category(rawValue: category) == nil {
                throw ValidationError("--category must be sign_in, protocol_login or change.")
            }
        }

        func run() async throws {
            let environment = try await CLI.open(options)
            do {
                let account = try await environment.accounts.account(username: username)
                let categories = category.flatMap(ActivityEntry.Category.init(rawValue:)).map { Set([$0]) }
                let page = try await environment.accounts.activity(account: account, before: nil, categories: categories, limit: limit)
                await environment.close()
                CLI.table(["WHEN", "WHAT", "FROM"], page.entries.map { [CLI.date($0.at), $0.summary, $0.clientIP ?? "-"] })
            } catch PosternError.notFound {
                await environment.close()
                throw ValidationError("No account \(username).")
            }
        }
    }
}
