import CZstd
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Number of bits needed for values 0...maxValue (0 for maxValue 0).
@inline(__always)
func parquetBitWidth(_ maxValue: UInt32) -> Int {
    maxValue == 0 ? 0 : 32 - maxValue.leadingZeroBitCount
}

/// RLE / bit-packing hybrid (Encodings.md): runs of 8 or more equal values become RLE runs, everything
/// else is bit-packed in groups of 8, least significant bit first. Only the final bit-packed group may be
/// padded; readers stop at the page's value count.
enum RLEHybrid {
    static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Upper bound of the encoded size of n values: runs are at least 8 values (or the tail), each costs a
    /// header of at most 5 bytes plus max(bitWidth, 4) bytes per 8 values.
    static func maxEncodedSize(count n: Int, bitWidth: Int) -> Int {
        (n / 8 + 2) * (max(bitWidth, 4) + 5) + 16
    }

    static func encode(_ values: UnsafeBufferPointer<UInt32>, bitWidth: Int, into out: inout [UInt8]) {
        let n = values.count
        let base = out.count
        let bound = maxEncodedSize(count: n, bitWidth: bitWidth)
        out.append(contentsOf: repeatElement(0, count: bound))
        let written = out.withUnsafeMutableBufferPointer { buf in
            encode(values, bitWidth: bitWidth, to: buf.baseAddress! + base)
        }
        out.removeLast(bound - written)
    }

    /// Writes through a raw pointer (the caller guarantees `maxEncodedSize` bytes); returns the size.
    private static func encode(_ values: UnsafeBufferPointer<UInt32>, bitWidth: Int, to dst: UnsafeMutablePointer<UInt8>) -> Int {
        let n = values.count
        let valueBytes = (bitWidth + 7) / 8
        var o = 0
        @inline(__always) func put(_ b: UInt8) { dst[o] = b; o += 1 }
        @inline(__always) func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { put(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
            put(UInt8(v))
        }
        @inline(__always) func runLength(at i: Int) -> Int {
            let v = values[i]
            var j = i + 1
            while j < n && values[j] == v { j += 1 }
            return j - i
        }
        var i = 0
        while i < n {
            let run = bitWidth == 0 ? n - i : runLength(at: i)
            if run >= 8 || bitWidth == 0 {
                varint(UInt64(run) << 1)
                var v = values[i]
                for _ in 0..<valueBytes { put(UInt8(truncatingIfNeeded: v)); v >>= 8 }
                i += run
                continue
            }
            // Bit-pack groups of 8 until a long run begins at a group boundary (or the data ends).
            let start = i
            var groups = 0
            while i < n {
                if i != start && runLength(at: i) >= 8 { break }
                i += 8
                groups += 1
            }
            varint(UInt64(groups) << 1 | 1)
            let end = min(i, n)
            // Each group of 8 values is exactly bitWidth bytes: bits gather in a 64-bit accumulator that is
            // flushed 32 bits at a time (bitWidth <= 32, so it never overflows), the group's tail bytewise.
            let w = UInt64(bitWidth)
            var k = start
            for _ in 0..<groups {
                var acc: UInt64 = 0
                var bits: UInt64 = 0
                if k + 8 <= end {
                    for j in 0..<8 {
                        acc |= UInt64(values[k &+ j]) << bits
                        bits &+= w
                        if bits >= 32 {
                            UnsafeMutableRawPointer(dst + o).storeBytes(of: UInt32(truncatingIfNeeded: acc).littleEndian, as: UInt32.self)
                            o &+= 4
                            acc >>= 32
                            bits &-= 32
                        }
                    }
                } else {
                    for j in 0..<8 {
                        let v = k + j < end ? UInt64(values[k + j]) : 0
                        acc |= v << bits
                        bits += w
                        if bits >= 32 {
                            UnsafeMutableRawPointer(dst + o).storeBytes(of: UInt32(truncatingIfNeeded: acc).littleEndian, as: UInt32.self)
                            o += 4
                            acc >>= 32
                            bits -= 32
                        }
                    }
                }
                while bits > 0 {
                    put(UInt8(truncatingIfNeeded: acc))
                    acc >>= 8
                    bits -= 8
                }
                k += 8
            }
            i = end
        }
        return o
    }

    /// Definition levels for a flat OPTIONAL column (bit width 1), with the 4-byte length prefix that
    /// data page v1 requires.
    static func encodeDefinitionLevels(_ levels: [UInt32], into out: inout [UInt8]) {
        let lengthAt = out.count
        out.append(contentsOf: [0, 0, 0, 0])
        levels.withUnsafeBufferPointer { encode($0, bitWidth: 1, into: &out) }
        let len = UInt32(out.count - lengthAt - 4)
        for k in 0..<4 { out[lengthAt + k] = UInt8(truncatingIfNeeded: len >> (8 * UInt32(k))) }
    }
}

/// All ones when `x == 0`, else zero, computed without a branch (a compiler turns `x == 0 ? a : b`
/// into a branch as often as not, and in the dictionary lookups that branch is unpredictable).
@inline(__always)
func allOnesIfZero(_ x: UInt64) -> UInt64 {
    ((x | (0 &- x)) >> 63) &- 1
}

/// Zeroed words on a cache-line boundary, for hash tables whose slots must not straddle two lines (an
/// Array's elements start 32 bytes into a 16-byte-aligned allocation). Accessed through `words` only,
/// so lookups pay neither bounds nor exclusivity checks.
final class AlignedWords {
    let words: UnsafeMutablePointer<UInt64>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 8, alignment: 64)
        words = raw.bindMemory(to: UInt64.self, capacity: count)
        words.initialize(repeating: 0, count: count)
    }

    deinit { words.deallocate() }

    func zero() { words.update(repeating: 0, count: count) }
}

