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
            var acc: UInt64 = 0
            var bits = 0
            let w = UInt64(bitWidth)
            for k in start..<(start + groups * 8) {
                let v = k < end ? UInt64(values[k]) : 0
                acc |= v << UInt64(bits)
                bits += Int(w)
                while bits >= 8 {
                    put(UInt8(truncatingIfNeeded: acc))
                    acc >>= 8
                    bits -= 8
                }
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

/// Open-addressing hash set of 64-bit keys mapping to dense dictionary indices. Swift's Dictionary is
/// correct but several times slower for this per-value lookup.
struct FixedDictionary {
    private(set) var keys: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int = 1024) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
    }

    var count: Int { keys.count }

    @inline(__always)
    private static func hash(_ k: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 32 ^ (k &* 0xC2B2_AE3D_27D4_EB4F))
    }

    /// Returns the key's index, inserting it when new (`inserted` tells which).
    @inline(__always)
    mutating func index(of key: UInt64, inserted: inout Bool) -> UInt32 {
        var s = FixedDictionary.hash(key) & mask
        while true {
            let idx = slots[s]
            if idx < 0 { break }
            if keys[Int(idx)] == key { return UInt32(idx) }
            s = (s + 1) & mask
        }
        let idx = Int32(keys.count)
        slots[s] = idx
        keys.append(key)
        inserted = true
        if keys.count * 4 > slots.count * 3 { grow() }
        return UInt32(idx)
    }

    private mutating func grow() {
        let cap = slots.count * 2
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
        for (i, k) in keys.enumerated() {
            var s = FixedDictionary.hash(k) & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(i)
        }
    }

    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        for i in slots.indices { slots[i] = -1 }
    }
}

/// Hash set of byte strings stored back to back in one buffer, for BYTE_ARRAY dictionaries. Lookups
/// compare bytes in place, so no value is copied unless it is new. A slot holds the value's 32-bit hash
/// and index + 1 (0 = empty), so most mismatches are rejected without touching the bytes.
struct BytesDictionary {
    private(set) var values = ParquetByteArrays()
    private var slots: [UInt64]
    private var mask: Int
    /// Size of the dictionary page body (PLAIN: 4-byte length + bytes per entry).
    private(set) var plainSize = 0

    init(capacity: Int = 1024) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        slots = [UInt64](repeating: 0, count: cap)
        mask = cap - 1
    }

    var count: Int { values.count }

    @inline(__always)
    static func hash(_ p: UnsafeRawPointer, _ n: Int) -> UInt32 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
        }
        h = h &* 0xC2B2_AE3D_27D4_EB4F
        return UInt32(truncatingIfNeeded: h >> 32)
    }

    /// Equality of short byte strings without a libc call (hashtags are mostly under 16 bytes).
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        if n - i >= 4 {
            if a.loadUnaligned(fromByteOffset: i, as: UInt32.self) != b.loadUnaligned(fromByteOffset: i, as: UInt32.self) {
                return false
            }
            i += 4
        }
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    mutating func index(of p: UnsafeRawPointer, count n: Int, inserted: inout Bool) -> UInt32 {
        let h = BytesDictionary.hash(p, n)
        let tag = UInt64(h) << 32
        var s = Int(h) & mask
        let found: Int = slots.withUnsafeBufferPointer { sl in
            values.bytes.withUnsafeBytes { bytes in
                values.ends.withUnsafeBufferPointer { ends in
                    while true {
                        let slot = sl[s]
                        if slot == 0 { return -1 }
                        if slot & 0xFFFF_FFFF_0000_0000 == tag {
                            let idx = Int(slot & 0xFFFF_FFFF) - 1
                            let start = idx == 0 ? 0 : ends[idx - 1]
                            if ends[idx] - start == n && (n == 0 || BytesDictionary.equal(bytes.baseAddress! + start, p, n)) {
                                return idx
                            }
                        }
                        s = (s + 1) & mask
                    }
                }
            }
        }
        if found >= 0 { return UInt32(found) }
        let idx = values.count
        slots[s] = tag | UInt64(idx + 1)
        values.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
        plainSize += 4 + n
        inserted = true
        if values.count * 4 > slots.count * 3 { grow() }
        return UInt32(idx)
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot != 0 {
            var s = Int(slot >> 32) & mask
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = slot
        }
    }

    mutating func removeAll() {
        values.removeAll()
        plainSize = 0
        for i in slots.indices { slots[i] = 0 }
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
