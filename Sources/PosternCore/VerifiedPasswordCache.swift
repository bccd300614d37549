import Crypto
import Foundation
import Synchronization

/// Remembers, for a short time, that a password matched an account's stored
/// hash, so that a mail client that reconnects constantly does not pay for a
/// slow hash on every login.
///
/// Entries are keyed by `HMAC(key, accountID ‖ storedHash ‖ password)`; no
/// password is kept. Because the stored hash is part of the key, a password
/// change makes old entries unreachable at once. Only matches are cached:
/// a wrong password always pays for the hash. The account row itself is read
/// on every login, so disabling an account or turning on MFA takes effect
/// immediately whatever the cache holds.
public final class VerifiedPasswordCache: Sendable {
    private struct State {
        var expiries: [Data: Date] = [:]
    }

    private let key: SymmetricKey
    private let ttl: TimeInterval
    private let capacity: Int
    private let state = Mutex(State())

    public init(key: SymmetricKey, ttl: TimeInterval = 60, capacity: Int = 50_000) {
        self.key = key
        self.ttl = ttl
        self.capacity = capacity
    }

    public func contains(accountID: String, storedHash: String, password: String, now: Date) -> Bool {
        guard ttl > 0 else { return false }
        let entry = entryKey(accountID: accountID, storedHash: storedHash, password: password)
        return state.withLock { state in
            guard let expiry = state.expiries[entry] else { return false }
            if expiry <= now {
                state.expiries[entry] = nil
                return false
            }
            return true
        }
    }

    public func insert(accountID: String, storedHash: String, password: String, now: Date) {
        guard ttl > 0 else { return }
        let entry = entryKey(accountID: accountID, storedHash: storedHash, password: password)
        state.withLock { state in
            if state.expiries.count >= capacity {
                state.expiries = state.expiries.filter { $0.value > now }
                // Still full of live entries: start again rather than grow.
                if state.expiries.count >= capacity { state.expiries.removeAll(keepingCapacity: true) }
            }
            state.expiries[entry] = now.addingTimeInterval(ttl)
        }
    }

    public var count: Int { state.withLock { $0.expiries.count } }

    private func entryKey(accountID: String, storedHash: String, password: String) -> Data {
        var hmac = HMAC<SHA256>(key: key)
        for part in [accountID, storedHash, password] {
            let bytes = Array(part.utf8)
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { hmac.update(data: $0) }
            hmac.update(data: bytes)
        }
        return Data(hmac.finalize())
    }
}
