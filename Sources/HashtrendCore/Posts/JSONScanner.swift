import CJSONIndex

/// A pull scanner over the UTF-8 bytes of one JSON text, for the ingest hot path.
///
/// Foundation's JSON parsers build a whole object tree for every line; ingest needs a handful of fields
/// from lines that are mostly other things (v1.1 statuses are ~4 KB, of which ~300 bytes matter). The
/// scanner lets the caller walk objects member by member, read the values it wants, and skip the rest.
///
/// It works in two passes. `JSONStructuralIndex` first finds, with vector instructions, where every token
/// starts (structural bytes, the opening quote of each string, the first byte of each number or literal)
/// and checks every string body (control bytes, escapes). The scanner then walks those tokens: a skipped
/// string costs one index read whatever its length, and no byte is looked at twice. Everything it passes
/// over is validated (the grammar here, numbers and literals at their tokens, strings in the first pass),
/// so a caller that walks to the end and calls `finish()` has checked the JSON syntax of the whole text.
/// A string-level error is reported when the walk reaches the string that holds it, as a byte-by-byte
/// parser would.
///
/// UTF-8 is not checked by the scanner: build the index with `checkUTF8: true` and look at
/// `firstInvalidUTF8` (PostDecoder does), or call `JSONScanner.firstInvalidUTF8(in:)`.
///
/// Errors are values (`JSONScanError`), never traps: truncated input, bad syntax, nesting deeper than
/// `maxDepth` (at most 64, so the skip stack fits in one machine word).
public struct JSONScanner {
    public let bytes: UnsafeBufferPointer<UInt8>
    /// Containers currently open (entered with `enterObject`/`enterArray`, or being skipped).
    public private(set) var depth: Int
    public let maxDepth: Int

    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int
    /// Keeps the token buffer alive while the scanner exists (nil when borrowed, see `init(_:borrowing:maxDepth:)`).
    private(set) var structure: JSONStructuralIndex?
    @usableFromInline let tokens: UnsafePointer<UInt32>
    @usableFromInline let count: Int
    /// The next unread token.
    @usableFromInline var k: Int
    /// A string-level error of the first pass: the tokens stop before it, so it is thrown on reaching the end.
    let pending: JSONScanError?
    /// Offsets of the escapes inside strings, in order, and the first one not before the last string read
    /// (strings are read in order, so finding whether one has escapes is a cursor step, not a search).
    @usableFromInline let escapes: UnsafePointer<UInt32>
    @usableFromInline let escapeCount: Int
    @usableFromInline var escapeCursor = 0

