// libFuzzer target: the /v1/verify body codec, against Foundation. Any body
// must get the same answer from VerifyMessage.decode as from the JSONDecoder
// the endpoint used before (the same values, or the same error), except the
// refusals VerifyMessage documents; every answer must encode as JSONEncoder
// encoded it and read back through JSONSerialization.
import Foundation
import PosternProtocols

private struct ReferenceRequest: Decodable {
    let username: String
    let password: String
    let `protocol`: String
    let clientIp: String?
}

private struct ReferenceAllowed: Encodable {
    let result = "allow"
    let username: String
    let credential: String
    let appPasswordId: String?
}

private struct ReferenceRefused: Encodable {
    let result: String
    let message: String
}

/// What a decoder made of a body, in the endpoint's terms.
enum VerifyOutcome: Equatable {
    case accepted(VerifyMessage.Request)
    case refused(String)
}

/// Foundation's answer, described as JSONBody described it (the message of its 400).
func referenceVerifyOutcome(_ bytes: [UInt8]) -> VerifyOutcome {
    if bytes.isEmpty { return .refused(VerifyMessage.DecodeError(.empty).message) }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    func name(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "the body" : "\u{201C}" + (path.last!.stringValue == "clientIp" ? "client_ip" : path.last!.stringValue) + "\u{201D}"
    }
    do {
        let body = try decoder.decode(ReferenceRequest.self, from: Data(bytes))
        return .accepted(VerifyMessage.Request(username: body.username, password: body.password, protocolName: body.protocol,
                                               clientIP: body.clientIp))
    } catch DecodingError.keyNotFound(let key, let context) {
        return .refused("Missing field \(name(context.codingPath + [key])).")
    } catch DecodingError.typeMismatch(let type, let context) {
        return .refused("Field \(name(context.codingPath)) must be \(type == String.self ? "a string" : "of the right type").")
    } catch DecodingError.valueNotFound(let type, let context) {
        return .refused("Field \(name(context.codingPath)) must be \(type == String.self ? "a string" : "of the right type"), not null.")
    } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
        return .refused("The request body is not valid JSON.")
    } catch {
        return .refused("unexpected: \(error)")
    }
}

/// Whether a refusal Foundation would not have made is one `VerifyMessage`
/// documents, checked independently of the codec where possible.
func isDocumentedVerifyDifference(_ error: VerifyMessage.DecodeError, _ bytes: [UInt8]) -> Bool {
    guard case .notJSON(let reason, let offset) = error.problem, reason.isFoundationLenient else { return false }
    switch reason {
    case .trailingComma:
        let before = bytes[..<offset].lastIndex { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return offset < bytes.count && [UInt8(ascii: "]"), UInt8(ascii: "}")].contains(bytes[offset])
            && before.map { bytes[$0] == UInt8(ascii: ",") } == true
    case .notUTF8:
        return offset == 0 && (bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.prefix(2).contains(0))
    default:
        // Bad numbers, escapes, surrogates, control characters and UTF-8:
        // Foundation's stricter parser must refuse the body too.
        return (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil
    }
}

func sameUnicodeScalars(_ a: VerifyMessage.Request, _ b: VerifyMessage.Request) -> Bool {
    Array(a.username.unicodeScalars) == Array(b.username.unicodeScalars)
        && Array(a.password.unicodeScalars) == Array(b.password.unicodeScalars)
        && Array(a.protocolName.unicodeScalars) == Array(b.protocolName.unicodeScalars)
        && a.clientIP.map { Array($0.unicodeScalars) } == b.clientIP.map { Array($0.unicodeScalars) }
}

func checkVerifyDecoding(_ bytes: [UInt8]) {
    let ours: VerifyOutcome
    var error: VerifyMessage.DecodeError?
    do {
        ours = .accepted(try VerifyMessage.decode(bytes))
    } catch let refusal {
        error = refusal
        ours = .refused(refusal.message)
    }
    let theirs = referenceVerifyOutcome(bytes)
    switch (ours, theirs) {
    case (.accepted(let mine), .accepted(let reference)):
        precondition(sameUnicodeScalars(mine, reference), "verify: different values")
    case (.refused(let mine), .refused(let reference)) where mine == reference:
        break
    default:
        guard let error, isDocumentedVerifyDifference(error, bytes) else {
            fatalError("verify: codec \(ours) \(error.map { "\($0.problem)" } ?? ""), Foundation \(theirs)")
        }
    }
}

/// Every answer carrying `text` encodes as JSONEncoder did and parses back.
func checkVerifyEncoding(_ text: String) {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let cases: [(VerifyMessage.Answer, any Encodable, [String: String])] = [
        (.allow(username: text, credential: "app_password", appPasswordID: text),
         ReferenceAllowed(username: text, credential: "app_password", appPasswordId: text),
         ["result": "allow", "username": text, "credential": "app_password", "app_password_id": text]),
        (.allow(username: text, credential: text, appPasswordID: nil),
         ReferenceAllowed(username: text, credential: text, appPasswordId: nil),
         ["result": "allow", "username": text, "credential": text]),
        (.deny(message: text), ReferenceRefused(result: "deny", message: text), ["result": "deny", "message": text]),
        (.tempfail(message: text), ReferenceRefused(result: "tempfail", message: text), ["result": "tempfail", "message": text]),
    ]
    for (answer, reference, fields) in cases {
        let ours = VerifyMessage.encode(answer)
        precondition(ours == Array(try! encoder.encode(reference)), "verify: encoding differs from JSONEncoder")
        let decoded = try! JSONDecoder().decode([String: String].self, from: Data(ours))
        precondition(sameFields(decoded, fields), "verify: encoding does not read back through JSONDecoder")
        // JSONSerialization drops a U+FEFF that starts a string or follows an
        // escape in it (a Foundation quirk: the bytes hold it, JSONDecoder
        // keeps it), so that one compares without U+FEFF.
        let parsed = try! JSONSerialization.jsonObject(with: Data(ours)) as! [String: String]
        let withoutBOM = { (text: String) in String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "\u{FEFF}" })) }
        precondition(sameFields(parsed.mapValues(withoutBOM), fields.mapValues(withoutBOM)),
                     "verify: encoding does not read back through JSONSerialization")
    }
}

func sameFields(_ read: [String: String], _ expected: [String: String]) -> Bool {
    read.count == expected.count && read.allSatisfy { expected[$0.key].map { Array($0.unicodeScalars) } == Array($0.value.unicodeScalars) }
}

func fuzzVerify(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    checkVerifyDecoding(bytes)
    // The same body through the zero-copy entry point.
    let direct = bytes.withUnsafeBytes { raw in Result { () throws(VerifyMessage.DecodeError) in try VerifyMessage.decode(raw) } }
    precondition((try? direct.get()) == (try? VerifyMessage.decode(bytes)), "verify: entry points differ")
    checkVerifyEncoding(String(decoding: bytes, as: UTF8.self))
    return 0
}
