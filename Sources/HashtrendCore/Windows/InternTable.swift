#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cheap hash of a short byte string (hashtags are mostly under 16 bytes): 8 bytes per multiply.
/// Not SipHash: the tables keyed by it hold only what the engine itself counted, and a flood of
/// colliding tags costs time, never correctness.
@inline(__always)
func byteHash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    let k: UInt64 = 0x9E37_79B9_7F4A_7C15
    var h: UInt64 = UInt64(truncatingIfNeeded: n) &* 0xC2B2_AE3D_27D4_EB4F
    var i = 0
    while i &+ 8 <= n {
        let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
        h = (h ^ w) &* k
        h ^= h >> 29
        i &+= 8
    }
    if i < n {
        var w: UInt64 = 0
        var s: UInt64 = 0
        while i < n {
            w |= UInt64(p[i]) << s
            s &+= 8
            i &+= 1
        }
        h = (h ^ w) &* k
        h ^= h >> 29
    }
    h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
    return h ^ (h >> 32)
}

/// Byte strings interned to dense ids (`Int32`, reused after a sweep), so the window engine counts,
/// sums and compares tags as small integers and hashes each tag's bytes once per occurrence.
///
/// Each entry remembers the newest pane it was counted in (`lastPane`); `sweep(below:)` frees the
/// entries no retained pane refers to, which bounds the table by the tags of the retained panes in a
/// daemon that runs for months. Ids handed out are valid until the next sweep unless counted.
/// Not thread-safe (one owner, the engine); stored properties skip dynamic exclusivity checks for the
/// same reason as the engine's.
final class InternTable {
    @exclusivity(unchecked) private var arena: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private var arenaCapacity: Int
    @exclusivity(unchecked) private var arenaUsed = 0
    /// Per id: where its bytes live, their hash, and the newest pane it was counted in (.min: none).
    @exclusivity(unchecked) private(set) var offsets: [Int] = []
    @exclusivity(unchecked) private(set) var lengths: [Int32] = []
    @exclusivity(unchecked) var lastPane: [Int64] = []
    @exclusivity(unchecked) private var strings: [String?] = []
    @exclusivity(unchecked) private var inUse: [Bool] = []
    @exclusivity(unchecked) private var freeIDs: [Int32] = []
    /// Open addressing, linear probing: the top half of the hash << 32 | id + 1, 0 = empty. The hash in
    /// the slot settles most probes without reading the entry (each of those reads is a cache miss
    /// once the table outgrows the caches). No deletions between sweeps (a sweep rebuilds).
    @exclusivity(unchecked) private var slots: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) private var mask: Int
    @exclusivity(unchecked) private var occupied = 0
    /// Entries in use.
    @exclusivity(unchecked) private(set) var count = 0
    @exclusivity(unchecked) private var sweepAt = 4096
    /// Sweeps wait until the table holds at least this many entries (tests lower it).
    @exclusivity(unchecked) var sweepMinimum = 4096 {
        didSet { sweepAt = max(sweepMinimum, count * 2) }
    }
    @exclusivity(unchecked) private(set) var sweeps = 0

    init() {
        arenaCapacity = 4096
        arena = .allocate(capacity: arenaCapacity)
        mask = 1023
        slots = .allocate(capacity: mask + 1)
        slots.initialize(repeating: 0, count: mask + 1)
    }

    deinit {
        arena.deallocate()
        slots.deallocate()
    }

    /// One past the largest id handed out (size for arrays indexed by id).
    var idLimit: Int { offsets.count }

    /// The id of `bytes`, interning them when new.
    @inline(__always)
    func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        let n = bytes.count
        let p = bytes.baseAddress ?? UnsafePointer(arena)
        let h = byteHash(p, n)
        let h32 = UInt32(truncatingIfNeeded: h >> 32)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 { break }
            if UInt32(truncatingIfNeeded: s >> 32) == h32 {
                let id = Int(UInt32(truncatingIfNeeded: s)) &- 1
                if Int(lengths[id]) == n && bytesEqual(arena + offsets[id], p, n) { return Int32(id) }
            }
            i = (i &+ 1) & mask
        }
        return insert(p, n, h32, slot: i)
    }

    /// The id of `s`, interning it when new (and keeping `s` as the entry's string).
    func intern(_ s: String) -> Int32 {
        if let id = s.utf8.withContiguousStorageIfAvailable({ intern($0) }) {
            if strings[Int(id)] == nil { strings[Int(id)] = s }
            return id
        }
        let bytes = Array(s.utf8)
        return bytes.withUnsafeBufferPointer { intern($0) }
    }

    private func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ h32: UInt32, slot: Int) -> Int32 {
        if arenaUsed + n > arenaCapacity { growArena(arenaUsed + n) }
        let off = arenaUsed
        (arena + off).update(from: p, count: n)
        arenaUsed += n
        let id: Int
        if let f = freeIDs.popLast() {
            id = Int(f)
            offsets[id] = off
            lengths[id] = Int32(n)
            lastPane[id] = .min
            strings[id] = nil
            inUse[id] = true
        } else {
            id = offsets.count
            offsets.append(off)
            lengths.append(Int32(n))
            lastPane.append(.min)
            strings.append(nil)
            inUse.append(true)
        }
        slots[slot] = UInt64(h32) << 32 | UInt64(id + 1)
        occupied += 1
        count += 1
        // Up to 70% full: with the hash in the slot, a longer probe rarely reads an entry.
        if occupied * 10 > (mask + 1) * 7 { rehash(capacity: (mask + 1) * 2) }
        return Int32(id)
    }

    private func growArena(_ need: Int) {
        var cap = arenaCapacity * 2
        while cap < need { cap *= 2 }
        let a = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        a.update(from: arena, count: arenaUsed)
        arena.deallocate()
        arena = a
        arenaCapacity = cap
    }

    private func rehash(capacity: Int) {
        slots.deallocate()
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        occupied = 0
        for id in 0..<offsets.count where inUse[id] {
            // Recompute the full hash for the slot (only its top half is stored).
            let h = byteHash(arena + offsets[id], Int(lengths[id]))
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i] != 0 { i = (i &+ 1) & mask }
            slots[i] = (h >> 32) << 32 | UInt64(id + 1)
            occupied += 1
        }
    }

    /// The bytes of `id` (valid until the next intern or sweep).
    @inline(__always)
    func bytes(_ id: Int32) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: arena + offsets[Int(id)], count: Int(lengths[Int(id)]))
    }

    /// The entry as a String, made once and kept.
    func string(_ id: Int32) -> String {
        if let s = strings[Int(id)] { return s }
        let s = String(decoding: bytes(id), as: UTF8.self)
        strings[Int(id)] = s
        return s
    }

    /// UTF-8 byte order of two entries (= code point order).
    @inline(__always)
    func less(_ a: Int32, _ b: Int32) -> Bool {
        if a == b { return false }
        let la = Int(lengths[Int(a)]), lb = Int(lengths[Int(b)])
        let c = memcmp(arena + offsets[Int(a)], arena + offsets[Int(b)], min(la, lb))
        return c != 0 ? c < 0 : la < lb
    }

    func isLive(_ id: Int32) -> Bool { Int(id) < inUse.count && inUse[Int(id)] }

    @inline(__always)
    func touch(_ id: Int32, pane: Int64) {
        if lastPane[Int(id)] < pane { lastPane[Int(id)] = pane }
    }

    /// Whether a sweep is worth its cost (the table grew well past its size after the last one).
    var wantsSweep: Bool { count >= sweepAt }

    /// Frees every entry not counted in a pane at or above `floor`; `freed` hears each freed id
    /// (before it can be reused). Compacts the bytes and rebuilds the index.
    func sweep(below floor: Int64, freed: (Int32) -> Void) {
        sweep(keeping: { lastPane[$0] >= floor }, freed: freed)
    }

    /// Frees every entry for which `keep` (given the id) is false.
    func sweep(keeping keep: (Int) -> Bool, freed: (Int32) -> Void) {
        for id in 0..<offsets.count where inUse[id] && !keep(id) {
            inUse[id] = false
            strings[id] = nil
            freeIDs.append(Int32(id))
            count -= 1
            freed(Int32(id))
        }
        // Compact the arena: live bytes only, in id order.
        var cap = 4096
        var need = 0
        for id in 0..<offsets.count where inUse[id] { need += Int(lengths[id]) }
        while cap < need * 2 { cap *= 2 }
        let a = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        var used = 0
        for id in 0..<offsets.count where inUse[id] {
            let n = Int(lengths[id])
            (a + used).update(from: arena + offsets[id], count: n)
            offsets[id] = used
            used += n
        }
        arena.deallocate()
        arena = a
        arenaCapacity = cap
        arenaUsed = used
        // Free ids are reused smallest first, so arrays indexed by id stay dense.
        freeIDs.sort(by: >)
        var c = 1024
        while c < count * 4 { c *= 2 }
        rehash(capacity: c)
        sweepAt = max(sweepMinimum, count * 2)
        sweeps += 1
    }
}
