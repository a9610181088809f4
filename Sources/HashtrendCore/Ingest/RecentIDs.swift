import Foundation

/// The last `capacity` post ids seen, to drop duplicates a reconnect with backfill (or X itself,
/// which documents duplicate delivery) produces. Oldest id evicted first; memory is bounded.
/// Not thread-safe: one per stream, used on its thread.
///
/// Runs once per ingested post, so it avoids `Set<String>` (three SipHash passes and scattered string
/// reads per post): an open-addressing table of one word per id (the high 36 bits of a fingerprint of
/// the id's bytes, the low 28 bits its place in the ring of ids) answers with about one cache miss; a
/// fingerprint match is confirmed by comparing the ids, so the answer is exact. The ring keeps each id's
/// bytes in a fixed 32-byte slot (X and Mastodon ids are 18-19 digits), so a new id costs no allocation
/// and an evicted one no release; a longer id keeps its bytes in a side table.
public struct RecentIDs: Sendable {
    public let capacity: Int
    /// `slotBytes` per ring entry: the id's length, then up to `inlineBytes` of its UTF-8 (an id longer
    /// than that is in `longIDs`, by ring index).
    private var slots: [UInt8] = []
    private var longIDs: [Int: [UInt8]] = [:]
    /// The fingerprint of each ring entry: eviction finds its table slot without reading the old id.
    private var ringPrints: [UInt64] = []
    private var next = 0
    /// `fingerprint & fpMask | ringIndex`, 0 for an empty slot (a fingerprint is never 0 in its bits).
    private var table: [UInt64]
    private var mask: Int
    private static let indexBits: UInt64 = 28
    private static let indexMask: UInt64 = (1 << indexBits) - 1
    private static let slotBytes = 32
    private static let inlineBytes = slotBytes - 1

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= Int(Self.indexMask) + 1)
        self.capacity = capacity
        // Grows with the ids held (load <= 1/2), so a large capacity costs nothing until it is used.
        let size = 1 << 10
        table = [UInt64](repeating: 0, count: size)
        mask = size - 1
        slots.reserveCapacity(min(capacity, 1 << 16) * Self.slotBytes)
        ringPrints.reserveCapacity(min(capacity, 1 << 16))
    }

    public var count: Int { ringPrints.count }

    public func contains(_ id: String) -> Bool {
        var id = id
        return id.withUTF8 { find($0, Self.fingerprint(bytes: $0)) != nil }
    }

    /// Records `id`; returns false when it was already among the recent ids (a duplicate).
    @discardableResult
    public mutating func insert(_ id: String) -> Bool {
        var id = id
        return id.withUTF8 { insert(utf8: $0) }
    }

    /// `insert` for an id given as UTF-8 bytes.
    @discardableResult
    public mutating func insert(utf8 id: UnsafeBufferPointer<UInt8>) -> Bool {
        let fp = Self.fingerprint(bytes: id)
        guard find(id, fp) == nil else { return false }
        insertNew(id, fp)
        return true
    }

    private mutating func insertNew(_ id: UnsafeBufferPointer<UInt8>, _ fp: UInt64) {
        let at: Int
        if ringPrints.count < capacity {
            at = ringPrints.count
            ringPrints.append(fp)
            slots.append(contentsOf: repeatElement(0, count: Self.slotBytes))
            if ringPrints.count * 2 > table.count { grow() }
        } else {
            at = next
            remove(slotOf(index: at, fp: ringPrints[at]))
            ringPrints[at] = fp
            next = next + 1 == capacity ? 0 : next + 1
        }
        store(id, at: at)
        var i = Self.home(fp, mask)
        while table[i] != 0 { i = (i + 1) & mask }
        table[i] = (fp & ~Self.indexMask) | UInt64(at)
    }

    /// Writes `id` into ring slot `at` (its long form aside when it does not fit).
    private mutating func store(_ id: UnsafeBufferPointer<UInt8>, at: Int) {
        let n = id.count
        if n > Self.inlineBytes {
            longIDs[at] = Array(id)
        } else if !longIDs.isEmpty {
            longIDs[at] = nil
        }
        slots.withUnsafeMutableBufferPointer { s in
            let o = at * Self.slotBytes
            s[o] = UInt8(truncatingIfNeeded: min(n, 255))
            if n <= Self.inlineBytes, n > 0 { (s.baseAddress! + o + 1).update(from: id.baseAddress!, count: n) }
        }
    }

    /// Whether ring entry `at` holds exactly `id`.
    private func holds(_ at: Int, _ id: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = id.count
        if n > Self.inlineBytes {
            guard let long = longIDs[at] else { return false }
            return long.elementsEqual(id)
        }
        return slots.withUnsafeBufferPointer { s in
            let o = at * Self.slotBytes
            guard Int(s[o]) == n else { return false }
            return n == 0 || memcmp(s.baseAddress! + o + 1, id.baseAddress!, n) == 0
        }
    }

    @inline(__always) private static func home(_ word: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: word >> indexBits) & mask }

    /// The table slot holding `id`, if any.
    @inline(__always)
    private func find(_ id: UnsafeBufferPointer<UInt8>, _ fp: UInt64) -> Int? {
        let high = fp & ~Self.indexMask
        var i = Self.home(fp, mask)
        while true {
            let w = table[i]
            if w == 0 { return nil }
            if w & ~Self.indexMask == high && holds(Int(w & Self.indexMask), id) { return i }
            i = (i + 1) & mask
        }
    }

    /// The slot of ring entry `index` (present by construction).
    private func slotOf(index: Int, fp: UInt64) -> Int {
        let word = (fp & ~Self.indexMask) | UInt64(index)
        var i = Self.home(fp, mask)
        while table[i] != word { i = (i + 1) & mask }
        return i
    }

    /// Backward-shift deletion: later entries of the probe run move up, so no tombstones accumulate.
    private mutating func remove(_ slot: Int) {
        var hole = slot
        var j = slot
        while true {
            j = (j + 1) & mask
            let w = table[j]
            if w == 0 { break }
            let home = Self.home(w, mask)
            // The entry at j may fill the hole only if its home is not cyclically within (hole, j].
            let stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if stays { continue }
            table[hole] = w
            hole = j
        }
        table[hole] = 0
    }

    private mutating func grow() {
        let size = table.count * 2
        var t = [UInt64](repeating: 0, count: size)
        let m = size - 1
        for w in table where w != 0 {
            var i = Self.home(w, m)
            while t[i] != 0 { i = (i + 1) & m }
            t[i] = w
        }
        table = t
        mask = m
    }

    /// A 64-bit mix of the id's UTF-8 bytes (never 0: 0 marks an empty slot).
    static func fingerprint(_ id: String) -> UInt64 {
        var copy = id
        return copy.withUTF8(fingerprint(bytes:))
    }

    static func fingerprint(bytes b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        @inline(__always) func mix(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(b.count)
            var i = 0
            let n = b.count
            let raw = UnsafeRawBufferPointer(b)
            while n - i >= 8 {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                h ^= h >> 32
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n { tail |= UInt64(b[i]) << shift; shift += 8; i += 1 }
            h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
            h ^= h >> 29
            h = h &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            // Never 0 in the bits the table keeps: 0 marks an empty slot.
            return h & ~RecentIDs.indexMask == 0 ? h | (1 << 63) : h
        }
        return mix(b)
    }
}

