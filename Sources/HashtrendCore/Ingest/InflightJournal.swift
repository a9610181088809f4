import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A batch of keyed records laid out as one journal frame, built in place: the publisher encodes each
/// post straight into `bytes`, the journal writes the frame with one `write`, and the producer copies
/// key and value from the same bytes. Reused across batches (no allocation once grown).
///
/// Frame: `HTJF | count u32 | payloadBytes u32 | kind u32 | firstSeq u64 | checksum u64` (32 bytes,
/// little-endian), then per record `keyLen u32 | valueLen u32 | key | value`. The checksum covers the
/// payload and the first 24 header bytes; `kind` says which checksum: 1 = `InflightJournal.checksum4`
/// (written now), 0 = `InflightJournal.checksum` (frames of earlier versions, still read).
public struct JournalBatch {
    public static let headerBytes = 32
    public private(set) var bytes: [UInt8]
    /// Start offset (in `bytes`) of each record's framing.
    public private(set) var starts: [Int] = []

    public init(capacity: Int = 256 << 10) {
        bytes = [UInt8](repeating: 0, count: Self.headerBytes)
        bytes.reserveCapacity(capacity)
        if capacity > 0 { starts.reserveCapacity(1024) }
    }

    public var count: Int { starts.count }
    public var isEmpty: Bool { starts.isEmpty }
    public var payloadBytes: Int { bytes.count - Self.headerBytes }

    public mutating func removeAll() {
        bytes.removeSubrange(Self.headerBytes...)
        starts.removeAll(keepingCapacity: true)
    }

    /// Appends one record whose value `writeValue` appends to the buffer it is given.
    @inline(__always)
    public mutating func append(key: UnsafeBufferPointer<UInt8>, writeValue: (inout [UInt8]) -> Void) {
        let start = bytes.count
        starts.append(start)
        // keyLen and a placeholder valueLen in one append.
        var lengths = UInt64(UInt32(key.count)).littleEndian
        withUnsafeBytes(of: &lengths) { bytes.append(contentsOf: $0.bindMemory(to: UInt8.self)) }
        bytes.append(contentsOf: key)
        let valueStart = bytes.count
        writeValue(&bytes)
        let valueLen = UInt32(bytes.count - valueStart)
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: valueLen.littleEndian, toByteOffset: start + 4, as: UInt32.self) }
    }

    public mutating func append(key: [UInt8], value: [UInt8]) {
        key.withUnsafeBufferPointer { k in append(key: k) { $0.append(contentsOf: value) } }
    }

    /// Key and value of record `i` (valid while the batch is not changed).
    @inline(__always)
    public static func record(_ raw: UnsafeRawBufferPointer, at start: Int) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let k = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
        let v = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4, as: UInt32.self)))
        let k0 = start + 8
        return (UnsafeRawBufferPointer(rebasing: raw[k0..<(k0 + k)]), UnsafeRawBufferPointer(rebasing: raw[(k0 + k)..<(k0 + k + v)]))
    }

    /// The records as arrays (for the spool: a rare path).
    public func arrays(from: Int = 0) -> [(key: [UInt8], value: [UInt8])] {
        bytes.withUnsafeBytes { raw in
            starts[from...].map { s in
                let r = Self.record(raw, at: s)
                return (Array(r.key.bindMemory(to: UInt8.self)), Array(r.value.bindMemory(to: UInt8.self)))
            }
        }
    }

    /// Fills the header for `firstSeq`.
    mutating func seal(firstSeq: UInt64) {
        let count = UInt32(starts.count), payload = UInt32(payloadBytes)
        bytes.withUnsafeMutableBytes { b in
            b.storeBytes(of: InflightJournal.frameMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
            b.storeBytes(of: count.littleEndian, toByteOffset: 4, as: UInt32.self)
            b.storeBytes(of: payload.littleEndian, toByteOffset: 8, as: UInt32.self)
            b.storeBytes(of: InflightJournal.frameKind4Lane.littleEndian, toByteOffset: 12, as: UInt32.self)
            b.storeBytes(of: firstSeq.littleEndian, toByteOffset: 16, as: UInt64.self)
            let sum = InflightJournal.checksum4(UnsafeRawBufferPointer(rebasing: b[0..<24]), UnsafeRawBufferPointer(rebasing: b[Self.headerBytes...]))
            b.storeBytes(of: sum.littleEndian, toByteOffset: 24, as: UInt64.self)
        }
    }

}

/// Which sequence numbers are resolved, as a bitmap ring over the unresolved span: resolving is O(1)
/// and allocation-free however out of order Kafka's acknowledgements arrive across partitions.
struct ResolvedSeqs {
    /// Every seq below `base` is resolved.
    private(set) var base: UInt64
    /// The next seq to hand out.
    private(set) var end: UInt64
    private var words: [UInt64] = [UInt64](repeating: 0, count: 64)

