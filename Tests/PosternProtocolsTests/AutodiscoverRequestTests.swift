import Foundation
import Testing
@testable import PosternProtocols

@Suite("Autodiscover request scanner")
struct AutodiscoverRequestTests {
    static let requestSchema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
    static let responseSchema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

    static func body(_ address: String = "alice@example.org", schema: String = responseSchema, prolog: String = #"<?xml version="1.0" encoding="utf-8"?>"#) -> String {
        """
        \(prolog)
        <Autodiscover xmlns="\(requestSchema)">
          <Request>
            <EMailAddress>\(address)</EMailAddress>
            <AcceptableResponseSchema>\(schema)</AcceptableResponseSchema>
          </Request>
        </Autodiscover>
        """
    }

    func parse(_ text: String) throws(AutodiscoverRequest.Problem) -> AutodiscoverRequest {
        try AutodiscoverRequest.parse(Array(text.utf8))
    }

    func refused(_ text: String) -> AutodiscoverRequest.Problem? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test("Outlook's request: the address and the schema")
    func outlook() throws {
        let request = try parse(Self.body())
        #expect(request.emailAddress == "alice@example.org")
        #expect(request.acceptableResponseSchema == Self.responseSchema)
    }

    @Test("accepted variations: a prefix, a BOM, comments, CDATA, references, other elements, no declaration")
    func variations() throws {
        let prefixed = """
            <a:Autodiscover xmlns:a="\(Self.requestSchema)" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Request>\
            <!-- from a phone --><a:LegacyDN>/o=x</a:LegacyDN><a:EMailAddress><![CDATA[bob@example.org]]></a:EMailAddress>\
            <a:AcceptableResponseSchema>\(Self.responseSchema)</a:AcceptableResponseSchema></a:Request></a:Autodiscover>
            """
        #expect(try parse(prefixed).emailAddress == "bob@example.org")
        #expect(try parse("\u{FEFF}" + Self.body()).emailAddress == "alice@example.org")
        #expect(try parse(Self.body(prolog: "")).emailAddress == "alice@example.org")
        #expect(try parse(Self.body("o&apos;brien&amp;co&#x40;example.org")).emailAddress == "o'brien&co@example.org")
        #expect(try parse(Self.body("  \n carol@example.org\t ")).emailAddress == "carol@example.org")
    }

    @Test("a DOCTYPE, an entity declaration or any other declaration is refused")
    func declarations() {
        let doctype = """
            <?xml version="1.0"?>
            <!DOCTYPE Autodiscover [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
            """ + Self.body(prolog: "")
        #expect(refused(doctype) == .declaration)
        #expect(refused("<!ENTITY a \"b\">" + Self.body(prolog: "")) == .declaration)
        #expect(refused(Self.body("<!ELEMENT x ANY>")) == .declaration)
        #expect(refused(Self.body("<!doctype x>")) == .declaration)
    }