/// A tiny JSON scan for one string value at a key path, without parsing the document: enough to key
/// and de-duplicate stream lines (`["data", "id"]` for v2, `["id_str"]` for v1.1) before the full
/// decoder runs elsewhere. Keys are matched only at the right depth, so an `"id"` inside
/// `entities.mentions` or `includes` does not count. Escapes inside the value are not decoded
/// (ids never contain any).
public enum JSONKeyScan {
    public static func stringValue(at path: [String], in b: UnsafeBufferPointer<UInt8>) -> String? {
        let keys = path.map { Array($0.utf8) }
        var depth = 0          // object/array nesting
        var matched = 0        // how many path components matched, by the enclosing objects
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if matched > 0 && depth == matched + 1 { return nil }  // leaving the object the path led into
                depth -= 1
                i += 1
            case UInt8(ascii: "\""):
                let start = i + 1
                var j = start
                while j < n && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                guard j < n else { return nil }
                let end = j
                j += 1
                while j < n, b[j] == 32 || b[j] == 9 || b[j] == 10 || b[j] == 13 { j += 1 }
                if j < n && b[j] == UInt8(ascii: ":") && depth == matched + 1 && matched < keys.count
                    && equal(b, start, end, keys[matched]) {
                    j += 1
                    while j < n, b[j] == 32 || b[j] == 9 || b[j] == 10 || b[j] == 13 { j += 1 }
                    if matched == keys.count - 1 {
                        guard j < n, b[j] == UInt8(ascii: "\"") else { return nil }
                        var k = j + 1
                        while k < n && b[k] != UInt8(ascii: "\"") { k += b[k] == UInt8(ascii: "\\") ? 2 : 1 }
                        guard k < n else { return nil }
                        return String(decoding: UnsafeBufferPointer(rebasing: b[(j + 1)..<k]), as: UTF8.self)
                    }
                    guard j < n, b[j] == UInt8(ascii: "{") else { return nil }
                    matched += 1
                }
                i = j
            default:
                i += 1
            }
        }
        return nil
    }

    private static func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, _ key: [UInt8]) -> Bool {
        guard e - s == key.count else { return false }
        for k in 0..<key.count where b[s + k] != key[k] { return false }
        return true
    }

    /// The first key of the top-level object (v1.1 control messages have a single distinctive key).
    public static func firstKey(in b: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        let n = b.count
        while i < n, b[i] == 32 || b[i] == 9 { i += 1 }
        guard i < n, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while i < n, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 }
        guard i < n, b[i] == UInt8(ascii: "\"") else { return nil }
        var j = i + 1
        while j < n && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
        guard j < n else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: b[(i + 1)..<j]), as: UTF8.self)
    }

    /// Whether the top-level object has `key` (depth-1 match).
    public static func hasTopLevelKey(_ key: String, in b: UnsafeBufferPointer<UInt8>) -> Bool {
        let k = Array(key.utf8)
        var depth = 0
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1; i += 1; continue }
            if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { depth -= 1; i += 1; continue }
            if c == UInt8(ascii: "\"") {
                let s = i + 1
                var j = s
                while j < n && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                guard j < n else { return false }
                let e = j
                j += 1
                while j < n, b[j] == 32 || b[j] == 9 { j += 1 }
                if depth == 1, j < n, b[j] == UInt8(ascii: ":"), equal(b, s, e, k) { return true }
                i = j
                continue
            }
            i += 1
        }
        return false
    }
}
