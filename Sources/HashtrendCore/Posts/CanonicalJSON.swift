/// Appends JSON text to a byte buffer. Byte-level and allocation-light: the canonical encoding runs once
/// per ingested post, so integers, timestamps and escapes are written straight into `bytes`, and the
/// unescaped runs of a string are copied in bulk from its UTF-8 storage.
public struct JSONWriter {
    public var bytes: [UInt8]
    /// Escape every non-ASCII scalar as `\uXXXX` (UTF-16, surrogate pairs for astral scalars) and `/` as
    /// `\/`, as X's v1.1 stream does. Off by default: raw UTF-8 is shorter and equally valid.
    public var asciiOnly: Bool

    public init(capacity: Int = 256, asciiOnly: Bool = false) {
        bytes = []
        bytes.reserveCapacity(capacity)
        self.asciiOnly = asciiOnly
    }

    /// Writes into `buffer` (kept, appended to): lets a caller reuse one allocation for many records.
    public init(reusing buffer: [UInt8], asciiOnly: Bool = false) {
        bytes = buffer
        self.asciiOnly = asciiOnly
    }

    @inline(__always) public mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Disfavoured so that string literals take the `StaticString` overload (no String at run time).
    @_disfavoredOverload
    public mutating func raw(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { bytes.append(contentsOf: $0) }
        if done == nil { bytes.append(contentsOf: s.utf8) }
    }

