import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a spool operation failed.
public enum SpoolError: Error, Equatable, CustomStringConvertible {
    /// Appending would take the spool's files past `maxBytes`. Nothing of the batch was written.
    case full(diskBytes: Int64, needed: Int64, maxBytes: Int64)
    /// A key or value longer than a record can frame (4 GiB).
    case recordTooLarge(Int)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// Another process holds the spool directory.
    case locked(path: String)
    /// `commit(upTo:)` named a sequence number that was never appended.
    case commitBeyondEnd(seq: UInt64, last: UInt64)
    /// A record read back does not match its CRC (the disk changed under us after recovery).
    case corrupt(path: String, offset: Int64)

    public var description: String {
        switch self {
        case .full(let d, let n, let m): return "spool full: \(d) bytes on disk + \(n) needed > max \(m)"
        case .recordTooLarge(let n): return "spool record too large (\(n) bytes)"
        case .io(let op, let p, let e): return "spool \(op) \(p): \(String(cString: strerror(e)))"
        case .locked(let p): return "spool \(p) is in use by another process"
        case .commitBeyondEnd(let s, let l): return "spool commit up to \(s) beyond the last appended record \(l)"
        case .corrupt(let p, let o): return "spool record at \(p)@\(o) fails its CRC"
        }
    }
}

/// One spooled post, with its position in the spool.
public struct SpoolRecord: Sendable, Equatable {
    public let seq: UInt64
    public let key: [UInt8]
    public let value: [UInt8]
}

/// Turns Kafka's delivery reports, which arrive out of order across partitions, into the position
/// `Spool.commit(upTo:)` may take: the highest seq with it and every seq before it acknowledged.
public struct SpoolAckWindow: Sendable {
    /// Commit up to here (`Spool.commit(upTo: window.committable)`) when it grew.
    public private(set) var committable: UInt64
    private var acked: Set<UInt64> = []

    /// `committed`: the spool's `committedSeq` when draining (re)starts.
    public init(after committed: UInt64) { committable = committed }

    /// Records one acknowledged seq; returns true when `committable` moved.
    @discardableResult
    public mutating func ack(_ seq: UInt64) -> Bool {
        guard seq > committable else { return false }
        acked.insert(seq)
        let before = committable
        while acked.remove(committable + 1) != nil { committable += 1 }
        return committable != before
    }

    /// Seqs acknowledged beyond a gap (a failed or pending delivery holds them back).
    public var waiting: Int { acked.count }
}

/// What opening the spool found and repaired.
public struct SpoolRecovery: Sendable, Equatable {
    /// Bytes cut from segment ends: a torn last record (a crash mid-append) or garbage after it.
    public var tornBytesDropped: Int64 = 0
    /// Fully committed segments removed (a crash between committing and deleting them).
    public var committedSegmentsRemoved: Int = 0
    /// The commit file was unreadable, so draining restarts from the oldest record (duplicates, no loss).
    public var commitStateReset: Bool = false
}