    /// Scans `bytes` with an index of its own (tests, tools; the hot path reuses one, see below).
    public init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 64) {
        let index = JSONStructuralIndex()
        index.build(bytes, checkUTF8: false)
        self.init(bytes, index: index, maxDepth: maxDepth)
    }

    /// Scans `bytes` with `index`, which must have been built from these same bytes.
    public init(_ bytes: UnsafeBufferPointer<UInt8>, index: JSONStructuralIndex, maxDepth: Int = 64) {
        self.init(bytes, borrowing: index, maxDepth: maxDepth)
        structure = index
    }

    /// The same without holding `index`: the caller keeps it alive (and unchanged) while the scanner is used.
    /// For the decoder's hot path, where a retain and release per line showed.
    init(_ bytes: UnsafeBufferPointer<UInt8>, borrowing index: JSONStructuralIndex, maxDepth: Int = 64) {
        self.bytes = bytes
        // An empty buffer may have a nil base; point at a static byte so reads are never attempted anyway.
        self.base = bytes.baseAddress ?? JSONScanner.emptyBase
        // Offsets are kept in 32 bits (JSONStringRef); beyond 2 GiB the text reads as truncated.
        self.end = min(bytes.count, JSONStructuralIndex.maxTextBytes)
        self.structure = nil
        self.tokens = UnsafePointer(index.tokens)
        self.count = index.count
        self.pending = index.pending
        self.escapes = UnsafePointer(index.escapes)
        self.escapeCount = index.escapeCount
        self.k = 0
        self.depth = 0
        self.maxDepth = max(1, min(64, maxDepth))
    }

    nonisolated(unsafe) private static let emptyBase: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    /// Offset of the next token (the end of the text when none is left).
    public var position: Int { k < count ? Int(tokens[k]) : end }

    // MARK: Tokens

    /// The first byte of the next token, without consuming it; nil at the end of input.
    @inline(__always)
    public func peek() -> UInt8? {
        k < count ? base[Int(tokens[k])] : nil
    }

    /// What running out of tokens means: a string-level error found by the first pass, or a truncated text.
    @usableFromInline var endError: JSONScanError { pending ?? .unexpectedEnd }

    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(JSONScanError) {
        guard k < count else { throw endError }
        let at = Int(tokens[k])
        guard base[at] == byte else { throw .unexpectedByte(base[at], at: at) }
        k &+= 1
    }

    /// Succeeds only if nothing but whitespace is left.
    public func finish() throws(JSONScanError) {
        if k < count { throw .trailingData(at: position) }
        if let pending { throw pending }
    }

    // MARK: Containers

    /// Consumes `{`.
    @inline(__always)
    public mutating func enterObject() throws(JSONScanError) {
        try expect(UInt8(ascii: "{"))
        depth += 1
        if depth > maxDepth { throw .tooDeep(maxDepth) }
    }

    /// Consumes `[`.
    @inline(__always)
    public mutating func enterArray() throws(JSONScanError) {
        try expect(UInt8(ascii: "["))
        depth += 1
        if depth > maxDepth { throw .tooDeep(maxDepth) }
    }

    /// The next member's key (its `:` consumed, the scanner left at the value), or nil after the
    /// closing `}`. `first` must be true on the first call for an object; the scanner updates it.
    @inline(__always)
    public mutating func nextKey(_ first: inout Bool) throws(JSONScanError) -> JSONStringRef? {
        guard k < count else { throw endError }
        var at = Int(tokens[k])
        var c = base[at]
        if c == UInt8(ascii: "}") {
            k &+= 1
            depth -= 1
            return nil
        }
        if first {
            first = false
        } else {
            guard c == UInt8(ascii: ",") else { throw .unexpectedByte(c, at: at) }
            k &+= 1
            guard k < count else { throw endError }
            at = Int(tokens[k])
            c = base[at]
        }
        guard c == UInt8(ascii: "\"") else { throw .unexpectedByte(c, at: at) }
        let key = try stringToken(at)
        try expect(UInt8(ascii: ":"))
        return key
    }

    /// True when another element follows (the scanner left at it), false after the closing `]`.
    @inline(__always)
    public mutating func nextElement(_ first: inout Bool) throws(JSONScanError) -> Bool {
        guard k < count else { throw endError }
        let at = Int(tokens[k])
        let c = base[at]
        if c == UInt8(ascii: "]") {
            k &+= 1
            depth -= 1
            return false
        }
        if first {
            first = false
            return true
        }
        guard c == UInt8(ascii: ",") else { throw .unexpectedByte(c, at: at) }
        k &+= 1
        return true
    }

    // MARK: Scalars

    /// Reads a string value; the result points into `bytes` (decode it with `string(_:)`).
    @inline(__always)
    public mutating func readString() throws(JSONScanError) -> JSONStringRef {
        guard k < count else { throw endError }
        let at = Int(tokens[k])
        guard base[at] == UInt8(ascii: "\"") else { throw .unexpectedByte(base[at], at: at) }
        return try stringToken(at)
    }

    /// Reads `null` (returning nil) or a string.
    public mutating func readOptionalString() throws(JSONScanError) -> JSONStringRef? {
        guard let c = peek() else { throw endError }
        if c == UInt8(ascii: "n") {
            try scanLiteral("null")
            return nil
        }
        return try readString()
    }

    public mutating func readBool() throws(JSONScanError) -> Bool {
        guard let c = peek() else { throw endError }
        switch c {
        case UInt8(ascii: "t"): try scanLiteral("true"); return true
        case UInt8(ascii: "f"): try scanLiteral("false"); return false
        default: throw .unexpectedByte(c, at: position)
        }
    }

    /// Reads a number and returns its text (validated against the JSON grammar).
    public mutating func readNumber() throws(JSONScanError) -> Range<Int> {
        guard let c = peek() else { throw endError }
        guard c == UInt8(ascii: "-") || (c &- 48) <= 9 else { throw .unexpectedByte(c, at: position) }
        let start = position
        return start..<(try scanNumber())
    }

    /// Reads an integral number that fits Int64; nil when the number has a fraction, exponent or overflows.
    public mutating func readInt64() throws(JSONScanError) -> Int64? {
        let r = try readNumber()
        return JSONScanner.int64(base, r)
    }

    static func int64(_ base: UnsafePointer<UInt8>, _ r: Range<Int>) -> Int64? {
        var i = r.lowerBound
        var neg = false
        if base[i] == UInt8(ascii: "-") { neg = true; i += 1 }
        var v: Int64 = 0
        while i < r.upperBound {
            let d = base[i] &- 48
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return neg ? -v : v
    }

    /// What the next value is, without consuming it.
    @inline(__always)
    public func peekKind() throws(JSONScanError) -> JSONValueKind {
        guard let c = peek() else { throw endError }
        switch c {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw .unexpectedByte(c, at: position)
        }
    }

    // MARK: Skipping

    /// Skips one complete value of any kind, validating it. Strings and numbers (most skipped values) are
    /// handled inline; containers and literals by `skipComposite`.
    @inline(__always)
    public mutating func skipValue() throws(JSONScanError) {
        guard k < count else { throw endError }
        let c = base[Int(tokens[k])]
        if c == UInt8(ascii: "\"") {
            k &+= 1 // the first pass checked the body
        } else if (c &- 48) <= 9 {
            _ = try scanNumber()
        } else {
            try skipComposite()
        }
    }

    /// Iterative: nesting costs one bit per level.
    @usableFromInline
    mutating func skipComposite() throws(JSONScanError) {
        var stack: UInt64 = 0 // bit i set: level i (from the bottom) is an object
        var level = 0
        while true {
            // Here a value is expected.
            guard k < count else { throw endError }
            let at = Int(tokens[k])
            let c = base[at]
            switch c {
            case UInt8(ascii: "\""):
                // Stage one checked the body and found its end; a string cut short by an error or by the
                // end of the text is the last token, and running out of tokens reports it.
                k &+= 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                k &+= 1
                level += 1
                if depth + level > maxDepth { throw .tooDeep(maxDepth) }
                let isObject = c == UInt8(ascii: "{")
                stack = (stack << 1) | (isObject ? 1 : 0)
                guard let n = peek() else { throw endError }
                if n == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    k &+= 1
                    level -= 1
                    stack >>= 1
                } else if isObject {
                    try skipKeyAndColon()
                    continue
                } else {
                    continue
                }
            case UInt8(ascii: "t"): try scanLiteral("true")
            case UInt8(ascii: "f"): try scanLiteral("false")
            case UInt8(ascii: "n"): try scanLiteral("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
            default: throw .unexpectedByte(c, at: at)
            }
            // A value is complete: close containers until one continues with ','.
            while true {
                if level == 0 { return }
                guard k < count else { throw endError }
                let at = Int(tokens[k])
                let n = base[at]
                let inObject = stack & 1 == 1
                if n == UInt8(ascii: ",") {
                    k &+= 1
                    if inObject { try skipKeyAndColon() }
                    break
                }
                if n == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    k &+= 1
                    level -= 1
                    stack >>= 1
                    continue
                }
                throw .unexpectedByte(n, at: at)
            }
        }
    }

    @inline(__always)
    private mutating func skipKeyAndColon() throws(JSONScanError) {
        guard k < count else { throw endError }
        let at = Int(tokens[k])
        guard base[at] == UInt8(ascii: "\"") else { throw .unexpectedByte(base[at], at: at) }
        k &+= 1
        try expect(UInt8(ascii: ":"))
    }

    /// Bytes that may end a number or literal: whitespace, structural bytes and the quote (anything else
    /// would make the token longer: `truex`, `12a`). A bit per byte value below 128.
    @inline(__always)
    static func endsScalar(_ c: UInt8) -> Bool {
        let low: UInt64 = 1 << 0x09 | 1 << 0x0A | 1 << 0x0D | 1 << 0x20 | 1 << 0x22 | 1 << 0x2C | 1 << 0x3A
        let high: UInt64 = 1 << (0x5B - 64) | 1 << (0x5D - 64) | 1 << (0x7B - 64) | 1 << (0x7D - 64)
        if c < 64 { return (low >> c) & 1 == 1 }
        if c < 128 { return (high >> (c &- 64)) & 1 == 1 }
        return false
    }

    @inline(__always)
    private mutating func scanLiteral(_ lit: StaticString) throws(JSONScanError) {
        let n = lit.utf8CodeUnitCount
        let at = position
        guard at + n <= end else {
            // A prefix of the literal running into the end is truncation; anything else is a wrong byte.
            for j in 0..<(end - at) where base[at + j] != lit.utf8Start[j] { throw .unexpectedByte(base[at + j], at: at + j) }
            throw endError
        }
        let p = lit.utf8Start
        for j in 0..<n where base[at + j] != p[j] {
            throw .unexpectedByte(base[at + j], at: at + j)
        }
        if at + n < end && !JSONScanner.endsScalar(base[at + n]) { throw .unexpectedByte(base[at + n], at: at + n) }
        k &+= 1
    }

    /// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, at the next token; returns its end.
    private mutating func scanNumber() throws(JSONScanError) -> Int {
        let start = position
        var i = start
        if i < end && base[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end else { throw endError }
        if base[i] == UInt8(ascii: "0") {
            i += 1
        } else if (base[i] &- 49) <= 8 {
            i += 1
            while i < end && (base[i] &- 48) <= 9 { i += 1 }
        } else {
            throw .invalidNumber(at: start)
        }
        if i < end && base[i] == UInt8(ascii: ".") {
            i += 1
            let s = i
            while i < end && (base[i] &- 48) <= 9 { i += 1 }
            if i == s { throw i == end ? endError : .invalidNumber(at: start) }
        }
        if i < end && (base[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < end && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) { i += 1 }
            let s = i
            while i < end && (base[i] &- 48) <= 9 { i += 1 }
            if i == s { throw i == end ? endError : .invalidNumber(at: start) }
        }
        if i < end && !JSONScanner.endsScalar(base[i]) { throw .unexpectedByte(base[i], at: i) }
        k &+= 1
        return i
    }

    // MARK: Strings

    /// The string whose opening quote is the next token, at `at`; consumes it.
    @inline(__always)
    private mutating func stringToken(_ at: Int) throws(JSONScanError) -> JSONStringRef {
        // Only whitespace separates the closing quote from the next token (or the end of the text).
        var close: Int
        if k &+ 1 < count {
            close = Int(tokens[k &+ 1]) &- 1
        } else {
            // The last token: a string cut by a first-pass error (or the end) reports that error.
            if let pending { throw pending }
            close = end &- 1
        }
        while base[close] != UInt8(ascii: "\"") { close &-= 1 } // stops at `at` at the latest
        guard close > at else { throw .unexpectedByte(base[at], at: at) }
        k &+= 1
        var escaped = false
        if escapeCursor < escapeCount {
            while escapeCursor < escapeCount && Int(escapes[escapeCursor]) < at { escapeCursor &+= 1 }
            escaped = escapeCursor < escapeCount && Int(escapes[escapeCursor]) < close
        }
        return JSONStringRef(start: at + 1, end: close, hasEscapes: escaped)
    }

    @inline(__always)
    static func hex4(_ p: UnsafePointer<UInt8>) -> UInt32? {
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = p[k]
            let d: UInt8
            if (c &- 48) <= 9 { d = c &- 48 }
            else if ((c | 0x20) &- 97) <= 5 { d = (c | 0x20) &- 87 }
            else { return nil }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// The decoded value of a string read by this scanner. Unpaired UTF-16 surrogates in `\u` escapes
    /// become U+FFFD: X's v1.1 truncation can split a pair, and the rest of such a post is still good.
    /// `ref` must come from this scanner (a ref from another buffer is a programming error and traps).
    public func string(_ ref: JSONStringRef) -> String {
        precondition(ref.start >= 0 && ref.start <= ref.end && ref.end <= end, "JSONStringRef from another buffer")
        return JSONScanner.decode(ref, base)
    }

    static func decode(_ ref: JSONStringRef, _ base: UnsafePointer<UInt8>) -> String {
        let raw = UnsafeBufferPointer(start: base + ref.start, count: ref.end - ref.start)
        if !ref.hasEscapes {
            return String(decoding: raw, as: UTF8.self)
        }
        // The unescaped form is never longer than the escaped one.
        return String(unsafeUninitializedCapacity: max(raw.count, 1)) { out in
            unescape(raw, into: out)
        }
    }

    /// Writes the unescaped bytes of a valid string body; returns the count written.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var i = 0
        var o = 0
        let n = raw.count
        let p = raw.baseAddress!
        let dst = out.baseAddress!
        func put(_ scalar: UInt32) {
            switch scalar {
            case 0..<0x80:
                dst[o] = UInt8(scalar); o += 1
            case 0x80..<0x800:
                dst[o] = UInt8(0xC0 | (scalar >> 6)); dst[o + 1] = UInt8(0x80 | (scalar & 0x3F)); o += 2
            case 0x800..<0x10000:
                dst[o] = UInt8(0xE0 | (scalar >> 12)); dst[o + 1] = UInt8(0x80 | ((scalar >> 6) & 0x3F))
                dst[o + 2] = UInt8(0x80 | (scalar & 0x3F)); o += 3
            default:
                dst[o] = UInt8(0xF0 | (scalar >> 18)); dst[o + 1] = UInt8(0x80 | ((scalar >> 12) & 0x3F))
                dst[o + 2] = UInt8(0x80 | ((scalar >> 6) & 0x3F)); dst[o + 3] = UInt8(0x80 | (scalar & 0x3F)); o += 4
            }
        }
        while i < n {
            let c = p[i]
            if c != UInt8(ascii: "\\") {
                dst[o] = c; o += 1; i += 1
                continue
            }
            // Bounds are checked even though the scanner validated the body: memory safety must not
            // depend on the caller passing the right ref.
            guard i + 1 < n else { dst[o] = c; o += 1; break }
            let e = p[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): put(0x08)
            case UInt8(ascii: "f"): put(0x0C)
            case UInt8(ascii: "n"): put(0x0A)
            case UInt8(ascii: "r"): put(0x0D)
            case UInt8(ascii: "t"): put(0x09)
            case UInt8(ascii: "u"):
                guard i + 4 <= n else { put(0xFFFD); i = n; break }
                let u = hex4(p + i) ?? 0xFFFD
                i += 4
                if u >= 0xD800 && u < 0xDC00 {
                    // A high surrogate counts only when a low one follows as the next escape.
                    if i + 6 <= n, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u"),
                       let lo = hex4(p + i + 2), lo >= 0xDC00 && lo < 0xE000 {
                        put(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                        i += 6
                    } else {
                        put(0xFFFD)
                    }
                } else if u >= 0xDC00 && u < 0xE000 {
                    put(0xFFFD)
                } else {
                    put(u)
                }
            default: put(UInt32(e)) // \" \\ \/
            }
        }
        return o
    }

    /// True when the raw (escaped) bytes of `ref` equal `literal`; keys with escapes are decoded first.
    @inline(__always)
    public func equals(_ ref: JSONStringRef, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        if !ref.hasEscapes {
            return ref.end - ref.start == n && bytesEqual(base + ref.start, literal.utf8Start, n)
        }
        return string(ref).utf8.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: n))
    }

    /// Byte-equality of two string values (decoding only when either has escapes).
    public func equals(_ a: JSONStringRef, _ b: JSONStringRef) -> Bool {
        if !a.hasEscapes && !b.hasEscapes {
            let n = a.end - a.start
            return b.end - b.start == n && bytesEqual(base + a.start, base + b.start, n)
        }
        return string(a) == string(b)
    }

    // MARK: UTF-8

    /// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates, nothing
    /// above U+10FFFF), or nil when all of it is well formed. The same check as the index's `checkUTF8`.
    public static func firstInvalidUTF8(in b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let p = b.baseAddress, b.count > 0 else { return nil }
        let at = ht_utf8_first_invalid(p, b.count)
        return at < 0 ? nil : Int(at)
    }
}

