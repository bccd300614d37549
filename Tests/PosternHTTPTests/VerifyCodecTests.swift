import Foundation
import NIOCore
import PosternProtocols
import Testing
@testable import PosternHTTP

/// `/v1/verify` reads and writes its bodies with `VerifyMessage`; these check
/// it against `JSONBody`, which every other endpoint still uses: the same 400s
/// (status, code and message) and the same answer bytes.
@Suite("/v1/verify codec against JSONBody")
struct VerifyCodecTests {
    struct VerifyBody: Decodable {
        let username: String
        let password: String
        let `protocol`: String
        let clientIp: String?
    }

    struct Allowed: Encodable {
        let result = "allow"
        let username: String
        let credential: String
        let appPasswordId: String?
    }

    struct Refused: Encodable {
        let result: String
        let message: String
    }

    static let bodies: [String] = BadInputTests.hostileBodies(fields: ["username", "password", "protocol", "client_ip"]) + [
        #"{"username":"a","password":"p","protocol":"imap"}"#,
        #"{"username":"a\u00e9\ud83d\ude00","password":"p\"\\\/\n","protocol":"smtp","client_ip":null}"#,
        #"{"username":"a","password":"p","protocol":"imap","CLIENT_IP":"::1","client_ip":"x"}"#,
        #"{"password":"p","protocol":"imap"}"#, #"{"username":"a","protocol":"imap"}"#, #"{"username":"a","password":"p"}"#,
        #"{"username":null,"password":1}"#, #"{"username":"a","password":"p","protocol":"imap","client_ip":[]}"#,
        "[1]", "null", "\"x\"", "true", #"{"username":"a","password":"p","protocol":"imap"} x"#,
    ]

    @Test("every body gets the same values or the same 400 as JSONBody.decode gave")
    func sameErrors() {
        // (Longer bodies never get this far: JSONBody.collect answers 413.)
        for text in Self.bodies where text.utf8.count <= JSONBody.maximumBytes {
            let buffer = ByteBuffer(string: text)
            let ours = Result { () throws(APIError) in try AuthEndpoints.verifyRequest(buffer) }
            let theirs = Result { try JSONBody.decode(VerifyBody.self, body: buffer) }
            switch (ours, theirs) {
            case (.success(let mine), .success(let reference)):
                #expect(mine == VerifyMessage.Request(username: reference.username, password: reference.password,
                                                      protocolName: reference.protocol, clientIP: reference.clientIp))
            case (.failure(let mine), .failure(let reference as APIError)):
                #expect(mine.status == reference.status && mine.code == reference.code && mine.message == reference.message,
                        "\(text.prefix(60).debugDescription): \(mine.message) vs \(reference.message)")
            default:
                // Only what VerifyMessage documents as stricter than Foundation.
                guard case .failure(let mine) = ours, mine.code == "invalid_json" else {
                    Issue.record("\(text.prefix(60).debugDescription): \(ours) vs \(theirs)")
                    continue
                }
                let syntax = Result { () throws(VerifyMessage.DecodeError) in try VerifyMessage.decode(Array(text.utf8)) }
                guard case .failure(let error) = syntax, case .notJSON(let reason, _) = error.problem, reason.isFoundationLenient else {
                    Issue.record("\(text.prefix(60).debugDescription): \(ours) vs \(theirs)")
                    continue
                }
            }
        }
    }

    @Test("the three answers are the bytes JSONBody.response wrote")
    func sameAnswers() throws {
        for value in ["alice@example.org", "Zoë 🦊 \u{0}\u{1F}\"\\/\u{7F}\u{2028}\n", ""] {
            #expect(VerifyMessage.encode(.allow(username: value, credential: "app_password", appPasswordID: "ap_\(value)"))
                == Array(try JSONBody.encoder.encode(Allowed(username: value, credential: "app_password", appPasswordId: "ap_\(value)"))))
            #expect(VerifyMessage.encode(.allow(username: value, credential: "account_password", appPasswordID: nil))
                == Array(try JSONBody.encoder.encode(Allowed(username: value, credential: "account_password", appPasswordId: nil))))
            #expect(VerifyMessage.encode(.deny(message: value)) == Array(try JSONBody.encoder.encode(Refused(result: "deny", message: value))))
            #expect(VerifyMessage.encode(.tempfail(message: value))
                == Array(try JSONBody.encoder.encode(Refused(result: "tempfail", message: value))))
        }
    }

    @Test("a body over the bound is the 413 JSONBody gave")
    func tooLarge() throws {
        let huge = ByteBuffer(bytes: [UInt8](repeating: 0x20, count: VerifyMessage.maximumBytes + 1))
        #expect(throws: APIError.self) { try AuthEndpoints.verifyRequest(huge) }
        let error = Result { () throws(APIError) in try AuthEndpoints.verifyRequest(huge) }
        guard case .failure(let refusal) = error else { return }
        #expect(refusal.status == .contentTooLarge && refusal.code == "body_too_large")
        #expect(refusal.message == "The request body is larger than 64 KiB.")
    }
}
