import Foundation
import Testing
@testable import HashtrendCore

/// The String-based writer this project shipped before the byte-level one, kept as the reference the
/// new output must equal byte for byte (trend windows and the `tweets` topic depend on it).
private struct ReferenceWriter {
    var bytes: [UInt8] = []
    var asciiOnly = false
    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }
    mutating func u16Escape(_ u: UInt32) {
        let hex = Array("0123456789abcdef".utf8)
        raw("\\u")
        for shift in stride(from: 12, through: 0, by: -4) { bytes.append(hex[Int((u >> UInt32(shift)) & 0xF)]) }
    }
    mutating func byte(_ b: UInt8) {
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
    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        if asciiOnly {
            for u in s.unicodeScalars {
                let v = u.value
                if v >= 0x10000 { let w = v - 0x10000; u16Escape(0xD800 + (w >> 10)); u16Escape(0xDC00 + (w & 0x3FF)) }
                else if v >= 0x80 { u16Escape(v) }
                else if v == 0x2F { raw("\\/") }
                else { byte(UInt8(v)) }
            }
        } else {
            for b in s.utf8 { byte(b) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
    mutating func optionalString(_ s: String?) { if let s { string(s) } else { raw("null") } }
    static func canonical(_ p: Post) -> [UInt8] {
        var w = ReferenceWriter()
        w.raw("{\"v\":1,\"id\":"); w.string(p.id)
        w.raw(",\"created_at\":\""); w.raw(EventTime.format(millis: p.createdAtMillis))
        w.raw("\",\"text\":"); w.string(p.text)
        w.raw(",\"lang\":"); w.optionalString(p.lang)
        w.raw(",\"author_id\":"); w.optionalString(p.authorID)
        w.raw(",\"source\":"); w.string(p.source)
        w.raw(",\"is_repost\":"); w.raw(p.isRepost ? "true" : "false")
        if let h = p.hashtags {
            w.raw(",\"hashtags\":[")
            for (i, t) in h.enumerated() { if i > 0 { w.raw(",") }; w.string(t) }
            w.raw("]")
        }
        w.raw("}")
        return w.bytes
    }
}

@Suite("CanonicalJSON")
struct CanonicalJSONTests {
    static let texts: [String] = [
        "", "plain #tag text", "quote \" backslash \\ slash / end", "tab\tnewline\ncr\rback\u{8}form\u{C}",
        "\u{0}\u{1}\u{1F} controls", "café ＃ハッシュ #日本語 and 😀 astral 𝔘", "\u{7F}\u{80}\u{FFFF}",
        String(repeating: "long run without escapes ", count: 40) + "\"", "\\\\\"\"",
        String(decoding: [0x61, 0xC3, 0xA9, 0x0A, 0xF0, 0x9F, 0x98, 0x80], as: UTF8.self),
    ]

    @Test("canonical posts are byte-identical to the reference writer (escapes, Unicode, nulls, hashtags, times)")
    func canonicalMatchesReference() {
        var rng = SystemRandomNumberGenerator()
        var buffer: [UInt8] = []
        var n = 0
        for (i, text) in Self.texts.enumerated() {
            for millis: Int64 in [0, 1, 999, 86_399_999, 1_764_077_152_123, 253_402_300_799_999, -1, -86_400_001,
                                  Int64.random(in: 0...4_000_000_000_000, using: &rng)] {
                let post = Post(id: "\(1_000_000 + i)\"x", createdAtMillis: millis, text: text,
                                lang: i % 3 == 0 ? nil : "e\"n", authorID: i % 2 == 0 ? "42\\" : nil,
                                source: ["x2", "replay", "synthetic"][i % 3], isRepost: i % 2 == 1,
                                hashtags: i % 4 == 0 ? nil : (i % 4 == 1 ? [] : ["tag", text, "ü\u{1}"]))
                let expected = ReferenceWriter.canonical(post)
                #expect(post.canonicalJSON() == expected, "post \(i) at \(millis)")
                // Appended into a reused buffer: the same bytes after what was there.
                let before = buffer.count
                post.appendCanonicalJSON(to: &buffer)
                #expect(Array(buffer[before...]) == expected)
                n += 1
            }
        }
        #expect(n == Self.texts.count * 9)
    }

    @Test("a post lent as a view encodes to the same canonical bytes as the decoded Post (x2, x1 with escapes, canonical)")
    func viewsEncodeLikePosts() throws {
        var gen = PostGenerator(seed: 5, startMillis: 1_764_000_000_000, ratePerSecond: 50)
        var decoder = PostDecoder(defaultSource: "replay")
        var lines: [[UInt8]] = []
        for _ in 0..<300 {
            let post = gen.next()
            for format in PostFormat.allCases { lines.append(PostGenerator.encode(post, format: format)) }
        }
        for (i, text) in Self.texts.enumerated() {
            let p = Post(id: "\(i)", createdAtMillis: 1_764_000_000_000 + Int64(i), text: text, lang: i % 2 == 0 ? nil : "ja",
                         authorID: "7", source: "mastodon", isRepost: i % 3 == 0, hashtags: i % 2 == 0 ? nil : ["a\"b", text])
            lines.append(p.canonicalJSON())
            var escaped = JSONWriter(asciiOnly: true)   // the same post with every non-ASCII scalar as \\u
            escaped.raw("{\"v\":1,\"id\":\"\(i)\",\"created_at\":\"2025-11-24T16:00:00.000Z\",\"text\":")
            escaped.string(text)
            escaped.raw(",\"source\":\"x\\/y\"}")
            lines.append(escaped.bytes)
        }
        var compared = 0
        for line in lines {
            var posts: [Post] = []
            var fromViews: [[UInt8]] = []
            try line.withUnsafeBufferPointer { b in
                try decoder.decode(line: b, into: &posts)
                try decoder.decode(line: b) { v in
                    var buf: [UInt8] = [1, 2]   // appended after what is there
                    v.appendCanonicalJSON(to: &buf)
                    fromViews.append(Array(buf.dropFirst(2)))
                }
            }
            #expect(fromViews == posts.map { $0.canonicalJSON() }, "\(String(decoding: line, as: UTF8.self))")
            compared += fromViews.count
        }
        #expect(compared == lines.count)
    }

    @Test("strings, asciiOnly strings and integers match the reference writer")
    func writerPiecesMatchReference() {
        for ascii in [false, true] {
            for text in Self.texts {
                var w = JSONWriter(asciiOnly: ascii)
                w.string(text)
                var r = ReferenceWriter(asciiOnly: ascii)
                r.string(text)
                #expect(w.bytes == r.bytes, "\(ascii) \(text.debugDescription)")
            }
        }
        for v: Int64 in [0, 7, -7, 10, 1234567890, Int64.max, Int64.min, -1_000_000] {
            var w = JSONWriter()
            w.int(v)
            w.int(Int(v))
            #expect(String(decoding: w.bytes, as: UTF8.self) == String(v) + String(v))
        }
        for millis: Int64 in [0, -1, 1_764_077_152_123, 946_684_799_999, 4_102_444_800_000] {
            var w = JSONWriter()
            w.timestamp(millis: millis)
            #expect(String(decoding: w.bytes, as: UTF8.self) == EventTime.format(millis: millis))
        }
    }
}
