import Foundation

/// The address a request came from, set by the HTTP layer for the duration
/// of a request, so notices and audit events can say where a change came
/// from without every call passing it along.
public enum RequestOrigin {
    @TaskLocal public static var clientIP: String?
}