/// ingestd's disk spool: posts that could not go to Kafka (broker unreachable, producer queue full)
/// wait here, in order, and are drained to Kafka before new posts when the broker is back and on the
/// next start.
///
/// Layout of the directory:
/// - `<firstSeq, 20 digits>.seg`: segment files, a 16-byte header (`HTSPOOL1`, first seq) then records
///   `crc32 u32 | keyLen u32 | valueLen u32 | seq u64 | key | value` (little-endian; the CRC covers
///   everything after itself). A new segment starts once the current one reaches `segmentBytes`.
/// - `COMMIT`: the last sequence number Kafka acknowledged (`HTSPCMT1`, seq, crc), replaced by rename.
/// - `LOCK`: flock'd while open, so two daemons never share a spool.
///
/// Durability: `append(batch:)` returns after the bytes are written and fdatasync'd (plus the
/// directory fsync'd when a segment was created), so an acknowledged post survives SIGKILL or power
/// loss. `append(key:value:)` only writes; call `sync()` before acknowledging. On open, every segment
/// is scanned; the first record that is short or fails its CRC ends the segment and the file is cut
/// there (a torn tail).
///
/// Draining is at-least-once with exact resume: `peek` reads without consuming, `commit(upTo:)` after
/// Kafka acknowledged those records persists the position; segments wholly at or below it are deleted.
/// A crash between a produce and its commit re-sends those records (Kafka's key = post id makes the
/// duplicates harmless downstream: trendd counts a post id once). Delivery reports arrive out of
/// order across partitions: feed them to a `SpoolAckWindow` and commit its `committable`. Each
/// commit costs a file write, a rename and two fsyncs: commit per batch, not per record.
///
/// Typical use in ingestd:
/// ```
/// let spool = try Spool(directory: "/var/lib/hashtrend/spool", maxBytes: 2 << 30)
/// // producer unavailable or queue full:
/// try spool.append(batch: posts.map { (key: $0.idBytes, value: $0.json) })   // durable on return
/// // broker back (and at start-up), before new posts:
/// var window = SpoolAckWindow(after: spool.committedSeq)
/// let records = try spool.peek(max: 1000)           // produce them; on each delivery report:
/// if window.ack(seq) { try spool.commit(upTo: window.committable) }
/// // a failed delivery: stop, and peek again from the committed position (at-least-once)
/// ```
/// `count`/`bytes` are the figures for `STATUS=`; `SpoolError.full` must be counted and logged by
/// the caller (the post is then lost, loudly). A batch larger than `segmentBytes` stays in one
/// segment, so segments are "about" that size. Records torn in a middle segment (disk damage, not
/// a crash) cut that segment there; later segments are kept.
public final class Spool: @unchecked Sendable {
    public let directory: String
    public let maxBytes: Int64
    public let segmentBytes: Int64
    public private(set) var recovery = SpoolRecovery()

    private struct Segment {
        let firstSeq: UInt64
        var lastSeq: UInt64      // firstSeq - 1 while empty
        var size: Int64          // file size, header included
        var fd: Int32
        let path: String
    }

    /// A place in the spool: the record `seq` starts at `offset` of segment `segment` (index).
    private struct Position { var seq: UInt64; var segment: Int; var offset: Int64 }

    static let segmentMagic: [UInt8] = Array("HTSPOOL1".utf8)
    static let commitMagic: [UInt8] = Array("HTSPCMT1".utf8)
    static let segmentHeaderBytes: Int64 = 16
    static let recordHeaderBytes = 20
    static let maxField = Int(UInt32.max)

    private let lock = NSLock()
    private var segments: [Segment] = []
    private var committed: UInt64 = 0
    private var last: UInt64 = 0
    private var lockFD: Int32 = -1
    private var dirty = false          // written since the last fdatasync
    private var dirDirty = false       // a segment was created since the last directory fsync
    private var commitPos: Position    // the first record after `committed`
    private var readCursor: Position?  // where the last peek stopped, for the next one
    private var closed = false

