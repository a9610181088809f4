import CJSONIndex

/// The post ids the engine has seen, each with the panes it was seen in, for duplicate detection.
///
/// Expiry is by pane and lazy: a remembered pane below `floor` counts as forgotten (exactly as if it
/// had been deleted when the floor passed it), and its slot is reused or dropped when the table is
/// rebuilt. So forgetting a whole pane costs nothing per id. Open addressing with linear probing over
/// fixed-size keys; an id seen in more than one pane (rare: a duplicate across panes) keeps the
/// extra panes in a side table.
struct PostIDSet {
    /// 24 bytes: the "more panes" flag rides in bit 62 of `hi`, which no PostKey sets.
    private struct Entry {
        var hiAndFlag: UInt64
        var lo: UInt64
        /// First remembered pane; .min marks an empty slot.
        var pane: Int64

        init(hi: UInt64, lo: UInt64, pane: Int64, multi: Bool) {
            hiAndFlag = multi ? hi | PostKey.flagBit : hi
            self.lo = lo
            self.pane = pane
        }

        var hi: UInt64 { hiAndFlag & ~PostKey.flagBit }
        /// Extra panes live in `more`.
        var multi: Bool {
            get { hiAndFlag & PostKey.flagBit != 0 }
            set { hiAndFlag = newValue ? hiAndFlag | PostKey.flagBit : hiAndFlag & ~PostKey.flagBit }
        }
    }

    private var entries: [Entry]
    private var mask: Int
    private var occupied = 0
    private var more: [PostKey: [Int64]] = [:]
    /// The previous table, kept for the next rebuild when small (reusing it avoids a fresh
    /// allocation and its page faults every few thousand ids).
    private var spare: [Entry] = []
    /// Panes below this are forgotten.
    private(set) var floor: Int64 = .min

    init() {
        mask = 4095
        entries = Array(repeating: Entry(hi: 0, lo: 0, pane: .min, multi: false), count: mask + 1)
    }

    /// Slots holding an id (some of them may be expired and not yet reclaimed).
    var count: Int { occupied }

    mutating func forget(below f: Int64) {
        if f > floor { floor = f }
    }

    @inline(__always)
    private static func hash(_ k: PostKey) -> Int {
        var h = (k.lo ^ (k.hi &* 0xC2B2_AE3D_27D4_EB4F)) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 31
        return Int(truncatingIfNeeded: h)
    }

    /// Fetches the slot `key` hashes to into the cache, so that the miss (the table is larger than the
    /// caches) overlaps with other work of the record instead of stalling `rememberAndCheck`.
    /// Mutating only so that the call works in place: a non-mutating call on the engine's stored set
    /// copied the whole struct (three retains and releases per record).
    @inline(__always)
    mutating func prefetch(_ key: PostKey) {
        entries.withUnsafeBufferPointer { ht_prefetch($0.baseAddress! + (PostIDSet.hash(key) & mask)) }
    }

    /// Remembers that `key` was seen in pane `p`; returns true when it was already remembered in a
    /// pane less than `n` panes away (so the two records could share a window).
    @inline(__always)
    mutating func rememberAndCheck(_ key: PostKey, pane p: Int64, within n: Int64) -> Bool {
        let fl = floor
        var i = PostIDSet.hash(key) & mask
        var reuse = -1
        while true {
            let x = entries[i]
            if x.pane == .min { break }
            if x.lo == key.lo && x.hi == key.hi { return seenAgain(key, at: i, pane: p, within: n) }
            if reuse < 0 && !x.multi && x.pane < fl { reuse = i }
            i = (i &+ 1) & mask
        }
        if reuse >= 0 {
            entries[reuse] = Entry(hi: key.hi, lo: key.lo, pane: p, multi: false)
        } else {
            entries[i] = Entry(hi: key.hi, lo: key.lo, pane: p, multi: false)
            occupied += 1
            if occupied * 10 > (mask + 1) * 6 { rebuild() }
        }
        return false
    }

    private mutating func seenAgain(_ key: PostKey, at i: Int, pane p: Int64, within n: Int64) -> Bool {
        let fl = floor
        var x = entries[i]
        var panes: [Int64] = x.multi ? (more[key] ?? []) : [x.pane]
        panes.removeAll { $0 < fl }
        var dup = false
        var present = false
        for q in panes {
            if abs(q - p) < n { dup = true }
            if q == p { present = true }
        }
        if !present { panes.append(p) }
        if panes.count == 1 {
            if x.multi { more.removeValue(forKey: key) }
            x.pane = panes[0]
            x.multi = false
        } else {
            x.pane = panes[0]
            x.multi = true
            more[key] = panes
        }
        entries[i] = x
        return dup
    }

    private mutating func rebuild() {
        let fl = floor
        var live = 0
        for x in entries where x.pane != .min {
            if x.multi {
                if let ps = more[PostKey(hi: x.hi, lo: x.lo)], ps.contains(where: { $0 >= fl }) { live += 1 }
            } else if x.pane >= fl {
                live += 1
            }
        }
        // Small tables (a window of a stream up to a few thousand posts/s) get 4-8x the live ids: the
        // next rebuild (at 60% occupancy) is then 1.4-3.8x the live count of inserts away; at 2.5x,
        // rebuilds were twice as frequent and 4% of the hot path. Large ones keep 2.5-5x, for memory.
        var cap = 4096
        let factor = live < 1 << 17 ? 40 : 25
        while cap * 10 < live * factor { cap *= 2 }
        let empty = Entry(hi: 0, lo: 0, pane: .min, multi: false)
        var old: [Entry] = []
        swap(&old, &entries)
        if spare.count == cap {
            swap(&entries, &spare)
            entries.withUnsafeMutableBufferPointer { e in for i in e.indices { e[i].pane = .min } }
        } else {
            spare = []
            entries = Array(repeating: empty, count: cap)
        }
        mask = cap - 1
        occupied = 0
        var keptMore: [PostKey: [Int64]] = [:]
        for var x in old where x.pane != .min {
            let key = PostKey(hi: x.hi, lo: x.lo)
            if x.multi {
                guard var ps = more[key] else { continue }
                ps.removeAll { $0 < fl }
                if ps.isEmpty { continue }
                x.pane = ps[0]
                if ps.count > 1 { keptMore[key] = ps } else { x.multi = false }
            } else if x.pane < fl {
                continue
            }
            var i = PostIDSet.hash(key) & mask
            while entries[i].pane != .min { i = (i &+ 1) & mask }
            entries[i] = x
            occupied += 1
        }
        more = keptMore
        if old.count <= 1 << 16 { spare = old }
    }
}
