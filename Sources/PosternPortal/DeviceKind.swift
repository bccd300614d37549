import PosternCore

/// The kinds of device the "Set up a new device" choices offer, and what each
/// starts from: a name, the protocols it needs, and the line shown beside its
/// new password. Wording and defaults only; what a password may do is still
/// checked by the core when it is made.
enum DeviceKind: String, CaseIterable, Sendable {
    case apple, thunderbird, outlook, other

    /// On the choice and in the page's heading ("Set up Thunderbird").
    var label: String {
        switch self {
        case .apple: "iPhone, iPad or Mac"
        case .thunderbird: "Thunderbird"
        case .outlook: "Outlook"
        case .other: "Another app"
        }
    }

    /// Under the choice's label.
    var hint: String {
        switch self {
        case .apple: "Mail on Apple devices"
        case .thunderbird: "on a desktop or on Android"
        case .outlook: "on Windows, Mac or a phone"
        case .other: "a chat client, a script, anything else"
        }
    }

    /// Where the choice leads. Another app uses the form for any app, further
    /// down the same page.
    var href: String { self == .other ? "#by-hand" : "/security/devices/new/\(rawValue)" }

    /// The name the form starts with; the user may change it.
    var defaultName: String {
        switch self {
        case .apple: "iPhone"
        case .thunderbird: "Thunderbird"
        case .outlook: "Outlook"
        case .other: ""
        }
    }

    /// A mail client reads and sends mail; another app may be anything.
    var protocols: Set<LoginProtocol> {
        self == .other ? Set(LoginProtocol.allCases) : [.imap, .smtp]
    }

    /// Shown above the new password: these clients find the servers from the
    /// address alone, so the password is all they need.
    var instruction: String? {
        switch self {
        case .thunderbird: "In Thunderbird, add your address and paste this as the password; it finds the servers itself."
        case .outlook: "In Outlook, add your address and paste this as the password when it asks; it finds the servers itself."
        case .apple, .other: nil
        }
    }

    /// `defaultName`, or with a number after it when an app password already
    /// has that name ("Thunderbird (2)"), since names are unique per account.
    func suggestedName(avoiding taken: [String]) -> String {
        guard !defaultName.isEmpty else { return "" }
        let used = Set(taken.map { $0.lowercased() })
        if !used.contains(defaultName.lowercased()) { return defaultName }
        var number = 2
        while used.contains("\(defaultName) (\(number))".lowercased()) { number += 1 }
        return "\(defaultName) (\(number))"
    }
}