    /// Opens (creating if needed) the spool in `directory` and recovers it.
    public init(directory: String, maxBytes: Int64, segmentBytes: Int64 = 64 << 20) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        self.segmentBytes = max(4096, segmentBytes)
        commitPos = Position(seq: 1, segment: 0, offset: Self.segmentHeaderBytes)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SpoolError.io(operation: "mkdir", path: directory, errno: errno)
        }
        let lockPath = directory + "/LOCK"
        lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw SpoolError.io(operation: "open", path: lockPath, errno: errno) }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            sysClose(lockFD)
            throw SpoolError.locked(path: directory)
        }
        var rec = SpoolRecovery()
        do {
            try recover(&rec)
        } catch {
            for s in segments { sysClose(s.fd) }
            sysClose(lockFD)
            throw error
        }
        recovery = rec
    }

    deinit {
        if !closed {
            for s in segments { sysClose(s.fd) }
            if lockFD >= 0 { sysClose(lockFD) }
        }
    }

    // MARK: figures (for STATUS=)

    /// Records appended and not yet committed.
    public var count: Int {
        lock.withLock {
            var n: UInt64 = 0
            for s in segments where s.lastSeq > committed && s.lastSeq >= s.firstSeq {
                n += s.lastSeq - max(s.firstSeq - 1, committed)
            }
            return Int(n)
        }
    }

    /// Bytes of the records not yet committed (framing included).
    public var bytes: Int64 {
        lock.withLock {
            var b: Int64 = 0
            for (i, s) in segments.enumerated() where i >= commitPos.segment {
                b += s.size - (i == commitPos.segment ? commitPos.offset : Self.segmentHeaderBytes)
            }
            return b
        }
    }

    /// The spool's files' total size: what `maxBytes` bounds.
    public var diskBytes: Int64 { lock.withLock { segments.reduce(0) { $0 + $1.size } } }

    /// The last sequence number Kafka acknowledged (0: none).
    public var committedSeq: UInt64 { lock.withLock { committed } }

    /// The last sequence number appended (0: none ever).
    public var lastSeq: UInt64 { lock.withLock { last } }

    /// Nothing left to drain.
    public var isEmpty: Bool { count == 0 }

    // MARK: appending

    /// Appends one record; returns its sequence number. The bytes are written but not yet durable:
    /// call `sync()` before acknowledging the post anywhere.
    @discardableResult
    public func append(key: [UInt8], value: [UInt8]) throws -> UInt64 {
        try lock.withLock { try appendLocked(CollectionOfOne((key: key, value: value))).lowerBound }
    }

    /// Appends records in order, all or none of them (a full spool rejects the whole batch), and makes
    /// them durable (fdatasync) before returning their sequence numbers. nil for an empty batch.
    @discardableResult
    public func append(batch: [(key: [UInt8], value: [UInt8])]) throws -> ClosedRange<UInt64>? {
        guard !batch.isEmpty else { return nil }
        return try lock.withLock {
            let r = try appendLocked(batch)
            try syncLocked()
            return r
        }
    }

    /// Appends records in order, all or none of them, without fdatasync: they survive the death of the
    /// process (the page cache keeps them) but not a power loss until `sync()`. For posts written while
    /// spooling, synced in batches.
    @discardableResult
    public func appendUnsynced(batch: [(key: [UInt8], value: [UInt8])]) throws -> ClosedRange<UInt64>? {
        guard !batch.isEmpty else { return nil }
        return try lock.withLock { try appendLocked(batch) }
    }

    /// Makes every record appended so far durable.
    public func sync() throws { try lock.withLock { try syncLocked() } }

    private func appendLocked<C: Collection>(_ records: C) throws -> ClosedRange<UInt64> where C.Element == (key: [UInt8], value: [UInt8]) {
        precondition(!closed, "spool used after close()")
        var needed: Int64 = 0
        for r in records {
            guard r.key.count <= Self.maxField else { throw SpoolError.recordTooLarge(r.key.count) }
            guard r.value.count <= Self.maxField else { throw SpoolError.recordTooLarge(r.value.count) }
            needed += Int64(Self.recordHeaderBytes + r.key.count + r.value.count)
        }
        let roll = segments.last.map { $0.size >= segmentBytes } ?? true
        if roll { needed += Self.segmentHeaderBytes }
        let disk = segments.reduce(0) { $0 + $1.size }
        guard disk + needed <= maxBytes else { throw SpoolError.full(diskBytes: disk, needed: needed, maxBytes: maxBytes) }
        if roll { try createSegment(firstSeq: last + 1) }

        var buf = [UInt8]()
        buf.reserveCapacity(Int(needed))
        var seq = last
        for r in records {
            seq += 1
            Self.encode(seq: seq, key: r.key, value: r.value, into: &buf)
        }
        let i = segments.count - 1
        let start = segments[i].size
        try writeAll(segments[i].fd, buf, at: start, path: segments[i].path)
        let first = last + 1
        segments[i].size += Int64(buf.count)
        segments[i].lastSeq = seq
        last = seq
        dirty = true
        return first...seq
    }

    private func writeAll(_ fd: Int32, _ buf: [UInt8], at offset: Int64, path: String) throws {
        var done = 0
        let err: Int32? = buf.withUnsafeBytes { raw -> Int32? in
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + Int64(done)))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let err {
            // Leave no half record behind in this process's view: cut back to the last whole one.
            _ = ftruncate(fd, off_t(offset))
            throw SpoolError.io(operation: "write", path: path, errno: err)
        }
    }

    private func syncLocked() throws {
        if dirty, let s = segments.last {
            guard fdatasync(s.fd) == 0 else { throw SpoolError.io(operation: "fdatasync", path: s.path, errno: errno) }
            dirty = false
        }
        if dirDirty {
            try fsyncDirectory()
            dirDirty = false
        }
    }

    private func createSegment(firstSeq: UInt64) throws {
        // The previous segment's data must be durable before a later one can be.
        if dirty, let s = segments.last {
            guard fdatasync(s.fd) == 0 else { throw SpoolError.io(operation: "fdatasync", path: s.path, errno: errno) }
            dirty = false
        }
        let path = directory + "/" + Self.segmentName(firstSeq)
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpoolError.io(operation: "create", path: path, errno: errno) }
        var header = Self.segmentMagic
        Self.putLE(firstSeq, 8, into: &header)
        do { try writeAll(fd, header, at: 0, path: path) } catch {
            sysClose(fd); unlink(path)
            throw error
        }
        segments.append(Segment(firstSeq: firstSeq, lastSeq: firstSeq - 1, size: Self.segmentHeaderBytes, fd: fd, path: path))
        if segments.count == 1 { commitPos = Position(seq: firstSeq, segment: 0, offset: Self.segmentHeaderBytes) }
        dirDirty = true
        dirty = true
    }

    // MARK: draining

    /// Up to `max` records (and about `maxBytes` bytes, at least one record) after sequence number
    /// `after` (default: the committed position), oldest first, without consuming them. Pass the last
    /// seq handed to the producer as `after` to pipeline; commit only what Kafka acknowledged.
    public func peek(max: Int, maxBytes: Int = 16 << 20, after: UInt64? = nil) throws -> [SpoolRecord] {
        try lock.withLock {
            let from = Swift.max(after ?? committed, committed) + 1
            guard max > 0, from <= last else { return [] }
            var pos = try locate(from)
            var chunk: [UInt8] = []
            var chunkStart: Int64 = 0
            var chunkSegment = -1
            var out: [SpoolRecord] = []
            var taken = 0
            while out.count < max, pos.seq <= last {
                if pos.segment >= segments.count { break }
                let s = segments[pos.segment]
                if pos.offset >= s.size || s.lastSeq < s.firstSeq {
                    // next segment (seqs may jump there after a repaired corruption)
                    guard pos.segment + 1 < segments.count else { break }
                    pos = Position(seq: segments[pos.segment + 1].firstSeq, segment: pos.segment + 1, offset: Self.segmentHeaderBytes)
                    continue
                }
                // Records come out of 1 MiB reads, not two preads each.
                var parsed: (SpoolRecord, Int)? = nil
                if chunkSegment == pos.segment, pos.offset >= chunkStart {
                    parsed = Self.parse(chunk, at: Int(pos.offset - chunkStart))
                }
                if parsed == nil {
                    let n = Int(Swift.min(s.size - pos.offset, 1 << 20))
                    chunk = try preadAll(s.fd, n, at: pos.offset, path: s.path)
                    chunkStart = pos.offset
                    chunkSegment = pos.segment
                    parsed = Self.parse(chunk, at: 0)
                }
                if parsed == nil { parsed = try readRecord(s, at: pos.offset) } // a record over 1 MiB
                guard let (rec, size) = parsed else {
                    throw SpoolError.corrupt(path: s.path, offset: pos.offset)
                }
                if !out.isEmpty && taken + size > maxBytes { break }
                out.append(rec)
                taken += size
                pos = Position(seq: rec.seq + 1, segment: pos.segment, offset: pos.offset + Int64(size))
            }
            readCursor = pos
            return out
        }
    }

    /// Records everything up to and including `seq` as delivered: persisted (COMMIT file replaced by
    /// rename, fsync'd) before segments wholly at or below it are deleted. Commit a contiguous prefix:
    /// the highest seq such that it and everything before it were acknowledged.
    public func commit(upTo seq: UInt64) throws {
        try lock.withLock {
            guard seq <= last else { throw SpoolError.commitBeyondEnd(seq: seq, last: last) }
            guard seq > committed else { return }
            let newPos = try locate(seq + 1)
            try writeCommitFile(seq)
            committed = seq
            commitPos = newPos
            // Delete fully delivered segments, the active one included (the next append starts a new one).
            var removed = 0
            while let s = segments.first, s.lastSeq <= committed {
                sysClose(s.fd)
                unlink(s.path)
                segments.removeFirst()
                removed += 1
            }
            if removed > 0 {
                if segments.isEmpty {
                    dirty = false // the unsynced tail was delivered and deleted: nothing left to sync
                    commitPos = Position(seq: committed + 1, segment: 0, offset: Self.segmentHeaderBytes)
                } else {
                    commitPos.segment -= removed
                    if commitPos.segment < 0 {
                        commitPos = Position(seq: segments[0].firstSeq, segment: 0, offset: Self.segmentHeaderBytes)
                    }
                }
                readCursor = nil
            }
        }
    }

    /// Syncs and releases the directory. The spool must not be used afterwards.
    public func close() throws {
        try lock.withLock {
            guard !closed else { return }
            try syncLocked()
            for s in segments { sysClose(s.fd) }
            segments.removeAll()
            sysClose(lockFD)
            lockFD = -1
            closed = true
        }
    }

    /// The position of record `seq` (or of the end, for `last + 1`), scanning headers from the nearest
    /// known position.
    private func locate(_ seq: UInt64) throws -> Position {
        guard let idx = segments.lastIndex(where: { $0.firstSeq <= seq }) else {
            return Position(seq: seq, segment: 0, offset: Self.segmentHeaderBytes)
        }
        var pos = Position(seq: segments[idx].firstSeq, segment: idx, offset: Self.segmentHeaderBytes)
        for hint in [readCursor, commitPos].compactMap({ $0 }) where hint.segment == idx && hint.seq <= seq && hint.seq > pos.seq {
            pos = hint
        }
        let s = segments[idx]
        while pos.seq < seq && pos.offset < s.size {
            guard let h = try readHeader(s, at: pos.offset) else { throw SpoolError.corrupt(path: s.path, offset: pos.offset) }
            pos.offset += Int64(Self.recordHeaderBytes + h.keyLen + h.valueLen)
            pos.seq = h.seq + 1
        }
        return pos
    }

    // MARK: records on disk

    static func encode(seq: UInt64, key: [UInt8], value: [UInt8], into buf: inout [UInt8]) {
        let start = buf.count
        putLE(UInt64(0), 4, into: &buf)
        putLE(UInt64(key.count), 4, into: &buf)
        putLE(UInt64(value.count), 4, into: &buf)
        putLE(seq, 8, into: &buf)
        buf.append(contentsOf: key)
        buf.append(contentsOf: value)
        let crc = buf.withUnsafeBufferPointer { CRC32.checksum(UnsafeBufferPointer(rebasing: $0[(start + 4)...])) }
        for b in 0..<4 { buf[start + b] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(b))) }
    }

    static func putLE(_ v: UInt64, _ n: Int, into buf: inout [UInt8]) {
        for i in 0..<n { buf.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    static func getLE(_ p: UnsafeRawBufferPointer, _ at: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(p[at + i]) << (8 * UInt64(i)) }
        return v
    }

    static func segmentName(_ firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    private struct Header { var crc: UInt32; var keyLen: Int; var valueLen: Int; var seq: UInt64 }

    private func preadAll(_ fd: Int32, _ count: Int, at offset: Int64, path: String) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var done = 0
        let err: Int32? = buf.withUnsafeMutableBytes { raw -> Int32? in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + Int64(done)))
                if n < 0 { if errno == EINTR { continue }; return errno }
                if n == 0 { break }
                done += n
            }
            return nil
        }
        if let err { throw SpoolError.io(operation: "read", path: path, errno: err) }
        if done < count { buf.removeLast(count - done) }
        return buf
    }

    private func readHeader(_ s: Segment, at offset: Int64) throws -> Header? {
        guard s.size - offset >= Int64(Self.recordHeaderBytes) else { return nil }
        let b = try preadAll(s.fd, Self.recordHeaderBytes, at: offset, path: s.path)
        guard b.count == Self.recordHeaderBytes else { return nil }
        let h = b.withUnsafeBytes { p in
            Header(crc: UInt32(Self.getLE(p, 0, 4)), keyLen: Int(Self.getLE(p, 4, 4)), valueLen: Int(Self.getLE(p, 8, 4)), seq: Self.getLE(p, 12, 8))
        }
        guard Int64(Self.recordHeaderBytes + h.keyLen + h.valueLen) <= s.size - offset else { return nil }
        return h
    }

    /// The record at `offset` and its framed size; nil when it is short or fails its CRC.
    private func readRecord(_ s: Segment, at offset: Int64) throws -> (SpoolRecord, Int)? {
        guard let h = try readHeader(s, at: offset) else { return nil }
        let size = Self.recordHeaderBytes + h.keyLen + h.valueLen
        let b = try preadAll(s.fd, size, at: offset, path: s.path)
        return Self.parse(b, at: 0)
    }

    /// A whole, CRC-valid record starting at `at` in `buf`, and its framed size; nil when the buffer
    /// ends first or the CRC does not match.
    static func parse(_ buf: [UInt8], at: Int) -> (SpoolRecord, Int)? {
        buf.withUnsafeBufferPointer { p -> (SpoolRecord, Int)? in
            guard p.count - at >= recordHeaderBytes else { return nil }
            let raw = UnsafeRawBufferPointer(p)
            let crc = UInt32(getLE(raw, at, 4)), keyLen = Int(getLE(raw, at + 4, 4)), valueLen = Int(getLE(raw, at + 8, 4))
            let seq = getLE(raw, at + 12, 8)
            let size = recordHeaderBytes + keyLen + valueLen
            guard p.count - at >= size else { return nil }
            guard CRC32.checksum(UnsafeBufferPointer(rebasing: p[(at + 4)..<(at + size)])) == crc else { return nil }
            let k0 = at + recordHeaderBytes, v0 = k0 + keyLen
            return (SpoolRecord(seq: seq, key: Array(p[k0..<v0]), value: Array(p[v0..<(at + size)])), size)
        }
    }

    // MARK: recovery

    private func recover(_ rec: inout SpoolRecovery) throws {
        // The commit position first: it decides which segments still matter.
        let commitPath = directory + "/COMMIT"
        if let data = FileManager.default.contents(atPath: commitPath) {
            let b = [UInt8](data)
            let ok = b.count == 20 && Array(b[0..<8]) == Self.commitMagic
                && b.withUnsafeBufferPointer { CRC32.checksum(UnsafeBufferPointer(rebasing: $0[0..<16])) }
                    == b.withUnsafeBytes { UInt32(Self.getLE($0, 16, 4)) }
            if ok { committed = b.withUnsafeBytes { Self.getLE($0, 8, 8) } } else { rec.commitStateReset = true }
        }
        unlink(commitPath + ".tmp")

        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var found: [(UInt64, String)] = []
        for n in names where n.hasSuffix(".seg") {
            if let seq = UInt64(n.dropLast(4)) { found.append((seq, directory + "/" + n)) }
        }
        found.sort { $0.0 < $1.0 }
        var expected: UInt64? = nil
        for (firstSeq, path) in found {
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw SpoolError.io(operation: "open", path: path, errno: errno) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { sysClose(fd); throw SpoolError.io(operation: "stat", path: path, errno: errno) }
            var seg = Segment(firstSeq: firstSeq, lastSeq: firstSeq - 1, size: Int64(st.st_size), fd: fd, path: path)
            // A segment torn before its header was durable holds nothing.
            let header = try preadAll(fd, Int(Self.segmentHeaderBytes), at: 0, path: path)
            var goodHeader = header.count == Int(Self.segmentHeaderBytes) && Array(header[0..<8]) == Self.segmentMagic
                && header.withUnsafeBytes { Self.getLE($0, 8, 8) } == firstSeq
            if let e = expected, firstSeq < e { goodHeader = false } // overlaps the previous segment
            if !goodHeader {
                rec.tornBytesDropped += seg.size
                sysClose(fd); unlink(path)
                continue
            }
            var offset = Self.segmentHeaderBytes
            var next = firstSeq
            var chunk: [UInt8] = []
            var chunkStart: Int64 = 0
            while offset < seg.size {
                var parsed = chunk.isEmpty ? nil : Self.parse(chunk, at: Int(offset - chunkStart))
                if parsed == nil {
                    chunk = try preadAll(fd, Int(min(seg.size - offset, 1 << 20)), at: offset, path: path)
                    chunkStart = offset
                    parsed = Self.parse(chunk, at: 0)
                }
                if parsed == nil { parsed = try readRecord(seg, at: offset) }
                guard let (r, size) = parsed, r.seq == next else { break }
                offset += Int64(size)
                next += 1
            }
            if offset < seg.size {
                rec.tornBytesDropped += seg.size - offset
                guard ftruncate(fd, off_t(offset)) == 0, fdatasync(fd) == 0 else {
                    sysClose(fd); throw SpoolError.io(operation: "truncate", path: path, errno: errno)
                }
                seg.size = offset
            }
            seg.lastSeq = next - 1
            expected = next
            if seg.lastSeq <= committed && seg.lastSeq >= seg.firstSeq {
                rec.committedSegmentsRemoved += 1
                sysClose(fd); unlink(path)
                continue
            }
            if seg.lastSeq < seg.firstSeq && seg.firstSeq <= committed {
                sysClose(fd); unlink(path) // empty and already behind the commit point
                continue
            }
            segments.append(seg)
        }
        let lastInFiles = segments.last.map { $0.lastSeq } ?? 0
        if rec.commitStateReset { committed = (segments.first?.firstSeq ?? 1) - 1 }
        last = max(lastInFiles, committed)
        if segments.isEmpty {
            commitPos = Position(seq: committed + 1, segment: 0, offset: Self.segmentHeaderBytes)
        } else {
            commitPos = try locate(committed + 1)
        }
        try fsyncDirectory()
    }

    private func writeCommitFile(_ seq: UInt64) throws {
        var b = Self.commitMagic
        Self.putLE(seq, 8, into: &b)
        let crc = b.withUnsafeBufferPointer { CRC32.checksum($0) }
        Self.putLE(UInt64(crc), 4, into: &b)
        let tmp = directory + "/COMMIT.tmp", dst = directory + "/COMMIT"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpoolError.io(operation: "create", path: tmp, errno: errno) }
        do {
            try writeAll(fd, b, at: 0, path: tmp)
            guard fdatasync(fd) == 0 else { throw SpoolError.io(operation: "fdatasync", path: tmp, errno: errno) }
        } catch { sysClose(fd); throw error }
        sysClose(fd)
        guard rename(tmp, dst) == 0 else { throw SpoolError.io(operation: "rename", path: dst, errno: errno) }
        try fsyncDirectory()
    }

    private func fsyncDirectory() throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError.io(operation: "open", path: directory, errno: errno) }
        defer { sysClose(fd) }
        guard fsync(fd) == 0 else { throw SpoolError.io(operation: "fsync", path: directory, errno: errno) }
    }
}

extension Spool {
/// CRC-32 (IEEE 802.3, reflected).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt32 = 0) -> UInt32 {
        var c = ~seed
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBufferPointer { checksum($0) } }
}
}

private func sysClose(_ fd: Int32) { _ = close(fd) }
