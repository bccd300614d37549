import Foundation
import PosternCore

// MARK: - The operator's console

extension MemoryStore {
    public func setAdmin(accountID: String, _ admin: Bool, audit: AuditEvent) async throws -> Bool {
        try write { state in
            guard state.accounts[accountID] != nil else { return false }
            state.accounts[accountID]?.isAdmin = admin
            try state.insert([audit])
            return true
        }
    }

    public func endSessions(accountID: String, audit: AuditEvent) async throws -> Int {
        try write { state in
            try state.requireAccount(accountID)
            let ending = state.sessions.values.filter { $0.accountID == accountID }.map(\.tokenDigest)
            for digest in ending { state.sessions[digest] = nil }
            try state.insert([audit])
            return ending.count
        }
    }

    public func adminLog(before: AuditCursor?, limit: Int) async throws -> [AdminLogEntry] {
        try read { state in
            let page = state.adminLog.values.filter { entry in
                before.map { entry.at < $0.at || (entry.at == $0.at && entry.id < $0.id) } ?? true
            }
            return Array(page.sorted { ($0.at, $0.id) > ($1.at, $1.id) }.prefix(max(1, min(limit, 1000))))
        }
    }

    public func adminUsers(matching query: String?, after: String?, limit: Int) async throws -> [AdminUserSummary] {
        try read { state in
            let query = query.flatMap { $0.isEmpty ? nil : $0.lowercased() }
            let accounts = state.accounts.values
                .filter { account in
                    (query.map { account.username.lowercased().contains($0) } ?? true) && (after.map { account.username > $0 } ?? true)
                }
                .sorted { $0.username < $1.username }
                .prefix(max(1, min(limit, 200)))
            return accounts.map { state.summary($0) }
        }
    }

    public func adminUser(id: String) async throws -> AdminUserSummary? {
        try read { state in state.accounts[id].map { state.summary($0) } }
    }

    public func adminOverview(now: Date, days: Int) async throws -> AdminOverview {
        try read { state in
            let reported = state.accounts.values.map(state.reported)
            let domains = Dictionary(grouping: reported) { Username.domain(of: $0.username) }
                .map { AdminOverview.Domain(domain: $0.key, accounts: $0.value.count, withMFA: $0.value.count(where: \.mfaEnabled)) }
                .sorted { $0.domain < $1.domain }
            return AdminOverview(days: days, domains: domains, accountPasswordClients: state.accountPasswordClients(now: now, days: days),
                                 staleAppPasswords: state.staleAppPasswords(now: now), refusals: state.refusals(now: now),
                                 hours: state.hours(now: now), adoption: state.adoption(now: now))
        }
    }
}

extension MemoryStore.State {
    func summary(_ account: Account) -> AdminUserSummary {
        let events = auditEvents.values.filter { $0.accountID == account.id && $0.result == .allow }
        return AdminUserSummary(id: account.id, username: account.username, disabled: account.disabled, isAdmin: account.isAdmin,
                                mfaEnabled: reported(account).mfaEnabled,
                                appPasswords: appPasswords.values.count { $0.accountID == account.id && $0.revokedAt == nil },
                                lastSignInAt: events.filter { $0.kind == .signIn }.map(\.at).max(),
                                lastProtocolLoginAt: events.filter { $0.kind == .protocolLogin }.map(\.at).max())
    }

    func accountPasswordClients(now: Date, days: Int) -> [AdminOverview.AccountPasswordClient] {
        let since = now.addingTimeInterval(-Double(days) * 86_400)
        let logins = auditEvents.values.filter { event in
            event.kind == .protocolLogin && event.result == .allow && event.credential == "account_password" && event.at >= since
                && event.loginProtocol != nil && event.accountID.flatMap { accounts[$0] } != nil
        }
        struct Key: Hashable { let accountID: String; let loginProtocol: LoginProtocol; let clientIP: String? }
        return Dictionary(grouping: logins) { Key(accountID: $0.accountID!, loginProtocol: $0.loginProtocol!, clientIP: $0.clientIP) }
            .map { key, events in
                AdminOverview.AccountPasswordClient(username: accounts[key.accountID]!.username, loginProtocol: key.loginProtocol,
                                                    clientIP: key.clientIP, lastAt: events.map(\.at).max()!, logins: events.count)
            }
            .sorted { ($0.lastAt, $0.username) > ($1.lastAt, $1.username) }
            .prefix(AdminOverviewQueries.rows).map { $0 }
    }

    func staleAppPasswords(now: Date) -> [AdminOverview.StaleAppPassword] {
        let cutoff = now.addingTimeInterval(-AdminOverview.staleAfter)
        return appPasswords.values
            .filter { $0.revokedAt == nil && !$0.isExpired(at: now) && ($0.lastUse?.at ?? $0.createdAt) < cutoff }
            .compactMap { record in
                accounts[record.accountID].map {
                    AdminOverview.StaleAppPassword(username: $0.username, id: record.id, name: record.name, createdAt: record.createdAt,
                                                   lastUsedAt: record.lastUse?.at)
                }
            }
            .sorted { ($0.lastUsedAt ?? $0.createdAt, $0.id) < ($1.lastUsedAt ?? $1.createdAt, $1.id) }
            .prefix(AdminOverviewQueries.rows).map { $0 }
    }

    func refusals(now: Date) -> [AdminOverview.ReasonCount] {
        let since = now.addingTimeInterval(-86_400)
        let refused = auditEvents.values.filter { AdminOverviewQueries.loginKinds.contains($0.kind) && $0.result == .deny && $0.at >= since }
        return Dictionary(grouping: refused) { $0.reason ?? "unknown" }
            .map { AdminOverview.ReasonCount(reason: $0.key, count: $0.value.count) }
            .sorted { ($1.count, $0.reason) < ($0.count, $1.reason) }
    }

    func hours(now: Date) -> [AdminOverview.Hour] {
        let window = AdminOverviewQueries.hourWindow(now: now)
        var counts = [Int64: (Int, Int)]()
        for event in auditEvents.values where AdminOverviewQueries.loginKinds.contains(event.kind) && event.at >= window.from {
            let hour = Int64((event.at.timeIntervalSince1970 / 3600).rounded(.down))
            if event.result == .allow { counts[hour, default: (0, 0)].0 += 1 }
            if event.result == .deny { counts[hour, default: (0, 0)].1 += 1 }
        }
        return AdminOverviewQueries.hours(window, counts)
    }

    func adoption(now: Date) -> [AdminOverview.Day] {
        var created = [Int64: Int]()
        var firstFactor = [String: Date]()
        for account in accounts.values { created[AdminOverviewQueries.day(account.createdAt), default: 0] += 1 }
        for factor in totpFactors.values {
            guard let confirmed = factor.confirmedAt else { continue }
            firstFactor[factor.accountID] = min(firstFactor[factor.accountID] ?? confirmed, confirmed)
        }
        for key in securityKeys.values { firstFactor[key.accountID] = min(firstFactor[key.accountID] ?? key.createdAt, key.createdAt) }
        var protected = [Int64: Int]()
        for at in firstFactor.values { protected[AdminOverviewQueries.day(at), default: 0] += 1 }
        return AdminOverviewQueries.adoption(now: now, created: created, protected: protected)
    }
}
