import Foundation
import Testing
@testable import PosternProtocols

@Suite("XMPP kick over HTTP (ejabberd, Prosody)")
struct XMPPKickTests {
    @Test("the user and host go in the body; answers count the sessions ended")
    func roundTrip() {
        #expect(XMPPKick.jid("alice@example.org")! == ("alice", "example.org"))
        #expect(XMPPKick.jid("alice") == nil && XMPPKick.jid("@example.org") == nil)
        #expect(String(decoding: XMPPKick.requestBody(user: "alice", host: "example.org"), as: UTF8.self)
                == #"{"host":"example.org","user":"alice"}"#)
        #expect(XMPPKick.parse(.ejabberd, status: 200, body: Data("2".utf8)) == .ended(2))
        #expect(XMPPKick.parse(.prosody, status: 200, body: Data(#"{"ended":1}"#.utf8)) == .ended(1))
        #expect(XMPPKick.parse(.ejabberd, status: 403, body: Data()) == .failed("ejabberd refused the credentials (HTTP 403)"))
        #expect(XMPPKick.parse(.prosody, status: 200, body: Data("2".utf8)) == .failed("prosody's answer is not the expected JSON: 2"))
        #expect(XMPPKick.parse(.ejabberd, status: 200, body: Data(#"{"num_resources":3}"#.utf8)) == .ended(3))
        #expect(XMPPKick.parse(.ejabberd, status: 500, body: Data()) == .failed("ejabberd answered HTTP 500"))
    }
}