/// Open-addressing hash set of 64-bit keys mapping to dense dictionary indices. A slot holds the key and
/// its index + 1 (0 = empty) side by side, four slots to a cache line, so a lookup reads one line.
/// Small non-negative keys (ranks, counts) also have a direct table: one load, no hashing.
struct FixedDictionary {
    private(set) var keys: [UInt64] = []
    private var table: AlignedWords
    private var mask: Int
    /// Past this many keys the writer stops using the dictionary (its page limit), so the table does not
    /// grow for the key that crosses it (doubling a table of 131,072 keys only to drop it).
    var maxCount = Int.max
    /// index + 1 of keys below `directLimit` (0 = not seen yet).
    private let direct = AlignedWords(count: FixedDictionary.directLimit)
    static let directLimit = 4096

    init(capacity: Int = 1024) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        table = AlignedWords(count: cap * 2)
        mask = cap - 1
    }

    var count: Int { keys.count }

    @inline(__always)
    private static func hash(_ k: UInt64) -> Int {
        let r = (k ^ 0x243F_6A88_85A3_08D3).multipliedFullWidth(by: 0x9E37_79B9_7F4A_7C15)
        return Int(truncatingIfNeeded: r.high ^ r.low)
    }

    /// First slot to probe: the first of a cache line's four, so the usual collisions are resolved
    /// without another miss.
    @inline(__always)
    private static func home(_ k: UInt64, _ mask: Int) -> Int { hash(k) & mask & ~3 }

    /// Loads the home slots of `values[range]` (see BytesDictionary.touch): lookups of values that are
    /// new, such as the window bounds of each next window, then find their slots in cache.
    mutating func touch<T: ParquetFixedValue>(_ values: UnsafeBufferPointer<T>, _ range: Range<Int>) {
        let sl = table.words
        var acc: UInt64 = 0
        for i in range { acc ^= sl[2 &* FixedDictionary.home(values[i].key, mask) &+ 1] }
        prefetchSink ^= acc
    }

    /// Keeps the touch loads alive (the optimizer may not drop a store to a caller-visible value).
    private(set) var prefetchSink: UInt64 = 0

    /// Returns the key's index, inserting it when new (`inserted` tells which).
    @inline(__always)
    mutating func index(of key: UInt64, inserted: inout Bool) -> UInt32 {
        if key < UInt64(FixedDictionary.directLimit) {
            let d = direct.words[Int(truncatingIfNeeded: key)]
            if d != 0 { return UInt32(truncatingIfNeeded: d &- 1) }
            let idx = hashedIndex(of: key, inserted: &inserted)
            direct.words[Int(truncatingIfNeeded: key)] = UInt64(idx) + 1
            return idx
        }
        return hashedIndex(of: key, inserted: &inserted)
    }

    @inline(__always)
    private mutating func hashedIndex(of key: UInt64, inserted: inout Bool) -> UInt32 {
        let sl = table.words
        var s = FixedDictionary.home(key, mask)
        // The four slots of the home line compared without branching on which holds the key (see
        // BytesDictionary.index); an empty slot has index word 0.
        let b = 2 &* s
        // A key is in at most one slot; an empty slot's index word is 0, so it adds nothing.
        let hit = sl[b &+ 1] & allOnesIfZero(sl[b] ^ key) | sl[b &+ 3] & allOnesIfZero(sl[b &+ 2] ^ key)
            | sl[b &+ 5] & allOnesIfZero(sl[b &+ 4] ^ key) | sl[b &+ 7] & allOnesIfZero(sl[b &+ 6] ^ key)
        if hit != 0 { return UInt32(truncatingIfNeeded: hit &- 1) }
        while true {
            let i = sl[2 &* s &+ 1]
            if i == 0 { break }
            if sl[2 &* s] == key { return UInt32(truncatingIfNeeded: i &- 1) }
            s = (s &+ 1) & mask
        }
        let idx = keys.count
        sl[2 * s] = key
        sl[2 * s + 1] = UInt64(idx + 1)
        keys.append(key)
        inserted = true
        if keys.count * 2 > mask + 1 && (keys.count <= maxCount || keys.count * 10 > (mask + 1) * 9) { grow() }
        return UInt32(idx)
    }

    private mutating func grow() {
        let cap = (mask + 1) * 2
        table = AlignedWords(count: cap * 2)
        mask = cap - 1
        let sl = table.words
        for (i, k) in keys.enumerated() {
            var s = FixedDictionary.home(k, mask)
            while sl[2 * s + 1] != 0 { s = (s + 1) & mask }
            sl[2 * s] = k
            sl[2 * s + 1] = UInt64(i + 1)
        }
    }

    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        table.zero()
        direct.zero()
    }
}