/// The token positions of one JSON text (the scanner's first pass), in a buffer kept between texts.
/// A class so that the hot path reuses one buffer; PostDecoder copies it before building when shared,
/// so decoders stay independent values.
public final class JSONStructuralIndex: @unchecked Sendable {
    // Read once per line on the hot path: no dynamic exclusivity checks (one owner builds, then reads).
    @exclusivity(unchecked) @usableFromInline var tokens: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) @usableFromInline var escapes: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) private(set) var capacity: Int
    /// Tokens found (all before the first string-level error, if any).
    @exclusivity(unchecked) public private(set) var count = 0
    /// The first string-level error (control byte, bad escape), or nil.
    @exclusivity(unchecked) public private(set) var pending: JSONScanError?
    /// Escapes inside strings (their offsets are in `escapes`).
    @exclusivity(unchecked) public private(set) var escapeCount = 0
    /// Offset of the first byte that is not well-formed UTF-8, when built with `checkUTF8`.
    @exclusivity(unchecked) public private(set) var firstInvalidUTF8: Int?

    public init() {
        capacity = 1024
        tokens = .allocate(capacity: capacity)
        escapes = .allocate(capacity: capacity / 2 + 64)
    }

    deinit {
        tokens.deallocate()
        escapes.deallocate()
    }

    /// The longest text indexed (and scanned): offsets are 32-bit, with room for the first pass's slack.
    public static var maxTextBytes: Int { Int(Int32.max) - 64 }

    /// Indexes `bytes` (at most `maxTextBytes` of it; the scanner reads the rest as truncated).
    public func build(_ bytes: UnsafeBufferPointer<UInt8>, checkUTF8: Bool) {
        let n = min(bytes.count, JSONStructuralIndex.maxTextBytes)
        // The first pass writes at most one token per byte, plus slack for its block loop. After a huge
        // line (up to maxLineBytes) the buffers shrink again, so one such line does not pin tens of MiB.
        if capacity < n + 64 || (capacity > 1 << 20 && (n + 64) * 8 < capacity) {
            tokens.deallocate()
            escapes.deallocate()
            capacity = capacity < n + 64 ? max(n + 64, capacity * 2) : max(1024, (n + 64) * 2)
            tokens = .allocate(capacity: capacity)
            // An escape takes at least two bytes.
            escapes = .allocate(capacity: capacity / 2 + 64)
        }
        guard let base = bytes.baseAddress, n > 0 else {
            count = 0
            pending = nil
            escapeCount = 0
            firstInvalidUTF8 = nil
            return
        }
        var r = ht_json_index_result()
        ht_json_index(base, n, tokens, escapes, checkUTF8 ? 1 : 0, &r)
        count = Int(r.count)
        escapeCount = Int(r.escape_count)
        firstInvalidUTF8 = r.utf8_error_at >= 0 ? Int(r.utf8_error_at) : nil
        switch Int(r.error) {
        case Int(HT_JSON_OK): pending = nil
        case Int(HT_JSON_CONTROL_IN_STRING): pending = .controlCharacterInString(at: Int(r.error_at))
        case Int(HT_JSON_INVALID_ESCAPE): pending = .invalidEscape(at: Int(r.error_at))
        default: pending = .unexpectedEnd // the text ends inside a string
        }
    }
}

