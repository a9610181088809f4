/// A pull scanner over the UTF-8 bytes of one JSON text, for the ingest hot path.
///
/// Foundation's JSON parsers build a whole object tree for every line; ingest needs a handful of fields
/// from lines that are mostly other things (v1.1 statuses are ~4 KB, of which ~300 bytes matter). The
/// scanner lets the caller walk objects member by member, read the values it wants, and skip the rest
/// quickly (string bodies are skipped 8 bytes at a time). Everything it passes over is validated, so a
/// caller that walks to the end and calls `finish()` has checked the JSON syntax of the whole text.
///
/// UTF-8 is not checked here: call `JSONScanner.firstInvalidUTF8(in:)` on the line first (PostDecoder
/// does), so that string values can be turned into `String`s without repair.
///
/// Errors are values (`JSONScanError`), never traps: truncated input, bad syntax, nesting deeper than
/// `maxDepth` (at most 64, so the skip stack fits in one machine word).
public struct JSONScanner {
    public let bytes: UnsafeBufferPointer<UInt8>
    /// Offset of the next unread byte.
    public private(set) var position: Int
    /// Containers currently open (entered with `enterObject`/`enterArray`, or being skipped).
    public private(set) var depth: Int
    public let maxDepth: Int

    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int

    public init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 64) {
        self.bytes = bytes
        // An empty buffer may have a nil base; point at a static byte so reads are never attempted anyway.
        self.base = bytes.baseAddress ?? JSONScanner.emptyBase
        // Offsets are kept in 32 bits (JSONStringRef); beyond 2 GiB the text reads as truncated.
        self.end = min(bytes.count, Int(Int32.max))
        self.position = 0
        self.depth = 0
        self.maxDepth = max(1, min(64, maxDepth))
    }

    /// Restarts at `position` (an offset previously read from `position`), with the given open depth.
    public mutating func seek(to position: Int, depth: Int) {
        self.position = max(0, min(end, position))
        self.depth = depth
    }

    nonisolated(unsafe) private static let emptyBase: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    // MARK: Whitespace and peeking

    /// The next significant byte, without consuming it; nil at the end of input.
    @inline(__always)
    public mutating func peek() -> UInt8? {
        var i = position
        while i < end {
            let c = base[i]
            // space, \t, \n, \r
            if c > 0x20 || (c != 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) {
                position = i
                return c
            }
            i += 1
        }
        position = i
        return nil
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(JSONScanError) {
        guard let c = peek() else { throw .unexpectedEnd }
        guard c == byte else { throw .unexpectedByte(c, at: position) }
        position += 1
    }

    /// Succeeds only if nothing but whitespace is left.
    public mutating func finish() throws(JSONScanError) {
        if peek() != nil { throw .trailingData(at: position) }
    }

    // MARK: Containers

    /// Consumes `{`.
    public mutating func enterObject() throws(JSONScanError) {
        try expect(UInt8(ascii: "{"))
        depth += 1
        if depth > maxDepth { throw .tooDeep(maxDepth) }
    }

    /// Consumes `[`.
    public mutating func enterArray() throws(JSONScanError) {
        try expect(UInt8(ascii: "["))
        depth += 1
        if depth > maxDepth { throw .tooDeep(maxDepth) }
    }

    /// The next member's key (its `:` consumed, the scanner left at the value), or nil after the
    /// closing `}`. `first` must be true on the first call for an object; the scanner updates it.
    @inline(__always)
    public mutating func nextKey(_ first: inout Bool) throws(JSONScanError) -> JSONStringRef? {
        guard var c = peek() else { throw .unexpectedEnd }
        if c == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return nil
        }
        if first {
            first = false
        } else {
            guard c == UInt8(ascii: ",") else { throw .unexpectedByte(c, at: position) }
            position += 1
            guard let c2 = peek() else { throw .unexpectedEnd }
            c = c2
        }
        guard c == UInt8(ascii: "\"") else { throw .unexpectedByte(c, at: position) }
        position += 1
        let key = try scanStringBody()
        try expect(UInt8(ascii: ":"))
        return key
    }

    /// True when another element follows (the scanner left at it), false after the closing `]`.
    @inline(__always)
    public mutating func nextElement(_ first: inout Bool) throws(JSONScanError) -> Bool {
        guard let c = peek() else { throw .unexpectedEnd }
        if c == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return false
        }
        if first {
            first = false
            return true
        }
        guard c == UInt8(ascii: ",") else { throw .unexpectedByte(c, at: position) }
        position += 1
        return true
    }

    // MARK: Scalars

    /// Reads a string value; the result points into `bytes` (decode it with `string(_:)`).
    public mutating func readString() throws(JSONScanError) -> JSONStringRef {
        try expect(UInt8(ascii: "\""))
        return try scanStringBody()
    }

    /// Reads `null` (returning nil) or a string.
    public mutating func readOptionalString() throws(JSONScanError) -> JSONStringRef? {
        guard let c = peek() else { throw .unexpectedEnd }
        if c == UInt8(ascii: "n") {
            try scanLiteral("null")
            return nil
        }
        return try readString()
    }

    public mutating func readBool() throws(JSONScanError) -> Bool {
        guard let c = peek() else { throw .unexpectedEnd }
        switch c {
        case UInt8(ascii: "t"): try scanLiteral("true"); return true
        case UInt8(ascii: "f"): try scanLiteral("false"); return false
        default: throw .unexpectedByte(c, at: position)
        }
    }

    /// Reads a number and returns its text (validated against the JSON grammar).
    public mutating func readNumber() throws(JSONScanError) -> Range<Int> {
        guard let c = peek() else { throw .unexpectedEnd }
        guard c == UInt8(ascii: "-") || (c &- 48) <= 9 else { throw .unexpectedByte(c, at: position) }
        let start = position
        try scanNumber()
        return start..<position
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
    public mutating func peekKind() throws(JSONScanError) -> JSONValueKind {
        guard let c = peek() else { throw .unexpectedEnd }
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

    /// Skips one complete value of any kind, validating it. Iterative: nesting costs one bit per level.
    public mutating func skipValue() throws(JSONScanError) {
        var stack: UInt64 = 0 // bit i set: level i (from the bottom) is an object
        var level = 0
        while true {
            // Here a value is expected.
            guard let c = peek() else { throw .unexpectedEnd }
            var closedEmpty = false
            switch c {
            case UInt8(ascii: "\""):
                position += 1
                _ = try scanStringBody()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                position += 1
                level += 1
                if depth + level > maxDepth { throw .tooDeep(maxDepth) }
                let isObject = c == UInt8(ascii: "{")
                stack = (stack << 1) | (isObject ? 1 : 0)
                guard let n = peek() else { throw .unexpectedEnd }
                if n == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    position += 1
                    level -= 1
                    stack >>= 1
                    closedEmpty = true
                } else if isObject {
                    try skipKeyAndColon()
                    continue
                } else {
                    continue
                }
            case UInt8(ascii: "t"): try scanLiteral("true")
            case UInt8(ascii: "f"): try scanLiteral("false")
            case UInt8(ascii: "n"): try scanLiteral("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
            default: throw .unexpectedByte(c, at: position)
            }
            _ = closedEmpty
            // A value is complete: close containers until one continues with ','.
            while true {
                if level == 0 { return }
                guard let n = peek() else { throw .unexpectedEnd }
                let inObject = stack & 1 == 1
                if n == UInt8(ascii: ",") {
                    position += 1
                    if inObject { try skipKeyAndColon() }
                    break
                }
                if n == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    position += 1
                    level -= 1
                    stack >>= 1
                    continue
                }
                throw .unexpectedByte(n, at: position)
            }
        }
    }

    @inline(__always)
    private mutating func skipKeyAndColon() throws(JSONScanError) {
        try expect(UInt8(ascii: "\""))
        _ = try scanStringBody()
        try expect(UInt8(ascii: ":"))
    }

    @inline(__always)
    private mutating func scanLiteral(_ lit: StaticString) throws(JSONScanError) {
        let n = lit.utf8CodeUnitCount
        guard position + n <= end else { throw .unexpectedEnd }
        let p = lit.utf8Start
        for k in 0..<n where base[position + k] != p[k] {
            throw .unexpectedByte(base[position + k], at: position + k)
        }
        position += n
    }

    /// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func scanNumber() throws(JSONScanError) {
        var i = position
        if i < end && base[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end else { throw .unexpectedEnd }
        if base[i] == UInt8(ascii: "0") {
            i += 1
        } else if (base[i] &- 49) <= 8 {
            i += 1
            while i < end && (base[i] &- 48) <= 9 { i += 1 }
        } else {
            throw .invalidNumber(at: position)
        }
        if i < end && base[i] == UInt8(ascii: ".") {
            i += 1
            let s = i
            while i < end && (base[i] &- 48) <= 9 { i += 1 }
            if i == s { throw i == end ? .unexpectedEnd : .invalidNumber(at: position) }
        }
        if i < end && (base[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < end && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) { i += 1 }
            let s = i
            while i < end && (base[i] &- 48) <= 9 { i += 1 }
            if i == s { throw i == end ? .unexpectedEnd : .invalidNumber(at: position) }
        }
        position = i
    }

    // MARK: Strings

    /// Scans a string body (the opening quote already consumed) up to and including the closing quote.
    /// The body is skipped 8 bytes at a time until a quote, backslash or control byte shows up.
    @inline(__always)
    private mutating func scanStringBody() throws(JSONScanError) -> JSONStringRef {
        let start = position
        var i = start
        var escaped = false
        while true {
            while i &+ 8 <= end {
                let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
                let m = JSONScanner.specialMask(w)
                if m != 0 {
                    i &+= m.trailingZeroBitCount >> 3
                    break
                }
                i &+= 8
            }
            guard i < end else { throw .unexpectedEnd }
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                position = i + 1
                return JSONStringRef(start: start, end: i, hasEscapes: escaped)
            } else if c == UInt8(ascii: "\\") {
                escaped = true
                guard i + 1 < end else { throw .unexpectedEnd }
                switch base[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 6 <= end else { throw .unexpectedEnd }
                    guard JSONScanner.hex4(base + i + 2) != nil else { throw .invalidEscape(at: i) }
                    i += 6
                default:
                    throw .invalidEscape(at: i)
                }
            } else if c < 0x20 {
                throw .controlCharacterInString(at: i)
            } else {
                i += 1
            }
        }
    }

    /// Nonzero iff some byte of `w` is `"`, `\` or below 0x20; its lowest set bit marks the first such byte
    /// (the carries of the zero-byte trick only produce false hits above a true one).
    @inline(__always)
    static func specialMask(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let q = w ^ (ones &* 0x22)
        let b = w ^ (ones &* 0x5C)
        let hasQ = (q &- ones) & ~q
        let hasB = (b &- ones) & ~b
        let hasCtl = (w &- ones &* 0x20) & ~w
        return (hasQ | hasB | hasCtl) & highs
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
            return ref.end - ref.start == n && memEqual(base + ref.start, literal.utf8Start, n)
        }
        return string(ref).utf8.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: n))
    }

    /// Byte-equality of two string values (decoding only when either has escapes).
    public func equals(_ a: JSONStringRef, _ b: JSONStringRef) -> Bool {
        if !a.hasEscapes && !b.hasEscapes {
            let n = a.end - a.start
            return b.end - b.start == n && memEqual(base + a.start, base + b.start, n)
        }
        return string(a) == string(b)
    }

    @inline(__always)
    func memEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var k = 0
        while k < n {
            if a[k] != b[k] { return false }
            k += 1
        }
        return true
    }

    // MARK: UTF-8

    /// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates, nothing
    /// above U+10FFFF), or nil when all of it is well formed. ASCII goes 8 bytes at a time, and the ASCII
    /// bytes of a word that also holds non-ASCII ones are skipped at once (texts mix the two closely).
    public static func firstInvalidUTF8(in b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let p = b.baseAddress else { return nil }
        let n = b.count
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i &+ 16 <= n {
            let w0 = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            let w1 = UnsafeRawPointer(p + i + 8).loadUnaligned(as: UInt64.self)
            if (w0 | w1) & highs != 0 { break }
            i &+= 16
        }
        while i < n {
            var c = p[i]
            if c < 0x80 {
                if i &+ 8 <= n {
                    let m = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)) & highs
                    if m == 0 {
                        i &+= 8
                        continue
                    }
                    i &+= m.trailingZeroBitCount >> 3
                    c = p[i]
                } else {
                    i &+= 1
                    continue
                }
            }
            // A multi-byte sequence (Unicode Table 3-7, well-formed sequences).
            if c < 0xE0 {
                guard c >= 0xC2, i + 1 < n, p[i + 1] & 0xC0 == 0x80 else { return i }
                i &+= 2
            } else if c < 0xF0 {
                guard i + 2 < n else { return i }
                let c1 = p[i + 1]
                guard c1 & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80,
                      c != 0xE0 || c1 >= 0xA0, c != 0xED || c1 <= 0x9F else { return i }
                i &+= 3
            } else {
                guard c <= 0xF4, i + 3 < n else { return i }
                let c1 = p[i + 1]
                guard c1 & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80, p[i + 3] & 0xC0 == 0x80,
                      c != 0xF0 || c1 >= 0x90, c != 0xF4 || c1 <= 0x8F else { return i }
                i &+= 4
            }
        }
        return nil
    }
}

/// A string value inside the scanned bytes: the raw body between the quotes. Stored in 32-bit offsets
/// (the decoder keeps dozens per line); the scanner handles at most 2 GiB.
public struct JSONStringRef: Sendable, Equatable {
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
