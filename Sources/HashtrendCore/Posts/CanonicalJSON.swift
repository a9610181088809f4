/// Appends JSON text to a byte buffer. Small and allocation-light: the canonical encoding runs once per
/// ingested post.
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

    @inline(__always) public mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    public mutating func int(_ v: Int64) { raw(String(v)) }
    public mutating func int(_ v: Int) { raw(String(v)) }
    public mutating func bool(_ v: Bool) { v ? raw("true") : raw("false") }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func u16Escape(_ u: UInt32) {
        raw("\\u")
        for shift in stride(from: 12, through: 0, by: -4) {
            bytes.append(JSONWriter.hexDigits[Int((u >> UInt32(shift)) & 0xF)])
        }
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as \n \r \t \b \f or \u00XX.
    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        if asciiOnly {
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
        } else {
            for b in s.utf8 { byte(b) }
        }
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
}

extension Post {
    /// The value of this post on the `tweets` topic: one line of JSON, fields in a fixed order,
    /// `"v":1` first, `lang`/`author_id` as null when unknown, `hashtags` only when the source supplied them.
    public func canonicalJSON() -> [UInt8] {
        var w = JSONWriter(capacity: 160 + text.utf8.count)
        w.raw("{\"v\":1,\"id\":")
        w.string(id)
        w.raw(",\"created_at\":\"")
        w.raw(EventTime.format(millis: createdAtMillis))
        w.raw("\",\"text\":")
        w.string(text)
        w.raw(",\"lang\":")
        w.optionalString(lang)
        w.raw(",\"author_id\":")
        w.optionalString(authorID)
        w.raw(",\"source\":")
        w.string(source)
        w.raw(",\"is_repost\":")
        w.bool(isRepost)
        if let hashtags {
            w.raw(",\"hashtags\":")
            w.stringArray(hashtags)
        }
        w.raw("}")
        return w.bytes
    }
}
