// Character classes of the hashtag grammar (twitter-text) and a small UTF-8 decoder for the byte scanner.

/// Per-scalar classification used by the extractor. One byte per BMP scalar, built once from the
/// Unicode general categories of the running Swift runtime; astral scalars are classified on demand.
@usableFromInline
enum HashtagClass {
    /// May appear in a hashtag: letters, marks, decimal digits, `_`, and the special characters.
    static let member: UInt8 = 1
    /// A letter or mark: a hashtag needs at least one.
    static let alpha: UInt8 = 2

    /// Non-letter characters twitter-text allows inside hashtags: `_`, ZWNJ, ZWJ, Cyrillic kavyka,
    /// Hebrew maqaf/geresh/gershayim, full-width tilde, wave dash, katakana-hiragana (semi-)voiced sound
    /// marks, double hyphen, middle dots, ditto mark, Tibetan tsheg, and the Latin middle dot.
    static let specials: Set<UInt32> = [
        0x5F, 0x200C, 0x200D, 0xA67E, 0x05BE, 0x05F3, 0x05F4, 0xFF5E, 0x301C,
        0x309B, 0x309C, 0x30A0, 0x30FB, 0x3003, 0x0F0B, 0x0F0C, 0x00B7,
    ]

    /// Classifies any scalar from scratch (the table below caches this for the BMP).
    static func compute(_ value: UInt32) -> UInt8 {
        // Emoji and pictograph blocks (U+1F000..U+1FAFF) hold only symbols: skip the property lookup
        // for the astral characters that follow tags most often.
        if value >= 0x1F000 && value <= 0x1FAFF { return 0 }
        if specials.contains(value) { return member }
        guard let scalar = Unicode.Scalar(value) else { return 0 }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark:
            return member | alpha
        case .decimalNumber:
            return member
        default:
            return 0
        }
    }

    /// BMP lookup table: 64 KiB, built on first use.
    static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)) }

    @inline(__always)
    static func of(_ value: UInt32, bmp table: UnsafePointer<UInt8>) -> UInt8 {
        value < 0x10000 ? table[Int(value)] : compute(value)
    }
}

/// Minimal UTF-8 decoding over raw bytes. Invalid sequences decode as one replacement scalar per byte,
/// so a malformed post can never make the scanner stall or read out of bounds.
@usableFromInline
enum UTF8Scan {
    static let replacement: UInt32 = 0xFFFD

    /// The scalar starting at `i` (which must be < count) and its length in bytes.
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt8>, _ i: Int, _ count: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xC2 { return (replacement, 1) }
        if b0 < 0xE0 {
            guard i + 1 < count, p[i + 1] & 0xC0 == 0x80 else { return (replacement, 1) }
            return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2)
        }
        if b0 < 0xF0 {
            guard i + 2 < count, p[i + 1] & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80 else { return (replacement, 1) }
            let v = (b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
            if v < 0x800 || (v >= 0xD800 && v < 0xE000) { return (replacement, 1) }
            return (v, 3)
        }
        if b0 < 0xF5 {
            guard i + 3 < count, p[i + 1] & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80, p[i + 3] & 0xC0 == 0x80
            else { return (replacement, 1) }
            let v = (b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6
                | UInt32(p[i + 3] & 0x3F)
            if v < 0x10000 || v > 0x10FFFF { return (replacement, 1) }
            return (v, 4)
        }
        return (replacement, 1)
    }

    /// The scalar that ends just before `i` (i > 0). Steps back over continuation bytes and accepts the
    /// result only if decoding forward lands exactly on `i`.
    @inline(__always)
    static func decodeBefore(_ p: UnsafePointer<UInt8>, _ i: Int, _ count: Int) -> UInt32 {
        let last = p[i - 1]
        if last < 0x80 { return UInt32(last) }
        var j = i - 1
        while j > 0, i - j < 4, p[j] & 0xC0 == 0x80 { j -= 1 }
        let (v, n) = decode(p, j, count)
        return j + n == i ? v : replacement
    }
}
