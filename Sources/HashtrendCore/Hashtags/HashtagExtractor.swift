// Hashtag extraction following twitter-text's grammar (see docs/hashtags.md for the rules).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One hashtag found in a text.
public struct ExtractedHashtag: Sendable, Equatable, Hashable {
    /// The hashtag without its `#`/`＃`, spelled as in the text.
    public var tag: String
    /// Offset of the `#` in Unicode code points (the unit of twitter-text's conformance `indices`).
    public var start: Int
    /// Offset just past the tag's last character, in Unicode code points.
    public var end: Int

    public init(tag: String, start: Int, end: Int) {
        self.tag = tag
        self.start = start
        self.end = end
    }
}

public enum HashtagExtractor {
    /// All hashtags in `text`, in order, with code point indices.
    public static func extract(_ text: String) -> [ExtractedHashtag] {
        var text = text
        return text.withUTF8 { utf8 in
            var result: [ExtractedHashtag] = []
            // Code point offsets are counted incrementally between successive hashtags.
            var countedBytes = 0
            var countedScalars = 0
            scan(utf8) { hashStart, tagStart, tagEnd in
                countedScalars += scalarCount(utf8, countedBytes, hashStart)
                let start = countedScalars
                let tagScalars = 1 + scalarCount(utf8, tagStart, tagEnd)
                countedScalars += tagScalars
                countedBytes = tagEnd
                let tag = String(decoding: UnsafeBufferPointer(rebasing: utf8[tagStart..<tagEnd]), as: UTF8.self)
                result.append(ExtractedHashtag(tag: tag, start: start, end: start + tagScalars))
            }
            return result
        }
    }

    /// The hashtags in `text` without `#`, in order of appearance (duplicates kept).
    public static func hashtags(in text: String) -> [String] {
        var text = text
        return text.withUTF8 { utf8 in
            var result: [String] = []
            scan(utf8) { _, tagStart, tagEnd in
                result.append(String(decoding: UnsafeBufferPointer(rebasing: utf8[tagStart..<tagEnd]), as: UTF8.self))
            }
            return result
        }
    }

    /// The hot-path form: calls `body` with the bytes of each hashtag (without `#`), in order, without
    /// allocating. The bytes point into `utf8` and are valid only during the call. Invalid UTF-8 is
    /// tolerated (malformed bytes never belong to a hashtag).
    public static func forEachHashtag(utf8: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        scan(utf8) { _, tagStart, tagEnd in
            body(UnsafeBufferPointer(rebasing: utf8[tagStart..<tagEnd]))
        }
    }

    /// Number of hashtags in `utf8` (convenience for metrics and benchmarks).
    public static func countHashtags(utf8: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 0
        scan(utf8) { _, _, _ in n += 1 }
        return n
    }

    static func scalarCount(_ utf8: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Int {
        var n = 0
        var i = from
        while i < to {
            if utf8[i] & 0xC0 != 0x80 { n += 1 }
            i += 1
        }
        return n
    }

    /// The scanner shared by all entry points. Reports (offset of the hash sign, tag start, tag end) in
    /// bytes, in increasing order.
    ///
    /// It jumps from one hash-sign candidate to the next with memchr (for `#`, and for 0xEF, the first
    /// byte of `＃` U+FF03), so text without hashtags costs about as much as two memchr passes.
    static func scan(_ utf8: UnsafeBufferPointer<UInt8>, _ emit: (Int, Int, Int) -> Void) {
        guard let p = utf8.baseAddress, utf8.count > 1 else { return }
        let count = utf8.count
        HashtagClass.bmp.withUnsafeBufferPointer { table in
            let bmp = table.baseAddress!
            var urls = URLOverlapChecker()
            // Next candidate offsets of '#' and of 0xEF at or after `from` (count = none left).
            var nextHash = -1
            var nextEF = -1
            var from = 0
            while from < count {
                if nextHash < from { nextHash = find(p, count, from, 0x23) }
                if nextEF < from { nextEF = find(p, count, from, 0xEF) }
                let h: Int
                let signLength: Int
                if nextHash <= nextEF {
                    h = nextHash
                    signLength = 1
                } else {
                    h = nextEF
                    guard h + 2 < count, p[h + 1] == 0xBC, p[h + 2] == 0x83 else {
                        from = h + 1
                        continue
                    }
                    signLength = 3
                }
                if h >= count { return }
                from = h + signLength
                // Boundary: start of text, an emoji variation selector, or a character that can neither
                // be part of a hashtag nor be '&' (so "&#39;" entities and "abc#def" are no hashtags).
                if h > 0 {
                    let prev = UTF8Scan.decodeBefore(p, h, count)
                    if prev != 0xFE0E && prev != 0xFE0F
                        && (prev == 0x26 || HashtagClass.of(prev, bmp: bmp) & HashtagClass.member != 0) {
                        continue
                    }
                }
                // The run of hashtag characters after the sign; it must contain a letter or mark.
                let tagStart = from
                var i = tagStart
                var sawAlpha = false
                if i < count {
                    let first = UTF8Scan.decode(p, i, count).value
                    if first == 0xFE0F || first == 0x20E3 { continue } // keycap "#️⃣", not a hashtag
                }
                while i < count {
                    let b = p[i]
                    if b < 0x80 {
                        let c = asciiClass(b)
                        if c == 0 { break }
                        if c == 2 { sawAlpha = true }
                        i += 1
                    } else {
                        let (v, n) = UTF8Scan.decode(p, i, count)
                        let c = HashtagClass.of(v, bmp: bmp)
                        if c & HashtagClass.member == 0 { break }
                        if c & HashtagClass.alpha != 0 { sawAlpha = true }
                        i += n
                    }
                }
                guard sawAlpha else { continue }
                from = i
                // Not followed by another hash sign or by "://" (the "#http://..." case).
                if i < count {
                    if p[i] == 0x23 { continue }
                    if i + 2 < count, p[i] == 0xEF, p[i + 1] == 0xBC, p[i + 2] == 0x83 { continue }
                    if i + 2 < count, p[i] == UInt8(ascii: ":"), p[i + 1] == UInt8(ascii: "/"),
                       p[i + 2] == UInt8(ascii: "/") { continue }
                }
                // Inside a URL? Only possible when the sign is not at the start of a whitespace-free run.
                if h > 0 {
                    let b = p[h - 1]
                    let afterSpace = b == 0x20 || (b >= 0x09 && b <= 0x0D)
                    if !afterSpace && urls.covers(h, p, count, bmp: bmp) { continue }
                }
                emit(h, tagStart, i)
            }
        }
    }

    /// 0 = not a hashtag character, 1 = digit or `_`, 2 = letter.
    @inline(__always)
    static func asciiClass(_ b: UInt8) -> UInt8 {
        if b | 0x20 >= 0x61 && b | 0x20 <= 0x7A { return 2 }
        if (b >= 0x30 && b <= 0x39) || b == 0x5F { return 1 }
        return 0
    }

    /// First offset >= from holding `byte`, or count.
    @inline(__always)
    static func find(_ p: UnsafePointer<UInt8>, _ count: Int, _ from: Int, _ byte: Int32) -> Int {
        guard from < count, let hit = memchr(p + from, byte, count - from) else { return count }
        return UnsafeRawPointer(hit) - UnsafeRawPointer(p)
    }
}
