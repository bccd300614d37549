import Foundation

/// Account-password rules from NIST SP 800-63B §5.1.1.2: a length range counted
/// in Unicode code points, no composition rules, and a block list of common
/// passwords.
public struct PasswordPolicy: Sendable {
    public var minimumLength = 8
    public var maximumLength = 256
    private let commonPasswords: Set<String>

    public init(commonPasswords: Set<String>) {
        self.commonPasswords = commonPasswords
    }

    /// The policy with the bundled list of common passwords (30,000 entries).
    public static func bundled() -> PasswordPolicy {
        PasswordPolicy(commonPasswords: bundledCommonPasswords)
    }

    private static let bundledCommonPasswords: Set<String> = {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt"),
              let text = try? String(contentsOf: url, encoding: .utf8)
        else { return [] }
        return Set(text.split(separator: "\n").map { String($0) })
    }()

    public var commonPasswordCount: Int { commonPasswords.count }

    /// Throws `PosternError.weakPassword` with a reason a person can act on.
    public func check(_ password: String, username: String? = nil) throws(PosternError) {
        let length = password.unicodeScalars.count
        if length < minimumLength {
            throw .weakPassword("Use at least \(minimumLength) characters.")
        }
        if length > maximumLength {
            throw .weakPassword("Use at most \(maximumLength) characters.")
        }
        let folded = password.lowercased()
        if commonPasswords.contains(folded) {
            throw .weakPassword("This password is on a list of commonly used passwords. Choose another.")
        }
        if let username, folded == username.lowercased() || folded == username.split(separator: "@").first.map({ String($0).lowercased() }) {
            throw .weakPassword("The password must not be your username.")
        }
    }
}
