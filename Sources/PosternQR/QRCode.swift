/// A QR Code symbol: a square of dark and light modules.
public struct QRCode: Sendable, Equatable {
    public enum Failure: Error, Equatable {
        /// More bytes than version 40-M holds (2,331).
        case tooLong(Int)
    }

    /// 1 to 40.
    public let version: Int
    /// Modules per side: 17 + 4 × version.
    public let size: Int
    /// The mask pattern chosen (0–7), the one with the lowest penalty.
    public let mask: Int
    private let modules: [Bool]

    /// True for a dark module. `x` is the column, `y` the row, from the top left.
    public subscript(x: Int, y: Int) -> Bool {
        guard x >= 0, y >= 0, x < size, y < size else { return false }
        return modules[y * size + x]
    }

    /// Encodes `text` as UTF-8 bytes.
    public static func encode(_ text: String) throws -> QRCode {
        try encode(bytes: Array(text.utf8))
    }

    /// Encodes `bytes` in byte mode at level M, in the smallest version that holds them.
    public static func encode(bytes: [UInt8]) throws -> QRCode {
        guard let version = (1...40).first(where: { capacityBytes(version: $0) >= bytes.count }) else {
            throw Failure.tooLong(bytes.count)
        }
        let codewords = Self.codewords(for: bytes, version: version)
        var grid = Grid(version: version)
        grid.drawFunctionPatterns()
        grid.place(codewords)
        var best: (penalty: Int, grid: Grid, mask: Int)?
        for mask in 0..<8 {
            var candidate = grid
            candidate.applyMask(mask)
            candidate.drawFormatBits(mask: mask)
            let penalty = candidate.penalty()
            if best == nil || penalty < best!.penalty { best = (penalty, candidate, mask) }
        }
        return QRCode(version: version, size: grid.size, mask: best!.mask, modules: best!.grid.dark)
    }

    /// How many bytes a version holds in byte mode at level M.
    public static func capacityBytes(version: Int) -> Int {
        let headerBits = 4 + (version <= 9 ? 8 : 16)
        return (dataCodewords(version: version) * 8 - headerBits) / 8
    }

    // MARK: - Rendering

