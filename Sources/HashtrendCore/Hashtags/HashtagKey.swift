// The counting key of a hashtag (DESIGN.md "Hashtags and counting"): NFC-normalized and lower-cased.
import Foundation

/// Maps a hashtag to the key it is counted under.
///
/// Rule: `key = NFC(lowercase(NFD(tag)))`, with Unicode's default (locale-independent) full lowercase
/// mapping. Lower-casing the NFD form makes canonically equivalent spellings (precomposed or decomposed,
/// any mark order) give the same key; the final NFC makes the key compact and canonical. The key is
/// idempotent: `key(key(x)) == key(x)`.
///
/// Three paths, all giving the same result:
/// - ASCII: lower-case the bytes (no Foundation, at most one allocation).
/// - Non-ASCII whose every scalar is "key-stable" (NFC-stable, not changed by lower-casing, combining
///   class 0, never the second half of a canonical composition), e.g. most CJK, kana, Hangul syllables,
///   Arabic, Thai: the tag is its own key.
/// - Everything else: Foundation's canonical decomposition, `lowercased()`, canonical composition.
public enum HashtagKey {
    public static func key(_ tag: String) -> String {
        var tag = tag
        return tag.withUTF8 { key(utf8: $0) }
    }

    public static func key(utf8: UnsafeBufferPointer<UInt8>) -> String {
        var ascii = true
        var hasUpper = false
        for b in utf8 {
            if b >= 0x80 { ascii = false; break }
            if b >= 0x41 && b <= 0x5A { hasUpper = true }
        }
        if ascii {
            if !hasUpper { return String(decoding: utf8, as: UTF8.self) }
            return String(unsafeUninitializedCapacity: utf8.count) { out in
                for (i, b) in utf8.enumerated() {
                    out[i] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b
                }
                return utf8.count
            }
        }
        if isKeyStable(utf8) { return String(decoding: utf8, as: UTF8.self) }
        return slowKey(String(decoding: utf8, as: UTF8.self))
    }

    /// Calls `body` with the key's UTF-8 bytes without allocating in the common cases (ASCII tags, and
    /// non-ASCII tags that are already their own key): for hash-table lookups keyed by bytes on the hot
    /// path. The bytes are valid only during the call.
    @inlinable
    public static func withKey<R>(utf8: UnsafeBufferPointer<UInt8>,
                                  _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var ascii = true
        var hasUpper = false
        for b in utf8 {
            if b >= 0x80 { ascii = false; break }
            if b >= 0x41 && b <= 0x5A { hasUpper = true }
        }
        if ascii {
            if !hasUpper { return try body(utf8) }
            return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: utf8.count) { out in
                for (i, b) in utf8.enumerated() {
                    out[i] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b
                }
                return try body(UnsafeBufferPointer(out))
            }
        }
        if isKeyStable(utf8) { return try body(utf8) }
        var k = slowKey(String(decoding: utf8, as: UTF8.self))
        return try k.withUTF8 { try body($0) }
    }

    /// The reference computation (also used by tests to check the fast paths).
    @usableFromInline
    static func slowKey(_ tag: String) -> String {
        tag.decomposedStringWithCanonicalMapping.lowercased().precomposedStringWithCanonicalMapping
    }

    @usableFromInline
    static func isKeyStable(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = utf8.baseAddress else { return true }
        return KeyStability.table.withUnsafeBufferPointer { table in
            var i = 0
            while i < utf8.count {
                let (v, n) = UTF8Scan.decode(p, i, utf8.count)
                // Astral scalars and malformed bytes take the slow path.
                if v >= 0x10000 || (v == UTF8Scan.replacement && n == 1 && p[i] >= 0x80) { return false }
                if table[Int(v) >> 3] & (1 << UInt8(v & 7)) == 0 { return false }
                i += n
            }
            return true
        }
    }
}

/// One bit per BMP scalar: set when a string made only of such scalars is already its own key.
enum KeyStability {
    static let table: [UInt8] = build()

    static func build() -> [UInt8] {
        // Scalars that a canonical composition can attach to a preceding character: every non-initial
        // scalar of a canonical decomposition.
        var composesWithPrevious = [Bool](repeating: false, count: 0x10000)
        var nfcStable = [Bool](repeating: false, count: 0x10000)
        for v in 0..<0x10000 {
            guard let u = Unicode.Scalar(UInt32(v)) else { continue }
            let s = String(Character(u))
            let d = s.decomposedStringWithCanonicalMapping.unicodeScalars
            for (k, part) in d.enumerated() where k > 0 && part.value < 0x10000 {
                composesWithPrevious[Int(part.value)] = true
            }
            let c = s.precomposedStringWithCanonicalMapping.unicodeScalars
            nfcStable[v] = c.count == 1 && c.first == u
        }
        var bits = [UInt8](repeating: 0, count: 0x10000 / 8)
        for v in 0..<0x10000 {
            guard let u = Unicode.Scalar(UInt32(v)), nfcStable[v], !composesWithPrevious[v] else { continue }
            let props = u.properties
            guard props.canonicalCombiningClass == .notReordered, !props.changesWhenLowercased else { continue }
            bits[v >> 3] |= 1 << UInt8(v & 7)
        }
        return bits
    }
}