    init(first: UInt64) { base = first; end = first }

    var pending: Int { Int(end - base) }

    private func bit(_ seq: UInt64) -> (Int, UInt64) {
        let i = Int(seq % UInt64(words.count * 64))
        return (i >> 6, UInt64(1) << UInt64(i & 63))
    }

    /// Hands out `n` consecutive seqs; returns the first.
    mutating func open(_ n: Int) -> UInt64 {
        let first = end
        let need = Int(end - base) + n
        if need > words.count * 64 {
            var cap = words.count * 64
            while cap < need { cap *= 2 }
            var grown = [UInt64](repeating: 0, count: cap / 64)
            for s in base..<end {
                let (w, m) = bit(s)
                if words[w] & m != 0 {
                    let i = Int(s % UInt64(cap))
                    grown[i >> 6] |= UInt64(1) << UInt64(i & 63)
                }
            }
            words = grown
        }
        end += UInt64(n)
        return first
    }

    /// Marks `seq` resolved; returns true when `base` moved.
    @discardableResult
    mutating func resolve(_ seq: UInt64) -> Bool {
        guard seq >= base && seq < end else { return false }
        if seq != base {
            let (w, m) = bit(seq)
            words[w] |= m
            return false
        }
        base += 1
        while base < end {
            let (w, m) = bit(base)
            guard words[w] & m != 0 else { break }
            words[w] &= ~m
            base += 1
        }
        return true
    }
}

/// ingestd's in-flight journal: the durability boundary for posts handed to librdkafka.
///
/// Every batch of posts is written here (one `write`, no fsync) before any of its posts is handed to the
/// producer. A post is *resolved* once Kafka acknowledged it, or once it is durably in the spool (a
/// failed delivery, or a batch that went to the spool). The page cache survives the death of the
/// process (SIGKILL, a crash, the OOM killer), so on the next start every unresolved post is read back
/// and re-sent first, through the spool: nothing handed over is lost. A post acknowledged just before the
/// kill, whose acknowledgement was not yet recorded, is sent again (same key = post id; trendd counts a
/// post id once). Power loss is not covered (no fsync per batch: that is the spool's job); the journal is
/// fsync'd on a clean close.
///
/// Layout of `<spool-dir>/inflight/`:
/// - `<firstSeq, 20 digits>.jnl`: frames of `JournalBatch`, in seq order; a new file starts past
///   `segmentBytes`, and a file is deleted once every seq in it is resolved.
/// - `RESOLVED`: the resolved watermark (every seq up to it resolved), rewritten in place by
///   `checkpoint()`; it only trims what a restart re-sends.
/// Sequence numbers keep growing across restarts (the next run starts after the highest seen), so a
/// stale watermark can never cover a new record.
public final class InflightJournal: @unchecked Sendable {
    public let directory: String
    public let segmentBytes: Int64
    static let frameMagic: UInt32 = 0x464A_5448 // "HTJF"
    /// The frame's `kind` when its checksum is `checksum4`.
    static let frameKind4Lane: UInt32 = 1
    static let resolvedMagic: UInt64 = 0x4854_4A52_4553_4F4C

    private struct Segment { let firstSeq: UInt64; var lastSeq: UInt64; let path: String }

    /// Serializes the files (appends, deletions).
    private let fileLock = NSLock()
    private var segments: [Segment] = []
    private var activeFD: Int32 = -1
    private var activeSize: Int64 = 0
    private var resolvedFD: Int32 = -1
    private var lastCheckpoint: UInt64 = 0
    /// Resolution state; its own lock so acknowledgements never wait for a write.
    private let seqLock = NSLock()
    private var seqs = ResolvedSeqs(first: 1)
    private var closed = false

    /// Unresolved records found at open, oldest first: the caller re-sends them, then calls
    /// `discardRecovered()`.
    public private(set) var recovered: [(key: [UInt8], value: [UInt8])] = []
    /// Bytes of a torn last frame (the process died inside a write) or garbage, ignored at open.
    public private(set) var tornBytes: Int64 = 0
    private var recoveredSegments: [String] = []
    private var failedWrites: Int64 = 0
    private var lastFailure: SpoolError?
    /// Batches whose write failed (their posts were produced without the journal's protection).
    public var writeErrors: Int64 { fileLock.withLock { failedWrites } }
    public var lastError: SpoolError? { fileLock.withLock { lastFailure } }

