/// The last `capacity` post ids seen, to drop duplicates a reconnect with backfill (or X itself,
/// which documents duplicate delivery) produces. Oldest id evicted first; memory is bounded.
/// Not thread-safe: one per stream, used on its thread.
///
/// Runs once per ingested post, so it avoids `Set<String>` (three SipHash passes per post): an
/// open-addressing table of 64-bit fingerprints of the id's bytes points into the ring of ids, and a
/// fingerprint match is confirmed by comparing the ids, so the answer is exact.
public struct RecentIDs: Sendable {
    public let capacity: Int
    private var ring: [String] = []
    private var next = 0
    /// Fingerprints (0: empty slot) and, in the same positions, the ring index of each id.
    private var fingerprints: [UInt64]
    private var positions: [Int32]
    private var mask: Int

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max))
        self.capacity = capacity
        // Grows with the ids held (load <= 1/2), so a large capacity costs nothing until it is used.
        let size = 1 << 10
        fingerprints = [UInt64](repeating: 0, count: size)
        positions = [Int32](repeating: 0, count: size)
        mask = size - 1
        ring.reserveCapacity(min(capacity, 1 << 16))
    }

    public var count: Int { ring.count }
    public func contains(_ id: String) -> Bool { find(id, Self.fingerprint(id)) != nil }

    /// Records `id`; returns false when it was already among the recent ids (a duplicate).
    @discardableResult
    public mutating func insert(_ id: String) -> Bool {
        let fp = Self.fingerprint(id)
        guard find(id, fp) == nil else { return false }
        let at: Int
        if ring.count < capacity {
            at = ring.count
            ring.append(id)
            if ring.count * 2 > fingerprints.count { grow() }
        } else {
            at = next
            if let old = find(ring[at], Self.fingerprint(ring[at])) { remove(old) }
            ring[at] = id
            next = (next + 1) % capacity
        }
        var i = Int(truncatingIfNeeded: fp) & mask
        while fingerprints[i] != 0 { i = (i + 1) & mask }
        fingerprints[i] = fp
        positions[i] = Int32(at)
        return true
    }

    /// The table slot holding `id`, if any.
    private func find(_ id: String, _ fp: UInt64) -> Int? {
        var i = Int(truncatingIfNeeded: fp) & mask
        while true {
            let f = fingerprints[i]
            if f == 0 { return nil }
            if f == fp && ring[Int(positions[i])] == id { return i }
            i = (i + 1) & mask
        }
    }

    /// Backward-shift deletion: later entries of the probe run move up, so no tombstones accumulate.
    private mutating func remove(_ slot: Int) {
        var hole = slot
        var j = slot
        while true {
            j = (j + 1) & mask
            let f = fingerprints[j]
            if f == 0 { break }
            let home = Int(truncatingIfNeeded: f) & mask
            // The entry at j may fill the hole only if its home is not cyclically within (hole, j].
            let stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if stays { continue }
            fingerprints[hole] = f
            positions[hole] = positions[j]
            hole = j
        }
        fingerprints[hole] = 0
    }

    private mutating func grow() {
        let size = fingerprints.count * 2
        var fps = [UInt64](repeating: 0, count: size)
        var pos = [Int32](repeating: 0, count: size)
        let m = size - 1
        for k in 0..<fingerprints.count where fingerprints[k] != 0 {
            var i = Int(truncatingIfNeeded: fingerprints[k]) & m
            while fps[i] != 0 { i = (i + 1) & m }
            fps[i] = fingerprints[k]
            pos[i] = positions[k]
        }
        fingerprints = fps
        positions = pos
        mask = m
    }

    /// A 64-bit mix of the id's UTF-8 bytes (never 0: 0 marks an empty slot).
    static func fingerprint(_ id: String) -> UInt64 {
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
            return h == 0 ? 1 : h
        }
        if let h = id.utf8.withContiguousStorageIfAvailable(mix) { return h }
        var copy = id
        return copy.withUTF8(mix)
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