/// Hash set of byte strings for BYTE_ARRAY dictionaries, mapping each to a dense index. Every slot is 32
/// bytes, half a cache line: the hash tag and index, the length, and the value's first 16 bytes. A lookup
/// of a value of up to 16 bytes (nearly every hashtag) is decided by one slot, without touching the value
/// store, so it costs one cache miss instead of three (slot, end offsets, bytes). New values are copied
/// once, into `values`, which the dictionary page and the statistics read at the end of the chunk.
struct BytesDictionary {
    private(set) var values = ParquetByteArrays()
    /// Four words per slot: `hash >> 32 << 32 | (index + 1)` (0 = empty), length, prefix word 0, prefix word 1.
    private var table: AlignedWords
    private var mask: Int
    /// Size of the dictionary page body (PLAIN: 4-byte length + bytes per entry).
    private(set) var plainSize = 0
    /// Past this page size the writer stops using the dictionary, so the table does not grow for the
    /// value that crosses it.
    var maxPlainSize = Int.max

    init(capacity: Int = 1024) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        table = AlignedWords(count: cap * 4)
        mask = cap - 1
    }

    var count: Int { values.count }

    /// The first 16 bytes of a value as two little-endian words, zero-padded, read without touching bytes
    /// past its end (overlapping loads, then shifts).
    @inline(__always)
    static func prefixWords(_ p: UnsafeRawPointer, _ n: Int) -> (UInt64, UInt64) {
        if n >= 16 {
            return (p.loadUnaligned(as: UInt64.self), p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        if n >= 8 {
            let lo = p.loadUnaligned(as: UInt64.self)
            let hi = n == 8 ? 0 : p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) >> UInt64(8 * (16 - n))
            return (lo, hi)
        }
        if n >= 4 {
            let lo = UInt64(p.loadUnaligned(as: UInt32.self))
            let hi = UInt64(p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)) >> UInt64(8 * (8 - n))
            return (lo | hi << 32, 0)
        }
        if n == 0 { return (0, 0) }
        // 1-3 bytes: first, middle and last byte (they overlap for n < 3) at their own positions.
        let b0 = UInt64(p.load(as: UInt8.self))
        let b1 = UInt64(p.load(fromByteOffset: n >> 1, as: UInt8.self)) << UInt64(8 * (n >> 1))
        let b2 = UInt64(p.load(fromByteOffset: n - 1, as: UInt8.self)) << UInt64(8 * (n - 1))
        return (b0 | b1 | b2, 0)
    }

    /// 64x64 -> 128 multiply folded to 64 bits: the mixing step of wyhash-style hashes.
    @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    @inline(__always)
    static func hash(_ p: UnsafeRawPointer, _ n: Int, _ k0: UInt64, _ k1: UInt64) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(truncatingIfNeeded: n)
        h = mix(k0 ^ 0xA076_1D64_78BD_642F, k1 ^ h)
        if n > 16 {
            var i = 16
            while i + 16 <= n {
                h = mix(p.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ 0xE703_7ED1_A0B4_28DB,
                        p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self) ^ h)
                i += 16
            }
            if i < n {
                // The last 16 bytes (overlapping what was hashed: the length is in the seed, so still exact).
                h = mix(p.loadUnaligned(fromByteOffset: n - 16, as: UInt64.self) ^ 0x8EBC_6AF0_9C88_C6E3,
                        p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) ^ h)
            }
        }
        return mix(h ^ 0x5899_65CC_7537_4CC3, 0x1D8E_4E27_C47D_124F)
    }

    /// First slot to probe: the first of the two slots of a cache line, so a collision with one other value
    /// is resolved without another miss.
    @inline(__always)
    private func home(_ h: UInt64) -> Int { Int(truncatingIfNeeded: h) & mask & ~1 }

    /// A value's hash and prefix words, computed once for the prefetch pass and the lookup.
    struct Key {
        var hash: UInt64
        var k0: UInt64
        var k1: UInt64
    }

    @inline(__always)
    static func key(_ p: UnsafeRawPointer, _ n: Int) -> Key {
        let (k0, k1) = prefixWords(p, n)
        return Key(hash: hash(p, n, k0, k1), k0: k0, k1: k1)
    }

    /// Same as `key(p, n)` when at least 16 bytes from `p` on are readable (the value and what follows it
    /// in the same buffer): two plain loads and masks, no branches on the length, whose mix of hashtag
    /// lengths the branch predictor cannot learn.
    @inline(__always)
    static func key(_ p: UnsafeRawPointer, _ n: Int, readable: Int) -> Key {
        guard readable >= 16 else { return key(p, n) }
        // Smart shifts: a shift by 64 or more gives 0, so the masks are all-ones from 8 (16) bytes on.
        let m0 = (1 as UInt64) << UInt64(8 * n) &- 1
        let m1 = (1 as UInt64) << UInt64(8 * max(n - 8, 0)) &- 1
        let k0 = p.loadUnaligned(as: UInt64.self) & m0
        let k1 = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self) & m1
        return Key(hash: hash(p, n, k0, k1), k0: k0, k1: k1)
    }

    /// Loads the first word of each key's home slot and folds it into `prefetchSink`. A batch of lookups
    /// first touches all its slots this way: the loads are independent, so their cache misses overlap
    /// instead of being paid one after another in the probe loop. The loop is kept tiny (the hashing is
    /// done before) so the out-of-order core has many loads in flight.
    mutating func touch(_ keys: UnsafeMutableBufferPointer<Key>) {
        let w = table.words
        var acc: UInt64 = 0
        for k in keys { acc ^= w[4 &* home(k.hash)] }
        prefetchSink ^= acc
    }

    /// Keeps the touch loads alive (the optimizer may not drop a store to a caller-visible value).
    private(set) var prefetchSink: UInt64 = 0

    /// Returns the value's index, inserting it when new (`inserted` tells which).
    @inline(__always)
    mutating func index(of p: UnsafeRawPointer, count n: Int, inserted: inout Bool) -> UInt32 {
        index(of: p, count: n, key: BytesDictionary.key(p, n), inserted: &inserted)
    }

    @inline(__always)
    mutating func index(of p: UnsafeRawPointer, count n: Int, key: Key, inserted: inout Bool) -> UInt32 {
        let h = key.hash
        let k0 = key.k0
        let k1 = key.k1
        let tag = h & 0xFFFF_FFFF_0000_0000
        let len = UInt64(truncatingIfNeeded: n)
        var s = home(h)
        let sl = table.words
        // Both slots of the home line compared without branching on which one holds the value: which
        // slot it is varies from value to value, and a mispredicted branch costs more than the compares.
        let b = 4 &* s
        let d0 = (sl[b] ^ tag) >> 32 | (sl[b &+ 1] ^ len) | (sl[b &+ 2] ^ k0) | (sl[b &+ 3] ^ k1)
        let d1 = (sl[b &+ 4] ^ tag) >> 32 | (sl[b &+ 5] ^ len) | (sl[b &+ 6] ^ k0) | (sl[b &+ 7] ^ k1)
        // index + 1 of the matching slot, or 0 (an empty slot's index word is 0).
        let hit = (sl[b] & 0xFFFF_FFFF) & allOnesIfZero(d0) | (sl[b &+ 4] & 0xFFFF_FFFF) & allOnesIfZero(d1)
        if hit != 0 {
            let idx = Int(truncatingIfNeeded: hit) &- 1
            if n <= 16 || tailEqual(idx, p, n) { return UInt32(truncatingIfNeeded: idx) }
        }
        while true {
            let w0 = sl[4 &* s]
            if w0 == 0 { break }
            if w0 & 0xFFFF_FFFF_0000_0000 == tag && sl[4 &* s &+ 1] == len
                && sl[4 &* s &+ 2] == k0 && sl[4 &* s &+ 3] == k1 {
                let idx = Int(w0 & 0xFFFF_FFFF) &- 1
                if n <= 16 || tailEqual(idx, p, n) { return UInt32(truncatingIfNeeded: idx) }
            }
            s = (s &+ 1) & mask
        }
        let idx = values.count
        sl[4 * s] = tag | UInt64(idx + 1)
        sl[4 * s + 1] = len
        sl[4 * s + 2] = k0
        sl[4 * s + 3] = k1
        values.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
        plainSize += 4 + n
        inserted = true
        // At most 70% full: most lookups end in their home line, and 20,000 hashtags take 1 MiB, which
        // measured faster than a half-full table twice that size (fewer cache misses beat fewer probes).
        if values.count * 10 > (mask + 1) * 7 && (plainSize <= maxPlainSize || values.count * 10 > (mask + 1) * 9) {
            grow()
        }
        return UInt32(idx)
    }

    /// Bytes 16..<n of entry `idx` equal those of `p` (the first 16 are in the slot).
    private func tailEqual(_ idx: Int, _ p: UnsafeRawPointer, _ n: Int) -> Bool {
        values.bytes.withUnsafeBytes { b in
            memcmp(b.baseAddress! + values.start(idx) + 16, p + 16, n - 16) == 0
        }
    }

    private mutating func grow() {
        let old = table
        let cap = (mask + 1) * 2
        table = AlignedWords(count: cap * 4)
        mask = cap - 1
        let sl = table.words
        // Re-hash from the stored values: the slot keeps only the hash's upper half.
        values.bytes.withUnsafeBytes { all in
            let base = all.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!
            var o = 0
            while o < old.count {
                let w0 = old.words[o]
                if w0 != 0 {
                    let idx = Int(w0 & 0xFFFF_FFFF) - 1
                    let start = values.start(idx)
                    let n = values.ends[idx] - start
                    let h = BytesDictionary.hash(base + start, n, old.words[o + 2], old.words[o + 3])
                    var s = home(h)
                    while sl[4 * s] != 0 { s = (s + 1) & mask }
                    for k in 0..<4 { sl[4 * s + k] = old.words[o + k] }
                }
                o += 4
            }
        }
    }

    mutating func removeAll() {
        values.removeAll()
        plainSize = 0
        table.zero()
    }
}