    /// An SVG image, `quietZone` light modules around the symbol (the
    /// standard asks for 4), each module `moduleSize` user units.
    public func svg(moduleSize: Int = 4, quietZone: Int = 4, label: String = "QR code") -> String {
        let side = (size + 2 * quietZone) * moduleSize
        var path = ""
        for y in 0..<size {
            var x = 0
            while x < size {
                guard self[x, y] else { x += 1; continue }
                var run = 1
                while x + run < size, self[x + run, y] { run += 1 }
                path += "M\((x + quietZone) * moduleSize) \((y + quietZone) * moduleSize)h\(run * moduleSize)v\(moduleSize)h-\(run * moduleSize)z"
                x += run
            }
        }
        // By Unicode scalar, not Character: a quote followed by a combining
        // mark is one Character but still ends the attribute for a parser.
        var escaped = String.UnicodeScalarView()
        for scalar in label.unicodeScalars {
            switch scalar {
            case "&": escaped.append(contentsOf: "&amp;".unicodeScalars)
            case "<": escaped.append(contentsOf: "&lt;".unicodeScalars)
            case ">": escaped.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": escaped.append(contentsOf: "&quot;".unicodeScalars)
            case "'": escaped.append(contentsOf: "&#39;".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(side) \(side)" width="\(side)" height="\(side)" \
            shape-rendering="crispEdges" role="img" aria-label="\(String(escaped))"><rect width="\(side)" height="\(side)" fill="#fff"/>\
            <path fill="#000" d="\(path)"/></svg>
            """
    }

    /// A binary PBM image (netpbm P4), for tools that read bitmaps.
    public func pbm(moduleSize: Int = 4, quietZone: Int = 4) -> [UInt8] {
        let side = (size + 2 * quietZone) * moduleSize
        var out = Array("P4\n\(side) \(side)\n".utf8)
        let rowBytes = (side + 7) / 8
        for py in 0..<side {
            var row = [UInt8](repeating: 0, count: rowBytes)
            for px in 0..<side where self[px / moduleSize - quietZone, py / moduleSize - quietZone]
                && px / moduleSize >= quietZone && py / moduleSize >= quietZone {
                row[px / 8] |= 0x80 >> UInt8(px % 8)
            }
            out += row
        }
        return out
    }

    // MARK: - Tables (level M)

    /// Error-correction codewords per block, by version.
    static let eccPerBlock = [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28,
                              28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28]
    /// Error-correction blocks, by version.
    static let blockCount = [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28,
                             29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49]

    /// Modules available for data and error correction once the function
    /// patterns are drawn.
    static func rawDataModules(version: Int) -> Int {
        var result = (16 * version + 128) * version + 64
        if version >= 2 {
            let alignments = version / 7 + 2
            result -= (25 * alignments - 10) * alignments - 55
            if version >= 7 { result -= 36 }
        }
        return result
    }

    static func dataCodewords(version: Int) -> Int {
        rawDataModules(version: version) / 8 - eccPerBlock[version] * blockCount[version]
    }

    // MARK: - Codewords

    /// Data bits, padding, error correction, and interleaving.
    static func codewords(for bytes: [UInt8], version: Int) -> [UInt8] {
        var bits = BitBuffer()
        bits.append(0b0100, count: 4)
        bits.append(bytes.count, count: version <= 9 ? 8 : 16)
        for byte in bytes { bits.append(Int(byte), count: 8) }
        let capacity = dataCodewords(version: version) * 8
        bits.append(0, count: min(4, capacity - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var data = bits.bytes
        var pad: UInt8 = 0xEC
        while data.count < capacity / 8 {
            data.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }

        let blocks = blockCount[version]
        let eccLength = eccPerBlock[version]
        let rawCodewords = rawDataModules(version: version) / 8
        let shortBlocks = blocks - rawCodewords % blocks
        let shortLength = rawCodewords / blocks
        let divisor = ReedSolomon.divisor(degree: eccLength)
        var dataBlocks: [[UInt8]] = []
        var eccBlocks: [[UInt8]] = []
        var offset = 0
        for index in 0..<blocks {
            let length = shortLength - eccLength + (index < shortBlocks ? 0 : 1)
            let block = Array(data[offset..<offset + length])
            offset += length
            dataBlocks.append(block)
            eccBlocks.append(ReedSolomon.remainder(block, divisor: divisor))
        }
        var result: [UInt8] = []
        for column in 0..<(shortLength - eccLength + 1) {
            for block in dataBlocks where column < block.count { result.append(block[column]) }
        }
        for column in 0..<eccLength {
            for block in eccBlocks { result.append(block[column]) }
        }
        return result
    }
}

struct BitBuffer {
    private(set) var bits: [Bool] = []
    var count: Int { bits.count }

    mutating func append(_ value: Int, count: Int) {
        for shift in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) }
    }

    var bytes: [UInt8] {
        stride(from: 0, to: bits.count, by: 8).map { start in
            var byte: UInt8 = 0
            for offset in 0..<8 where start + offset < bits.count && bits[start + offset] { byte |= 0x80 >> UInt8(offset) }
            return byte
        }
    }
}

/// Reed–Solomon over GF(2⁸) with the QR polynomial x⁸+x⁴+x³+x²+1.
enum ReedSolomon {
    static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
        var z: Int = 0
        for shift in stride(from: 7, through: 0, by: -1) {
            z = (z << 1) ^ ((z >> 7) * 0x11D)
            z ^= ((Int(y) >> shift) & 1) * Int(x)
        }
        return UInt8(z & 0xFF)
    }

    /// The generator polynomial of `degree`, highest coefficient (always 1) dropped.
    static func divisor(degree: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: degree)
        result[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for j in 0..<degree {
                result[j] = multiply(result[j], root)
                if j + 1 < degree { result[j] ^= result[j + 1] }
            }
            root = multiply(root, 0x02)
        }
        return result
    }

    static func remainder(_ data: [UInt8], divisor: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: divisor.count)
        for byte in data {
            let factor = byte ^ result.removeFirst()
            result.append(0)
            for (index, coefficient) in divisor.enumerated() { result[index] ^= multiply(coefficient, factor) }
        }
        return result
    }
}
