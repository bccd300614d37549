import Foundation
import Testing
@testable import PosternProtocols

/// `VerifyMessage` against the Foundation decoding it replaced: for a corpus
/// of bodies and their one-byte mutations, both accept with the same values
/// or refuse with the same message, except where `VerifyMessage` documents
/// that it is stricter (the fuzz target `verify` checks the same rule).
@Suite("/v1/verify body: the same answers as JSONDecoder")
struct VerifyMessageDifferentialTests {
    struct Reference: Decodable {
        let username: String
        let password: String
        let `protocol`: String
        let clientIp: String?
    }

    /// What the endpoint said before, through JSONDecoder: the values, or the 400's message.
    static func reference(_ bytes: [UInt8]) -> Result<VerifyMessage.Request, VerifyMessage.DecodeError>? {
        typealias Field = VerifyMessage.DecodeError.Field
        if bytes.isEmpty { return .failure(.init(.empty)) }
        func field(_ path: [any CodingKey]) -> Field? {
            path.count == 1 ? Field(rawValue: path[0].stringValue == "clientIp" ? "client_ip" : path[0].stringValue) : nil
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            let body = try decoder.decode(Reference.self, from: Data(bytes))
            return .success(.init(username: body.username, password: body.password, protocolName: body.protocol, clientIP: body.clientIp))
        } catch DecodingError.keyNotFound(let key, let context) where context.codingPath.isEmpty {
            return Field(rawValue: key.stringValue).map { .failure(.init(.missingField($0))) }
        } catch DecodingError.typeMismatch(_, let context) {
            if context.codingPath.isEmpty { return .failure(.init(.notAnObject(null: false))) }
            return field(context.codingPath).map { .failure(.init(.notAString($0, null: false))) }
        } catch DecodingError.valueNotFound(_, let context) {
            if context.codingPath.isEmpty { return .failure(.init(.notAnObject(null: true))) }
            return field(context.codingPath).map { .failure(.init(.notAString($0, null: true))) }
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            return .failure(.init(.notJSON(.unexpectedByte, offset: 0)))
        } catch {
            return nil
        }
    }

    /// The same outcome as the endpoint sees it: equal values (scalar for
    /// scalar), or refusals with the same message.
    static func same(_ a: Result<VerifyMessage.Request, VerifyMessage.DecodeError>,
                     _ b: Result<VerifyMessage.Request, VerifyMessage.DecodeError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)):
            let scalars = { (request: VerifyMessage.Request) in
                [request.username, request.password, request.protocolName, request.clientIP ?? "\u{0}nil"].map { Array($0.unicodeScalars) }
            }
            return scalars(x) == scalars(y) && (x.clientIP == nil) == (y.clientIP == nil)
        case (.failure(let x), .failure(let y)):
            return x.message == y.message
        default:
            return false
        }
    }

    /// Whether the codec's refusal is one it documents, checked without it.
    static func documented(_ error: VerifyMessage.DecodeError, _ bytes: [UInt8]) -> Bool {
        guard case .notJSON(let reason, let offset) = error.problem, reason.isFoundationLenient else { return false }
        switch reason {
        case .trailingComma:
            let before = bytes[..<offset].lastIndex { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            return [UInt8(ascii: "]"), UInt8(ascii: "}")].contains(bytes[offset]) && before.map { bytes[$0] } == UInt8(ascii: ",")
        case .notUTF8:
            return bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.prefix(2).contains(0)
        default:
            return (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) == nil
        }
    }

    static let seeds: [String] = [
        #"{"username":"alice@example.org","password":"abcd efgh ijkl","protocol":"imap","client_ip":"203.0.113.7"}"#,
        #"{"username":"a\u00e9\ud83d\ude00","password":"p\"\\\/\n","protocol":"smtp","client_ip":null}"#,
        #" { "x" : [ 1 , -2.5e+3 , true , false , null , { } , [ ] ] , "username" : "u" , "password" : "" , "protocol" : "pop3" } "#,
        #"{"CLIENT_IP":"::1","username":"a","username":"b","password":"p","protocol":"xmpp","client_ip":"x"}"#,
        #"{"username":1,"password":null,"protocol":{}}"#,
        #"{"client__ıp":"1","username":"Zoë","password":"🦊","protocol":"other","y":{"z":"\u0000"}}"#,
        #"[{"username":"a"},"x",0,null]"#,
        "{\"username\":\"a\",\"password\":\"p\",\"protocol\":\"imap\",\"n\":0}",
    ]

    static let replacements: [UInt8] = Array(#""\,:{}[] 0-e.ntu"#.utf8) + [0x00, 0x09, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xED, 0xF4, 0xFF]

    static func mutations(of seed: [UInt8]) -> [[UInt8]] {
        var out = [seed]
        for index in seed.indices {
            for byte in replacements where byte != seed[index] {
                var changed = seed
                changed[index] = byte
                out.append(changed)
            }
            var removed = seed
            removed.remove(at: index)
            out.append(removed)
            out.append(Array(seed[..<index]))
        }
        return out
    }

    @Test("seeds and their one-byte mutations", arguments: seeds)
    func corpus(seed: String) {
        for bytes in Self.mutations(of: Array(seed.utf8)) {
            let ours = verifyDecode(bytes)
            guard let theirs = Self.reference(bytes) else {
                Issue.record("Foundation failed in an unexpected way on \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                continue
            }
            if Self.same(ours, theirs) { continue }
            if case .failure(let error) = ours, Self.documented(error, bytes) {
                continue
            }
            Issue.record("codec \(ours), Foundation \(theirs): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
    }

    @Test("Foundation's leniencies that VerifyMessage refuses, one by one")
    func documentedDifferences() {
        let lenient: [(String, VerifyMessage.DecodeError.Syntax)] = [
            (verifyBody(with: #""x":[1,]"#), .trailingComma), (#"{"username":"a","# + verifyRest + ",}", .trailingComma),
            (verifyBody(with: #""x":01"#), .invalidNumber), (verifyBody(with: #""x":1."#), .invalidNumber),
            (verifyBody(with: #""x":-"#), .invalidNumber), (verifyBody(with: #""x":"\q""#), .invalidEscape),
            (verifyBody(with: #""x":"\ud800""#), .loneSurrogate), (verifyBody(with: "\"x\":\"\u{1}\""), .controlCharacter),
        ]
        for (body, reason) in lenient {
            #expect((try? Self.reference(Array(body.utf8))?.get()) != nil, "Foundation takes \(body)")
            #expect(syntaxReason(verifyDecode(body)) == reason, "\(body)")
            #expect(reason.isFoundationLenient)
        }
    }
}