/// A string value inside the scanned bytes: the raw body between the quotes. Stored in 32-bit offsets
/// (the decoder keeps dozens per line); the scanner handles at most 2 GiB.
public struct JSONStringRef: Sendable, Equatable, BitwiseCopyable {
    @usableFromInline var start32: Int32
    @usableFromInline var end32: Int32
    /// The body contains backslash escapes (decoding must unescape).
    public internal(set) var hasEscapes: Bool
    public var start: Int { Int(start32) }
    public var end: Int { Int(end32) }
    init(start: Int, end: Int, hasEscapes: Bool) {
        self.start32 = Int32(truncatingIfNeeded: start)
        self.end32 = Int32(truncatingIfNeeded: end)
        self.hasEscapes = hasEscapes
    }
}

public enum JSONValueKind: Sendable, Equatable {
    case object, array, string, number, bool, null
}

public enum JSONScanError: Error, Equatable, Sendable, CustomStringConvertible {
    case unexpectedEnd
    case unexpectedByte(UInt8, at: Int)
    case invalidEscape(at: Int)
    case controlCharacterInString(at: Int)
    case invalidNumber(at: Int)
    case tooDeep(Int)
    case trailingData(at: Int)

    public var description: String {
        switch self {
        case .unexpectedEnd: return "truncated JSON (unexpected end of line)"
        case .unexpectedByte(let b, let at):
            let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "0x" + String(b, radix: 16)
            return "unexpected \(shown) at byte \(at)"
        case .invalidEscape(let at): return "invalid escape at byte \(at)"
        case .controlCharacterInString(let at): return "unescaped control character in string at byte \(at)"
        case .invalidNumber(let at): return "invalid number at byte \(at)"
        case .tooDeep(let d): return "nesting deeper than \(d)"
        case .trailingData(let at): return "data after the JSON value at byte \(at)"
        }
    }
}