    @Test("billion laughs and undeclared entity references are refused")
    func entities() {
        var laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        for level in 1...9 {
            laughs += " <!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1 == 0 ? "" : String(level - 1));", count: 10) + "\">\n"
        }
        laughs += "]>\n" + Self.body("&lol9;", prolog: "")
        #expect(refused(laughs) == .declaration)
        #expect(refused(Self.body("&lol9;")) == .entity)
        #expect(refused(Self.body("&xxe;@example.org")) == .entity)
        #expect(refused(Self.body("a&amp b@example.org")) == .entity, "no semicolon")
        #expect(refused(Self.body("&#0;@example.org")) == .entity, "NUL is not an XML character")
        #expect(refused(Self.body("&#xD800;@example.org")) == .entity)
        #expect(refused(Self.body("&#x110000;@example.org")) == .entity)
        #expect(refused(Self.body("&#;@example.org")) == .entity)
        #expect(refused(Self.body("a@b").replacingOccurrences(of: "<Request>", with: "<Request id=\"&ent;\">")) == .entity)
    }

    @Test("malformed XML is refused")
    func malformed() {
        let good = Self.body()
        let cases = [
            "", " ", "<", "<Autodiscover", String(good.dropLast(5)), good + "<extra/>", good + "text",
            good.replacingOccurrences(of: "</Request>", with: "</request>"),
            good.replacingOccurrences(of: "</EMailAddress>", with: ""),
            good.replacingOccurrences(of: "<Request>", with: "<Request a=b>"),
            good.replacingOccurrences(of: "<Request>", with: "<Request a=\"1\" a=\"2\">"),
            good.replacingOccurrences(of: "<Request>", with: "<Request a=\"<\">"),
            good.replacingOccurrences(of: "<Request>", with: "<Request a=\"1\"b=\"2\">"),
            good.replacingOccurrences(of: "<Request>", with: "<1Request>"),
            good.replacingOccurrences(of: "<Request>", with: "<Request><!-- unclosed"),
            good + "<!-- unclosed", good + "<?pi", good.replacingOccurrences(of: "alice", with: "al\u{1}ice"),
            good.replacingOccurrences(of: "<Request>", with: "<x:Request>").replacingOccurrences(of: "</Request>", with: "</x:Request>"),
            Self.body("<b>alice@example.org</b>"),
        ]
        for text in cases {
            #expect(refused(text) == .malformed, "\(text.suffix(60).debugDescription)")
        }
    }

    @Test("the wrong root, a missing or repeated element, or another schema is refused")
    func shape() {
        #expect(refused("<Autodiscover><Request/></Autodiscover>") == .notAutodiscover)
        #expect(refused(Self.body().replacingOccurrences(of: "requestschema/2006", with: "requestschema/2007")) == .notAutodiscover)
        #expect(refused(Self.body("")) == .missing("EMailAddress"))
        let noSchema = Self.body().replacingOccurrences(of: "<AcceptableResponseSchema>\(Self.responseSchema)</AcceptableResponseSchema>", with: "")
        #expect(refused(noSchema) == .missing("AcceptableResponseSchema"))
        let twice = Self.body().replacingOccurrences(of: "</Request>", with: "<EMailAddress>b@example.org</EMailAddress></Request>")
        #expect(refused(twice) == .repeated("EMailAddress"))
        let mobile = Self.body(schema: "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006")
        #expect(refused(mobile) == .unacceptableSchema)
        let elsewhere = Self.body().replacingOccurrences(of: "<EMailAddress>", with: "<EMailAddress xmlns=\"urn:other\">")
        #expect(refused(elsewhere) == .missing("EMailAddress"), "an element of another namespace is not the address")
    }

    @Test("huge, deep or non-UTF-8 input is refused without work proportional to anything but its size")
    func limits() {
        let padding = "<!--" + String(repeating: "x", count: AutodiscoverRequest.maximumBytes) + "-->"
        #expect(refused(padding + Self.body(prolog: "")) == .tooLarge)
        let deep = Self.body(String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40))
        #expect(refused(deep) == .malformed, "no element inside the address")
        let deepElsewhere = Self.body().replacingOccurrences(of: "<Request>", with: "<Request>" + String(repeating: "<a>", count: 40)
                                                                 + String(repeating: "</a>", count: 40))
        #expect(refused(deepElsewhere) == .tooDeep)
        #expect((try? AutodiscoverRequest.parse(Array(Self.body().utf8) + [0xFF])) == nil)
        #expect(throws: AutodiscoverRequest.Problem.notUTF8) { try AutodiscoverRequest.parse([0x3C, 0xC3, 0x28]) }
        let unclosed = Array(("<Autodiscover xmlns=\"\(Self.requestSchema)\">" + String(repeating: "<Request>", count: 5000)).utf8.prefix(16_000))
        #expect(throws: AutodiscoverRequest.Problem.tooDeep) { try AutodiscoverRequest.parse(unclosed) }
    }

    @Test("every prefix of a good request is refused, and never crashes")
    func prefixes() {
        let bytes = Array(Self.body().utf8)
        for cut in 0..<bytes.count {
            #expect((try? AutodiscoverRequest.parse(Array(bytes[..<cut]))) == nil, "cut at \(cut)")
        }
    }
}
