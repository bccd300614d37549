import Foundation
import PosternCore
import SQLKit

// Reveals: `RevealStore` on SQL.
extension SQLStore: RevealStore {
    public func saveReveal(id: String, sessionDigest: Data, sealed: Data, expiresAt: Date) async throws {
        try await executor.write { db in
            try await db.raw("""
                INSERT INTO reveals (id, session_digest, sealed, expires_at) VALUES (\(bind: id), \(bind: sessionDigest), \(bind: sealed), \(bind: expiresAt.millis))
                """).run()
        }
    }

    public func takeReveal(id: String, sessionDigest: Data, now: Date) async throws -> Data? {
        try await executor.write { db in
            try await db.raw("DELETE FROM reveals WHERE expires_at <= \(bind: now.millis)").run()
            return try await db.raw("""
                DELETE FROM reveals WHERE id = \(bind: id) AND session_digest = \(bind: sessionDigest) RETURNING sealed
                """).first()?.decode(column: "sealed", as: Data.self)
        }
    }
}