    public init(directory: String, segmentBytes: Int64 = 16 << 20) throws {
        self.directory = directory
        self.segmentBytes = max(4096, segmentBytes)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SpoolError.io(operation: "mkdir", path: directory, errno: errno)
        }
        let resolvedPath = directory + "/RESOLVED"
        resolvedFD = open(resolvedPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard resolvedFD >= 0 else { throw SpoolError.io(operation: "open", path: resolvedPath, errno: errno) }
        var watermark: UInt64 = 0
        var word = [UInt64](repeating: 0, count: 2)
        if word.withUnsafeMutableBytes({ pread(resolvedFD, $0.baseAddress, 16, 0) }) == 16,
           UInt64(littleEndian: word[1]) == UInt64(littleEndian: word[0]) ^ Self.resolvedMagic {
            watermark = UInt64(littleEndian: word[0])
        }
        lastCheckpoint = watermark
        var highest = watermark
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jnl") }
        let found = names.compactMap { n in UInt64(n.dropLast(4)).map { ($0, directory + "/" + n) } }.sorted { $0.0 < $1.0 }
        for (firstSeq, path) in found {
            recoveredSegments.append(path)
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            var expect = firstSeq
            data.withUnsafeBytes { raw in
                var off = 0
                while raw.count - off >= JournalBatch.headerBytes {
                    let h = UnsafeRawBufferPointer(rebasing: raw[off...])
                    let magic = UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
                    let count = Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
                    let payload = Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
                    let kind = UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                    let first = UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                    let sum = UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
                    guard magic == Self.frameMagic, first == expect, h.count - JournalBatch.headerBytes >= payload,
                          kind == 0 || kind == Self.frameKind4Lane else { break }
                    let body = UnsafeRawBufferPointer(rebasing: h[JournalBatch.headerBytes..<(JournalBatch.headerBytes + payload)])
                    let head = UnsafeRawBufferPointer(rebasing: h[0..<24])
                    guard (kind == 0 ? Self.checksum(head, body) : Self.checksum4(head, body)) == sum else { break }
                    var p = 0
                    var records: [(key: [UInt8], value: [UInt8])] = []
                    for _ in 0..<count {
                        guard body.count - p >= 8 else { break }
                        let k = Int(UInt32(littleEndian: body.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
                        let v = Int(UInt32(littleEndian: body.loadUnaligned(fromByteOffset: p + 4, as: UInt32.self)))
                        guard body.count - p - 8 >= k + v else { break }
                        let r = JournalBatch.record(body, at: p)
                        records.append((Array(r.key.bindMemory(to: UInt8.self)), Array(r.value.bindMemory(to: UInt8.self))))
                        p += 8 + k + v
                    }
                    guard records.count == count else { break }
                    for (i, r) in records.enumerated() where first + UInt64(i) > watermark { recovered.append(r) }
                    expect = first + UInt64(count)
                    off += JournalBatch.headerBytes + payload
                }
                tornBytes += Int64(raw.count - off)
            }
            highest = max(highest, expect - 1)
        }
        seqs = ResolvedSeqs(first: highest + 1)
    }

    deinit { closeFiles() }

    // MARK: writing

    /// Seals `batch` with the next seqs and appends it; returns its first seq. A failed write is
    /// counted (`writeErrors`, `lastError`) and its seqs count as resolved: the posts still go to Kafka,
    /// only without the protection against a kill.
    @discardableResult
    public func write(_ batch: inout JournalBatch) -> UInt64 {
        precondition(!batch.isEmpty)
        return fileLock.withLock {
            let first = seqLock.withLock { seqs.open(batch.count) }
            batch.seal(firstSeq: first)
            let last = first + UInt64(batch.count) - 1
            do {
                if activeFD < 0 || activeSize >= segmentBytes { try roll(first) }
                try batch.bytes.withUnsafeBytes { try writeAll(activeFD, $0, path: segments[segments.count - 1].path) }
                activeSize += Int64(batch.bytes.count)
                segments[segments.count - 1].lastSeq = last
            } catch {
                failedWrites += 1
                lastFailure = error as? SpoolError
                seqLock.withLock { for s in first...last { seqs.resolve(s) } }
            }
            return first
        }
    }

    private func roll(_ firstSeq: UInt64) throws {
        if activeFD >= 0 { _ = Glibc.close(activeFD); activeFD = -1 }
        let path = directory + "/" + Self.segmentName(firstSeq)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpoolError.io(operation: "create", path: path, errno: errno) }
        activeFD = fd
        activeSize = 0
        segments.append(Segment(firstSeq: firstSeq, lastSeq: firstSeq - 1, path: path))
    }

    private func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < buf.count {
            let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SpoolError.io(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    // MARK: resolving

    /// Kafka acknowledged `seq`, or it is durably in the spool. Thread-safe and cheap (no I/O).
    public func resolve(_ seq: UInt64) { seqLock.withLock { _ = seqs.resolve(seq) } }

    public func resolve(_ range: Range<UInt64>) { seqLock.withLock { for s in range { seqs.resolve(s) } } }

    /// Seqs handed out and not yet resolved.
    public var pending: Int { seqLock.withLock { seqs.pending } }

    /// Records the watermark (no fsync) and deletes the files whose records are all resolved; the
    /// active file too when nothing is pending. Cheap; call it about once a second.
    public func checkpoint() {
        fileLock.withLock {
            guard !closed else { return }
            let (base, end) = seqLock.withLock { (seqs.base, seqs.end) }
            let watermark = base - 1
            // Not while recovered records wait for `discardRecovered()`: the old watermark must keep
            // describing the old files until they are gone.
            if watermark > lastCheckpoint && resolvedFD >= 0 && recoveredSegments.isEmpty {
                var word: [UInt64] = [watermark.littleEndian, (watermark ^ Self.resolvedMagic).littleEndian]
                _ = word.withUnsafeMutableBytes { pwrite(resolvedFD, $0.baseAddress, 16, 0) }
                lastCheckpoint = watermark
            }
            let allResolved = base == end
            while let s = segments.first, s.lastSeq <= watermark, segments.count > 1 || allResolved {
                if segments.count == 1 { _ = Glibc.close(activeFD); activeFD = -1; activeSize = 0 }
                unlink(s.path)
                segments.removeFirst()
            }
        }
    }

    /// Deletes the files the recovered records came from (after the caller made them durable elsewhere).
    public func discardRecovered() {
        fileLock.withLock {
            for p in recoveredSegments { unlink(p) }
            recoveredSegments.removeAll()
            recovered.removeAll()
        }
    }

    /// Checkpoints, fsyncs what is still pending (a clean stop keeps it across a power loss too) and
    /// closes the files.
    public func close() {
        checkpoint()
        fileLock.withLock {
            guard !closed else { return }
            if activeFD >= 0 { _ = fdatasync(activeFD) }
            if resolvedFD >= 0 { _ = fdatasync(resolvedFD) }
            closeFiles()
            closed = true
        }
    }

    private func closeFiles() {
        if activeFD >= 0 { _ = Glibc.close(activeFD); activeFD = -1 }
        if resolvedFD >= 0 { _ = Glibc.close(resolvedFD); resolvedFD = -1 }
    }

    static func segmentName(_ firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".jnl"
    }

    /// `checksum` in four independent lanes over 32-byte blocks: the same kind of mixing, but the
    /// multiplications of one block do not wait for each other, so it runs about 4x faster (it reads every
    /// byte journaled). Catches torn and garbage frames; not cryptographic.
    static func checksum4(_ header: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> UInt64 {
        let k: UInt64 = 0xFF51_AFD7_ED55_8CCD
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(body.count)
        var b: UInt64 = a &+ 0x6A09_E667_F3BC_C909
        var c: UInt64 = a &+ 0xBB67_AE85_84CA_A73B
        var d: UInt64 = a &+ 0x3C6E_F372_FE94_F82B
        @inline(__always) func lane(_ h: inout UInt64, _ w: UInt64) {
            h = (h ^ w) &* k
            h = (h << 29) | (h >> 35)
        }
        for part in [header, body] {
            guard let p = part.baseAddress else { lane(&a, 0x100); continue }
            let n = part.count
            var i = 0
            while n - i >= 32 {
                lane(&a, p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                lane(&b, p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
                lane(&c, p.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
                lane(&d, p.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
                i += 32
            }
            while n - i >= 8 { lane(&a, p.loadUnaligned(fromByteOffset: i, as: UInt64.self)); i += 8 }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n { tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift; shift += 8; i += 1 }
            lane(&b, tail ^ 0x100)
        }
        var h = a ^ ((b << 16) | (b >> 48)) ^ ((c << 32) | (c >> 32)) ^ ((d << 48) | (d >> 16))
        h = (h ^ (h >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 33)
    }

    /// A fast 64-bit checksum (multiply-rotate over 8-byte words), of the frames of earlier versions
    /// (kind 0): catches torn and garbage frames; not cryptographic.
    static func checksum(_ header: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(body.count)
        @inline(__always) func mix(_ w: UInt64) {
            h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            h = (h << 29) | (h >> 35)
        }
        for part in [header, body] {
            var i = 0
            let n = part.count
            while n - i >= 8 { mix(part.loadUnaligned(fromByteOffset: i, as: UInt64.self)); i += 8 }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n { tail |= UInt64(part[i]) << shift; shift += 8; i += 1 }
            mix(tail ^ 0x100)
        }
        h ^= h >> 33
        h = h &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 33)
    }
}
