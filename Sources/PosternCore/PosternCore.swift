// PosternCore: the part of Postern that decides.
//
// Charter: every security decision (who may log in, with which credential, over
// which protocol) is made here. This module performs no network or database I/O
// of its own: it imports no NIO, no SQL and no HTTP. It reaches storage only
// through the store protocols in `Stores.swift`, and time only through `Clock`.

import Foundation

/// The source of "now" for every time-based rule. Tests inject a fixed or
/// stepping clock; the server uses the wall clock.
public struct Clock: Sendable {
    private let read: @Sendable () -> Date

    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    public static let system = Clock { Date() }

    public var now: Date { read() }
}