public struct ParquetCompressionError: Error, CustomStringConvertible {
    public var description: String
}

/// Page compressor. Holds the zstd context so pages reuse its buffers.
final class PageCompressor {
    let codec: ParquetCompression
    private var cctx: OpaquePointer?

    init(_ codec: ParquetCompression) {
        self.codec = codec
        if case .zstd = codec { cctx = ZSTD_createCCtx() }
    }

    deinit { if let c = cctx { ZSTD_freeCCtx(c) } }

    var thriftCodec: Int32 {
        switch codec {
        case .uncompressed: return 0
        case .zstd: return 6
        }
    }

    /// Appends the compressed form of `input` to `out`; returns the number of bytes appended.
    func compress(_ input: [UInt8], appendingTo out: inout [UInt8]) throws -> Int {
        switch codec {
        case .uncompressed:
            out.append(contentsOf: input)
            return input.count
        case .zstd(let level):
            let bound = ZSTD_compressBound(input.count)
            let base = out.count
            out.append(contentsOf: repeatElement(0, count: bound))
            let written = input.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    ZSTD_compressCCtx(cctx, dst.baseAddress! + base, bound, src.baseAddress, src.count, level)
                }
            }
            if ZSTD_isError(written) != 0 {
                out.removeLast(bound)
                throw ParquetCompressionError(description: String(cString: ZSTD_getErrorName(written)))
            }
            out.removeLast(bound - written)
            return written
        }
    }
}
