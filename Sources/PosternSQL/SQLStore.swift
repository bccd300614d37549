import Foundation
import PosternCore
import SQLKit

/// `PosternStore` on any `SQLExecutor`. Each method is one transaction (writes)
/// or one statement (reads). Times are stored as milliseconds since 1970.
public struct SQLStore: Sendable {
    public let executor: any SQLExecutor

    public init(executor: any SQLExecutor) {
        self.executor = executor
    }
}

extension SQLStore: PosternStore {}
