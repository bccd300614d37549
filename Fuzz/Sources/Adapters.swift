// libFuzzer target: the mail and chat servers' protocols. Bytes a client of
// the SASL socket, ejabberd or nginx could send, and the Autodiscover bodies
// anyone on the internet can post.
import Foundation
import PosternProtocols

func fuzzAdapters(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    guard let first = bytes.first else { return 0 }

    // Dovecot auth protocol: the input, with a valid VERSION in front half of
    // the time, fed in chunks whose size the first byte picks.
    var server = DovecotAuthServer()
    let input = (first & 1 == 0 ? Array("VERSION\t1\t2\n".utf8) : []) + bytes.dropFirst()
    let chunk = Int(first >> 1) + 1
    var index = 0
    while index < input.count {
        let end = min(index + chunk, input.count)
        for action in server.receive(input[index..<end]) {
            if case .verify(let login) = action {
                precondition(!login.username.isEmpty && !login.service.isEmpty, "verify without a user or service")
                // (A CANCEL later in the same chunk may already have dropped it; then finish sends nothing.)
                for answer in server.finish(login, with: first & 2 == 0 ? .allow(user: login.username) : .deny(reason: "no")) {
                    if case .send(let line) = answer { precondition(line.hasSuffix("\n") && line.dropLast().firstIndex(of: "\n") == nil, "one line per answer") }
                }
            }
        }
        index = end
    }

    // ejabberd extauth: frames in, one answer per frame.
    var decoder = ExtAuthDecoder()
    var frames = 0
    for slice in bytes.split(separator: 0xFF, omittingEmptySubsequences: false) {
        frames += decoder.receive(slice).count
    }
    precondition(decoder.bufferedCount <= bytes.count, "extauth buffer grew beyond its input")

    // nginx auth_http headers: lines of the input are the header values.
    let values = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
    let names = ["Auth-Method", "Auth-User", "Auth-Pass", "Auth-Protocol", "Auth-Login-Attempt", "Client-IP"]
    if let request = try? NginxMailAuth.parse(header: { name in
        names.firstIndex(of: name).flatMap { $0 < values.count ? values[$0] : nil }
    }) {
        precondition(request.attempt >= 1 && ["imap", "pop3", "smtp"].contains(request.mailProtocol))
    }
    if let decoded = NginxMailAuth.percentDecode(bytes) { precondition(decoded.count <= bytes.count) }
    fuzzAutodiscover(bytes)
    return 0
}

/// The input as an Autodiscover body; then as an address, escaped into a
/// request and read back, which must give the address again.
private func fuzzAutodiscover(_ bytes: [UInt8]) {
    if let request = try? AutodiscoverRequest.parse(bytes) {
        precondition(!request.emailAddress.isEmpty && request.acceptableResponseSchema == MailClientSetup.autodiscoverResponseSchema)
    }
    let text = String(decoding: bytes, as: UTF8.self)
    let escaped = MailClientSetup.escape(text)
    precondition(!escaped.contains("<") && !escaped.contains(">") && !escaped.contains("\""), "escaped text holds markup")
    let document = """
        <Autodiscover xmlns="\(MailClientSetup.autodiscoverRequestSchema)"><Request><EMailAddress>\(escaped)</EMailAddress>\
        <AcceptableResponseSchema>\(MailClientSetup.autodiscoverResponseSchema)</AcceptableResponseSchema></Request></Autodiscover>
        """
    var expected = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        let allowed = scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF || "\t\n\r".unicodeScalars.contains(scalar)
        expected.append(allowed ? scalar : "\u{FFFD}")
    }
    let address = String(expected).trimmingCharacters(in: CharacterSet(charactersIn: " \t\r\n"))
    do {
        let back = try AutodiscoverRequest.parse(Array(document.utf8))
        precondition(back.emailAddress == address, "an escaped address reads back changed")
    } catch {
        precondition(document.utf8.count > AutodiscoverRequest.maximumBytes || address.isEmpty, "an escaped address does not read back: \(error)")
    }
}
