import Foundation
import PosternCore

// MARK: - Sessions

extension MemoryStore {
    public func createSession(_ session: Session, audit: AuditEvent) async throws {
        try write { state in
            try state.requireAccount(session.accountID)
            guard state.sessions[session.tokenDigest] == nil else { throw StoreError.conflict("token_digest") }
            state.sessions[session.tokenDigest] = session
            try state.insert([audit])
        }
    }

    public func session(tokenDigest: Data, now: Date) async throws -> Session? {
        try read { state in state.sessions[tokenDigest].flatMap { $0.expiresAt > now ? $0 : nil } }
    }

    public func deleteSession(tokenDigest: Data, audit: AuditEvent?) async throws {
        try write { state in
            state.sessions[tokenDigest] = nil
            if let audit { try state.insert([audit]) }
        }
    }

    public func takeSession(tokenDigest: Data, now: Date) async throws -> Session? {
        try write { state in
            guard let session = state.sessions[tokenDigest], session.expiresAt > now else { return nil }
            state.sessions[tokenDigest] = nil
            return session
        }
    }

    public func deleteSessions(accountID: String, keeping: Data?) async throws -> Int {
        try write { state in
            let ending = state.sessions.values.filter { $0.accountID == accountID && $0.tokenDigest != keeping }.map(\.tokenDigest)
            for digest in ending { state.sessions[digest] = nil }
            return ending.count
        }
    }

    public func touchSession(tokenDigest: Data, lastSeenAt: Date, authenticatedAt: Date?) async throws {
        try write { state in
            guard state.sessions[tokenDigest] != nil else { return }
            state.sessions[tokenDigest]?.lastSeenAt = lastSeenAt
            if let authenticatedAt { state.sessions[tokenDigest]?.authenticatedAt = authenticatedAt }
        }
    }

    public func addSessionFailure(tokenDigest: Data) async throws -> Int {
        try write { state in
            guard state.sessions[tokenDigest] != nil else { return 0 }
            state.sessions[tokenDigest]?.failures += 1
            return state.sessions[tokenDigest]?.failures ?? 0
        }
    }
}

// MARK: - Reveals

extension MemoryStore {
    public func saveReveal(id: String, sessionDigest: Data, sealed: Data, expiresAt: Date) async throws {
        try write { state in
            guard state.reveals[id] == nil else { throw StoreError.conflict("id") }
            state.reveals[id] = Reveal(sessionDigest: sessionDigest, sealed: sealed, expiresAt: expiresAt)
        }
    }

    public func takeReveal(id: String, sessionDigest: Data, now: Date) async throws -> Data? {
        try write { state in
            state.reveals = state.reveals.filter { $0.value.expiresAt > now }
            guard let reveal = state.reveals[id], reveal.sessionDigest == sessionDigest else { return nil }
            state.reveals[id] = nil
            return reveal.sealed
        }
    }
}
