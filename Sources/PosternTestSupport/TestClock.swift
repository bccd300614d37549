import Foundation
import PosternCore
import Synchronization

/// A clock the test moves by hand, for every rule that depends on time.
public final class TestClock: Sendable {
    private let time: Mutex<Date>

    /// Starts at `start`: a fixed instant by default, or the real time for
    /// tests whose data must look current to outside tools.
    public init(at start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        time = Mutex(start)
    }

    /// The `Clock` to inject into the code under test.
    public var clock: PosternCore.Clock { PosternCore.Clock { self.time.withLock { $0 } } }
    public var now: Date { time.withLock { $0 } }
    public func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
