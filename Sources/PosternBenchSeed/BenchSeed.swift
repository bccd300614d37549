// Fills a data directory with benchmark data: many accounts and app
// passwords, written straight into the store in large transactions. It writes
// the plain app passwords of a sample to files, for the load generator.

import ArgumentParser
import Foundation
import Logging
import PosternApp
import PosternCore
import PosternSQL
import SQLKit

@main
struct BenchSeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "postern-bench-seed",
                                                    abstract: "Seed a Postern data directory for the /v1/verify benchmark.")

    @Option(help: "Data directory to fill (created).") var data: String
    @Option(help: "How many accounts.") var accounts = 100_000
    @Option(help: "App passwords per account.") var perAccount = 10
    @Option(help: "Where to write sample credentials (one 'username password' per line).") var out: String
    @Option(help: "How many sampled credentials to write.") var sample = 20_000
    @Option(help: "PostgreSQL URL to seed instead of SQLite in the data directory.") var database: String?

    func run() async throws {
        var config = PosternConfig()
        config.dataDirectory = data
        config.scrypt = .init(logN: 10)
        config.databaseURL = database
        let environment = try await PosternEnvironment.open(config: config, logger: Logger(label: "seed"))
        let keys = environment.keys
        let executor = environment.store.executor
        // One real hash shared by every seeded account: the benchmark measures
        // app-password logins, and 100,000 slow hashes would take hours.
        let sharedHash = try await environment.hasher.hash("bench account password")
        let now = Date().timeIntervalSince1970 * 1000

        var sampled: [String] = []
        var generator = SystemRandomNumberGenerator()
        let sampleEvery = max(1, (accounts * perAccount) / max(1, sample))
        var counter = 0
        let started = Date()

        // Two special accounts: one app password, and a thousand.
        let specials = [("light@bench.example", 1), ("heavy@bench.example", 1000)]
        var specialCreds: [String: [String]] = [:]

        let batchAccounts = 2_000
        var index = 0
        while index < accounts + specials.count {
            let end = min(index + batchAccounts, accounts + specials.count)
            var accountRows: [[any SQLExpression]] = []
            var appRows: [[any SQLExpression]] = []
            for i in index..<end {
                let isSpecial = i >= accounts
                let username = isSpecial ? specials[i - accounts].0 : "user\(i)@bench.example"
                let count = isSpecial ? specials[i - accounts].1 : perAccount
                let id = Secrets.newIdentifier()
                accountRows.append([SQLBind(id), SQLBind(username), SQLBind(sharedHash), SQLBind(0), SQLBind(Int64(now))])
                for n in 0..<count {
                    let password = AppPasswordFormat.generate()
                    let digest = AppPasswordFormat.digest(normalised: password, accountID: id, keys: keys)
                    appRows.append([SQLBind(Secrets.newIdentifier()), SQLBind(id), SQLBind("App \(n)"), SQLBind(digest),
                                    SQLBind("imap,pop3,smtp,xmpp,other"), SQLBind(Int64(now))])
                    if isSpecial {
                        specialCreds[username, default: []].append("\(username) \(password)")
                    } else {
                        counter += 1
                        if counter % sampleEvery == 0 || UInt32.random(in: 0..<UInt32(sampleEvery * 4), using: &generator) == 0 {
                            sampled.append("\(username) \(password)")
                        }
                    }
                }
            }
            try await Self.insert(accounts: accountRows, appPasswords: appRows, into: executor)
            index = end
            if index % 20_000 == 0 { print("seeded \(index) accounts in \(Int(Date().timeIntervalSince(started))) s") }
        }
        await environment.close()
        try (sampled.shuffled().prefix(sample).joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
        try (specialCreds["light@bench.example", default: []].joined(separator: "\n") + "\n").write(toFile: out + ".light", atomically: true, encoding: .utf8)
        try (specialCreds["heavy@bench.example", default: []].joined(separator: "\n") + "\n").write(toFile: out + ".heavy", atomically: true, encoding: .utf8)
        print("seeded \(accounts + specials.count) accounts and \(accounts * perAccount + 1001) app passwords in \(Int(Date().timeIntervalSince(started))) s")
    }

    /// Writes one batch of rows in one transaction, 500 rows a statement.
    static func insert(accounts: [[any SQLExpression]], appPasswords: [[any SQLExpression]], into executor: any SQLExecutor) async throws {
        try await executor.write { db in
            for (table, columns, rows) in [("accounts", ["id", "username", "password_hash", "disabled", "created_at"], accounts),
                                           ("app_passwords", ["id", "account_id", "name", "digest", "protocols", "created_at"], appPasswords)] {
                for chunk in stride(from: 0, to: rows.count, by: 500) {
                    let insert = db.insert(into: table).columns(columns)
                    for row in rows[chunk..<min(chunk + 500, rows.count)] { insert.values(row) }
                    try await insert.run()
                }
            }
        }
    }
}
