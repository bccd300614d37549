import Foundation
import PosternTestSupport
import Testing
@testable import PosternQR

@Suite("QR encoder")
struct QRCodeTests {
    @Test("Reed-Solomon: the generator of degree 10 and the ISO/IEC 18004 Annex I example")
    func reedSolomon() {
        // Annex I.3: "01234567" at 1-M; data codewords and their 10 EC codewords.
        let data: [UInt8] = [0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11]
        let ecc = ReedSolomon.remainder(data, divisor: ReedSolomon.divisor(degree: 10))
        #expect(ecc == [0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55])
        #expect(ReedSolomon.multiply(0x02, 0x80) == 0x1D)
    }

    @Test("capacities at level M match the standard's table")
    func capacities() {
        // ISO/IEC 18004 Table 7, byte mode, level M.
        let expected = [1: 14, 2: 26, 3: 42, 5: 84, 10: 213, 20: 666, 40: 2331]
        for (version, bytes) in expected { #expect(QRCode.capacityBytes(version: version) == bytes, "version \(version)") }
        #expect(throws: QRCode.Failure.tooLong(2332)) { try QRCode.encode(bytes: Array(repeating: 65, count: 2332)) }
    }

    @Test("the smallest version that fits is chosen, and the finder patterns are in place")
    func structure() throws {
        let small = try QRCode.encode("hello")
        #expect(small.version == 1 && small.size == 21)
        let uri = try QRCode.encode("otpauth://totp/Postern:alice@example.org?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Postern&algorithm=SHA1&digits=6&period=30")
        #expect(uri.version >= 6)
        for (cx, cy) in [(3, 3), (uri.size - 4, 3), (3, uri.size - 4)] {
            #expect(uri[cx, cy] && uri[cx - 3, cy - 3] && !uri[cx - 2, cy - 2] && uri[cx - 1, cy - 1])
        }
        #expect(uri[8, uri.size - 8], "the dark module")
        let svg = uri.svg(label: "Scan \"this\" & <that>")
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("aria-label=\"Scan &quot;this&quot; &amp; &lt;that&gt;\""))
        // A quote with a combining mark is one Character but still a quote to an HTML parser.
        let marked = uri.svg(label: "x\"\u{301} onload=alert(1) '\u{301}")
        let expected = "aria-label=\"x&quot;\u{301} onload=alert(1) &#39;\u{301}\""
        #expect(Data(marked.utf8).range(of: Data(expected.utf8)) != nil, "compared as bytes, not Characters")
    }

    /// Decodes `code` with zbarimg, an independent decoder, from both the
    /// bitmap and the SVG rendered by librsvg.
    func decode(_ code: QRCode, viaSVG: Bool) throws -> String? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let image: URL
        if viaSVG {
            let svg = directory.appendingPathComponent("code.svg")
            try code.svg(moduleSize: 4).write(to: svg, atomically: true, encoding: .utf8)
            image = directory.appendingPathComponent("code.png")
            try run("rsvg-convert", ["-o", image.path, svg.path])
        } else {
            image = directory.appendingPathComponent("code.pbm")
            try Data(code.pbm(moduleSize: 3)).write(to: image)
        }
        let output = try run("zbarimg", ["--quiet", "--raw", "-Sbinary", image.path])
        return output.isEmpty ? nil : String(decoding: output, as: UTF8.self)
    }

    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readAllRetryingInterrupts()
        process.waitUntilExit()
        return data
    }

    static var toolsPresent: Bool {
        ["/usr/bin/zbarimg", "/usr/bin/rsvg-convert"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("an independent decoder reads back URIs of many lengths, every version from 1 to 40")
    func roundTrip() throws {
        // scripts/test installs the decoder; outside it, say so rather than pass silently.
        try #require(Self.toolsPresent, "zbarimg and rsvg-convert are needed: apt-get install zbar-tools librsvg2-bin")
        var texts: [String] = []
        for version in 1...40 {
            let length = QRCode.capacityBytes(version: version)
            let seed = "otpauth://totp/Postern:user\(version)@example.org?secret=JBSWY3DPEHPK3PXP&issuer=Postern%20Mail&x="
            var text = seed
            while text.utf8.count < length { text += "abcdefghijklmnopqrstuvwxyz0123456789-_~"[text.utf8.count % 39].description }
            texts.append(String(text.utf8.prefix(length))!)
        }
        texts += ["a", "é", "https://example.org/🔑", "otpauth://totp/Acme:bob@example.org?secret=GEZDGNBVGY3TQOJQ&issuer=Acme"]
        for (index, text) in texts.enumerated() {
            let code = try QRCode.encode(text)
            if index < 40 { #expect(code.version == index + 1, "\(text.utf8.count) bytes fill version \(index + 1)") }
            #expect(try decode(code, viaSVG: false) == text, "bitmap, version \(code.version)")
            if index % 5 == 0 || index >= 40 {
                #expect(try decode(code, viaSVG: true) == text, "SVG, version \(code.version)")
            }
        }
    }
}

extension String {
    subscript(_ offset: Int) -> Character { self[index(startIndex, offsetBy: offset)] }
}