    public mutating func raw(_ b: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: b) }

    public mutating func int(_ v: Int64) {
        // Digits are produced backwards into a small stack buffer, then appended once.
        var magnitude = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { d in
            var i = 20
            repeat {
                i -= 1
                d[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: d[i..<20]))
        }
    }

    public mutating func int(_ v: Int) { int(Int64(v)) }
    public mutating func bool(_ v: Bool) { v ? raw("true") : raw("false") }

    /// `2026-11-25T13:25:52.123Z` without quotes: the same text as `EventTime.format(millis:)`, written
    /// in place.
    public mutating func timestamp(millis: Int64) {
        var ms = millis
        var days = Int(ms / 86_400_000)
        ms %= 86_400_000
        if ms < 0 { ms += 86_400_000; days -= 1 }
        let (y, mo, d) = EventTime.civilFromDays(days)
        guard (0...9999).contains(y) else { raw(EventTime.format(millis: millis)); return }
        let sec = Int(ms / 1000), frac = Int(ms % 1000)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { o in
            @inline(__always) func put(_ v: Int, _ at: Int, _ width: Int) {
                var v = v
                var i = at + width - 1
                while i >= at { o[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10); v /= 10; i -= 1 }
            }
            put(y, 0, 4); o[4] = UInt8(ascii: "-"); put(mo, 5, 2); o[7] = UInt8(ascii: "-"); put(d, 8, 2)
            o[10] = UInt8(ascii: "T")
            put(sec / 3600, 11, 2); o[13] = UInt8(ascii: ":"); put(sec / 60 % 60, 14, 2)
            o[16] = UInt8(ascii: ":"); put(sec % 60, 17, 2)
            o[19] = UInt8(ascii: "."); put(frac, 20, 3); o[23] = UInt8(ascii: "Z")
            bytes.append(contentsOf: UnsafeBufferPointer(o))
        }
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    private mutating func u16Escape(_ u: UInt32) {
        let hex = Self.hexDigits.utf8Start
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "u"))
        bytes.append(hex[Int((u >> 12) & 0xF)])
        bytes.append(hex[Int((u >> 8) & 0xF)])
        bytes.append(hex[Int((u >> 4) & 0xF)])
        bytes.append(hex[Int(u & 0xF)])
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as \n \r \t \b \f or \u00XX.
    public mutating func string(_ s: String) {
        if asciiOnly {
            bytes.append(UInt8(ascii: "\""))
            for u in s.unicodeScalars {
                let v = u.value
                if v >= 0x80 {
                    if v >= 0x10000 {
                        let w = v - 0x10000
                        u16Escape(0xD800 + (w >> 10))
                        u16Escape(0xDC00 + (w & 0x3FF))
                    } else {
                        u16Escape(v)
                    }
                } else if v == UInt32(UInt8(ascii: "/")) {
                    raw("\\/")
                } else {
                    byte(UInt8(v))
                }
            }
            bytes.append(UInt8(ascii: "\""))
            return
        }
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { string(utf8: $0) }
        if done == nil {
            var copy = s
            copy.withUTF8 { string(utf8: $0) }
        }
    }

    /// A JSON string literal from UTF-8 bytes (raw UTF-8 kept; `asciiOnly` does not apply).
    public mutating func string(utf8 b: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c >= 0x20 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") { i += 1; continue }
            if i > runStart { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i])) }
            byte(c)
            i += 1
            runStart = i
        }
        if n > runStart { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<n])) }
        bytes.append(UInt8(ascii: "\""))
    }

    @inline(__always) private mutating func byte(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): raw("\\\"")
        case UInt8(ascii: "\\"): raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        case 0x08: raw("\\b")
        case 0x0C: raw("\\f")
        case 0..<0x20: u16Escape(UInt32(b))
        default: bytes.append(b)
        }
    }

    public mutating func optionalString(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    public mutating func stringArray(_ a: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (i, s) in a.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            string(s)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// The canonical record of `post` (see `Post.canonicalJSON()`), appended.
    public mutating func canonical(_ post: Post) {
        raw("{\"v\":1,\"id\":")
        string(post.id)
        raw(",\"created_at\":\"")
        timestamp(millis: post.createdAtMillis)
        raw("\",\"text\":")
        string(post.text)
        raw(",\"lang\":")
        optionalString(post.lang)
        raw(",\"author_id\":")
        optionalString(post.authorID)
        raw(",\"source\":")
        string(post.source)
        raw(",\"is_repost\":")
        bool(post.isRepost)
        if let hashtags = post.hashtags {
            raw(",\"hashtags\":")
            stringArray(hashtags)
        }
        raw("}")
    }
}

extension JSONWriter {
    /// The canonical record of a post lent by `PostDecoder.decode(line:views:)`: the same bytes as
    /// `canonical(view.post)`, written from the line's bytes without building the Post's Strings
    /// (strings without escapes are copied as they are; the others unescaped into a scratch buffer).
    public mutating func canonical(_ v: PostView) {
        let s = v.base, r = v.refs
        raw("{\"v\":1,\"id\":")
        string(r.id, in: s)
        raw(",\"created_at\":\"")
        timestamp(millis: r.createdAtMillis)
        raw("\",\"text\":")
        string(r.text, in: s)
        raw(",\"lang\":")
        if let l = r.lang { string(l, in: s) } else { raw("null") }
        raw(",\"author_id\":")
        if let a = r.authorID { string(a, in: s) } else { raw("null") }
        raw(",\"source\":")
        if let src = r.source { string(src, in: s) } else { string(v.fixedSource) }
        raw(",\"is_repost\":")
        bool(r.isRepost)
        if let span = r.tags {
            raw(",\"hashtags\":[")
            for i in 0..<span.count {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(v.tagRefs[span.start + i], in: s)
            }
            raw("]")
        }
        raw("}")
    }

    /// A JSON string literal for a string of the line at `base` (decoded value, re-escaped).
    mutating func string(_ ref: JSONStringRef, in base: UnsafePointer<UInt8>) {
        let body = UnsafeBufferPointer(start: base + ref.start, count: ref.end - ref.start)
        if !ref.hasEscapes { string(utf8: body); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(body.count, 1)) { out in
            let n = JSONScanner.unescape(body, into: out)
            string(utf8: UnsafeBufferPointer(rebasing: out[0..<n]))
        }
    }
}

extension PostView {
    /// Appends the canonical record (see `Post.canonicalJSON()`) to `buffer`.
    public func appendCanonicalJSON(to buffer: inout [UInt8]) {
        var w = JSONWriter(reusing: buffer)
        buffer = []
        w.canonical(self)
        buffer = w.bytes
    }
}

extension Post {
    /// The value of this post on the `tweets` topic: one line of JSON, fields in a fixed order,
    /// `"v":1` first, `lang`/`author_id` as null when unknown, `hashtags` only when the source supplied them.
    public func canonicalJSON() -> [UInt8] {
        var w = JSONWriter(capacity: 160 + text.utf8.count)
        w.canonical(self)
        return w.bytes
    }

    /// Appends the canonical record to `buffer` (no allocation once the buffer has grown).
    public func appendCanonicalJSON(to buffer: inout [UInt8]) {
        var w = JSONWriter(reusing: buffer)
        buffer = []  // `w` holds the only reference: appends stay in place
        w.canonical(self)
        buffer = w.bytes
    }
}
