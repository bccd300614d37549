/// The module grid while a symbol is being built.
struct Grid {
    let version: Int
    let size: Int
    var dark: [Bool]
    var isFunction: [Bool]

    init(version: Int) {
        self.version = version
        size = 17 + 4 * version
        dark = Array(repeating: false, count: size * size)
        isFunction = Array(repeating: false, count: size * size)
    }

    subscript(x: Int, y: Int) -> Bool {
        get { dark[y * size + x] }
        set { dark[y * size + x] = newValue }
    }

    mutating func setFunction(_ x: Int, _ y: Int, _ isDark: Bool) {
        self[x, y] = isDark
        isFunction[y * size + x] = true
    }

    // MARK: - Function patterns

    mutating func drawFunctionPatterns() {
        for i in 0..<size {
            setFunction(6, i, i % 2 == 0)
            setFunction(i, 6, i % 2 == 0)
        }
        drawFinder(3, 3)
        drawFinder(size - 4, 3)
        drawFinder(3, size - 4)
        let positions = alignmentPositions
        let count = positions.count
        for i in 0..<count {
            for j in 0..<count {
                // Skip the three that would overlap finder patterns.
                if (i == 0 && j == 0) || (i == 0 && j == count - 1) || (i == count - 1 && j == 0) { continue }
                drawAlignment(positions[i], positions[j])
            }
        }
        drawFormatBits(mask: 0)  // reserves the area; real bits are drawn per mask
        drawVersion()
    }

    /// Centres of alignment patterns along each axis.
    var alignmentPositions: [Int] {
        guard version > 1 else { return [] }
        let count = version / 7 + 2
        let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
        var result = [6]
        for i in stride(from: count - 2, through: 0, by: -1) { result.append(size - 7 - i * step) }
        return result
    }

    /// A finder pattern centred at (x, y), with its light separator.
    mutating func drawFinder(_ x: Int, _ y: Int) {
        for dy in -4...4 {
            for dx in -4...4 {
                let distance = max(abs(dx), abs(dy))
                let xx = x + dx, yy = y + dy
                if xx >= 0, xx < size, yy >= 0, yy < size {
                    setFunction(xx, yy, distance != 2 && distance != 4)
                }
            }
        }
    }

    mutating func drawAlignment(_ x: Int, _ y: Int) {
        for dy in -2...2 {
            for dx in -2...2 { setFunction(x + dx, y + dy, max(abs(dx), abs(dy)) != 1) }
        }
    }

    /// Error-correction level M (bits 00) and the mask, BCH(15,5)-protected,
    /// in both copies; plus the always-dark module.
    mutating func drawFormatBits(mask: Int) {
        let data = (0b00 << 3) | mask
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        let bits = ((data << 10) | remainder) ^ 0x5412
        func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }
        for i in 0...5 { setFunction(8, i, bit(i)) }
        setFunction(8, 7, bit(6))
        setFunction(8, 8, bit(7))
        setFunction(7, 8, bit(8))
        for i in 9..<15 { setFunction(14 - i, 8, bit(i)) }
        for i in 0..<8 { setFunction(size - 1 - i, 8, bit(i)) }
        for i in 8..<15 { setFunction(8, size - 15 + i, bit(i)) }
        setFunction(8, size - 8, true)
    }

    /// Versions 7 and up carry their number, BCH(18,6)-protected, twice.
    mutating func drawVersion() {
        guard version >= 7 else { return }
        var remainder = version
        for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
        let bits = (version << 12) | remainder
        for i in 0..<18 {
            let isDark = (bits >> i) & 1 == 1
            let a = size - 11 + i % 3, b = i / 3
            setFunction(a, b, isDark)
            setFunction(b, a, isDark)
        }
    }

    // MARK: - Data

    /// Places codewords in the zigzag order: pairs of columns from the right,
    /// alternately upwards and downwards, skipping the vertical timing column.
    mutating func place(_ codewords: [UInt8]) {
        var index = 0
        let totalBits = codewords.count * 8
        var right = size - 1
        while right >= 1 {
            if right == 6 { right = 5 }
            for vertical in 0..<size {
                for j in 0..<2 {
                    let x = right - j
                    let upward = ((right + 1) & 2) == 0
                    let y = upward ? size - 1 - vertical : vertical
                    if !isFunction[y * size + x], index < totalBits {
                        self[x, y] = (codewords[index >> 3] >> UInt8(7 - (index & 7))) & 1 == 1
                        index += 1
                    }
                }
            }
            right -= 2
        }
    }

    mutating func applyMask(_ mask: Int) {
        for y in 0..<size {
            for x in 0..<size where !isFunction[y * size + x] {
                let invert: Bool
                switch mask {
                case 0: invert = (x + y) % 2 == 0
                case 1: invert = y % 2 == 0
                case 2: invert = x % 3 == 0
                case 3: invert = (x + y) % 3 == 0
                case 4: invert = (x / 3 + y / 2) % 2 == 0
                case 5: invert = x * y % 2 + x * y % 3 == 0
                case 6: invert = (x * y % 2 + x * y % 3) % 2 == 0
                default: invert = ((x + y) % 2 + x * y % 3) % 2 == 0
                }
                if invert { self[x, y].toggle() }
            }
        }
    }

    // MARK: - Penalty (ISO/IEC 18004 §7.8.3)

    func penalty() -> Int {
        var total = 0
        // N1: runs of five or more of one colour; N3: finder-like patterns.
        for horizontal in [true, false] {
            for line in 0..<size {
                var runColour = false
                var run = 0
                var sequence: [Bool] = []
                for i in 0..<size {
                    let module = horizontal ? self[i, line] : self[line, i]
                    sequence.append(module)
                    if i > 0 && module == runColour {
                        run += 1
                    } else {
                        if run >= 5 { total += 3 + (run - 5) }
                        runColour = module
                        run = 1
                    }
                }
                if run >= 5 { total += 3 + (run - 5) }
                total += 40 * finderLikeCount(sequence)
            }
        }
        // N2: 2×2 blocks of one colour.
        for y in 0..<size - 1 {
            for x in 0..<size - 1 {
                let colour = self[x, y]
                if colour == self[x + 1, y] && colour == self[x, y + 1] && colour == self[x + 1, y + 1] { total += 3 }
            }
        }
        // N4: how far the dark share strays from half, in 5% steps.
        let darkCount = dark.filter { $0 }.count
        let k = (abs(darkCount * 20 - dark.count * 10) + dark.count - 1) / dark.count - 1
        total += max(0, k) * 10
        return total
    }

    /// Occurrences of dark-light-dark×3-light-dark with four light modules on
    /// one side (the area outside the symbol counts as light).
    func finderLikeCount(_ line: [Bool]) -> Int {
        let core: [Bool] = [true, false, true, true, true, false, true]
        let padded = [Bool](repeating: false, count: 4) + line + [Bool](repeating: false, count: 4)
        var count = 0
        for start in 0...(padded.count - 11) {
            if Array(padded[start + 4..<start + 11]) == core, padded[start..<start + 4].allSatisfy({ !$0 }) { count += 1 }
            if Array(padded[start..<start + 7]) == core, padded[start + 7..<start + 11].allSatisfy({ !$0 }) { count += 1 }
        }
        return count
    }
}
