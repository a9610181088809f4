import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

private func batch(_ ids: Range<Int>) -> JournalBatch {
    var b = JournalBatch(capacity: 1024)
    for i in ids {
        b.append(key: Array("post-\(i)".utf8), value: Array("{\"v\":1,\"id\":\"post-\(i)\",\"text\":\"\(String(repeating: "x", count: i % 37))\"}".utf8))
    }
    return b
}

private func journalFiles(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".jnl") }.sorted()
}

private func keys(_ recs: [(key: [UInt8], value: [UInt8])]) -> [String] { recs.map { String(decoding: $0.key, as: UTF8.self) } }

/// Writes batches `first` and `second` as two frames of a fresh journal in `dir` and closes it; returns
/// the journal file, the lengths of the two frames and the file's bytes.
private func twoFrameJournal(in dir: URL, _ first: Range<Int>, _ second: Range<Int>) throws
    -> (file: URL, frame1: Int, frame2: Int, bytes: Data) {
    let j = try InflightJournal(directory: dir.path)
    var b1 = batch(first), b2 = batch(second)
    j.write(&b1)
    j.write(&b2)
    j.close()
    let file = dir.appendingPathComponent(journalFiles(dir)[0])
    return (file, b1.bytes.count, b2.bytes.count, try Data(contentsOf: file))
}

@Suite("InflightJournal")
struct InflightJournalTests {
    @Test("a reopened journal (the writer killed) gives back every unresolved record, in order, values intact")
    func unresolvedRecordsComeBack() throws {
        let dir = TestSupport.tempDir("journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let j = try InflightJournal(directory: dir.path)
        var b1 = batch(0..<3), b2 = batch(3..<6), b3 = batch(6..<9)
        let s1 = j.write(&b1), s2 = j.write(&b2), s3 = j.write(&b3)
        #expect(s2 == s1 + 3 && s3 == s2 + 3)
        #expect(j.pending == 9)
        for s in [s1, s1 + 1, s1 + 2, s2 + 1, s3 + 1] { j.resolve(s) }   // 0,1,2 then 4 and 7 out of order
        #expect(j.pending == 4 + 2)
        j.checkpoint()
        // No close(): the process "dies" here; the page cache keeps what write() returned.
        let again = try InflightJournal(directory: dir.path)
        // The watermark trims the resolved prefix; records resolved beyond a gap are sent again.
        #expect(keys(again.recovered) == (3..<9).map { "post-\($0)" })
        let original = batch(3..<9).arrays()
        #expect(again.recovered.map(\.value) == original.map(\.value))
        #expect(again.tornBytes == 0)
    }

    @Test("fully resolved files are deleted; a restart continues the sequence past a stale watermark")
    func checkpointDeletesAndSeqsNeverRestart() throws {
        let dir = TestSupport.tempDir("journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let j = try InflightJournal(directory: dir.path, segmentBytes: 4096)
        var last: UInt64 = 0
        for k in 0..<40 {
            var b = batch(k * 10..<(k * 10 + 10))
            let first = j.write(&b)
            last = first + 9
        }
        #expect(journalFiles(dir).count > 3, "small segments roll")
        // Resolve everything except the last batch: all files but the active one go.
        j.resolve(1..<(last - 9))
        j.checkpoint()
        #expect(journalFiles(dir).count == 1)
        j.resolve((last - 9)..<(last + 1))
        #expect(j.pending == 0)
        j.checkpoint()
        #expect(journalFiles(dir).isEmpty, "nothing pending: no file left")
        j.close()

        // A new run: its seqs start after the old watermark, so the watermark never hides a new record.
        let j2 = try InflightJournal(directory: dir.path, segmentBytes: 4096)
        #expect(j2.recovered.isEmpty)
        var b = batch(1000..<1005)
        let first = j2.write(&b)
        #expect(first > last)
        let j3 = try InflightJournal(directory: dir.path)
        #expect(keys(j3.recovered) == (1000..<1005).map { "post-\($0)" })
        j3.discardRecovered()
        #expect(journalFiles(dir).isEmpty)
    }

    @Test("a frame torn at any byte (a kill inside write) is dropped whole; garbage after it too")
    func tornFramesAreDropped() throws {
        let dir = TestSupport.tempDir("journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, frame1, frame2, whole) = try twoFrameJournal(in: dir, 0..<4, 4..<8)
        #expect(whole.count == frame1 + frame2)
        for cut in stride(from: frame1, to: whole.count, by: 7) {
            try whole.prefix(cut).write(to: file)
            let r = try InflightJournal(directory: dir.path)
            #expect(keys(r.recovered) == (0..<4).map { "post-\($0)" }, "cut at \(cut)")
            #expect(r.tornBytes == Int64(cut - frame1))
        }
        // A flipped byte inside the second frame fails its checksum.
        var flipped = whole
        flipped[frame1 + 40] ^= 0x20
        try flipped.write(to: file)
        #expect(keys(try InflightJournal(directory: dir.path).recovered) == (0..<4).map { "post-\($0)" })
        var garbage = whole
        garbage.append(contentsOf: [UInt8](repeating: 0x5A, count: 100))
        try garbage.write(to: file)
        let g = try InflightJournal(directory: dir.path)
        #expect(keys(g.recovered) == (0..<8).map { "post-\($0)" })
        #expect(g.tornBytes == 100)
    }

    @Test("frames of the earlier checksum (kind 0) are still read; a changed byte anywhere, or an unknown kind, is caught")
    func checksumKinds() throws {
        let dir = TestSupport.tempDir("journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, frame1, _, written) = try twoFrameJournal(in: dir, 0..<5, 5..<9)
        let whole = [UInt8](written)
        #expect(whole[12] == 1, "new frames carry the 4-lane checksum's kind")
        // The same frames as an earlier version wrote them: kind 0, the one-lane checksum.
        var old = whole
        for start in [0, frame1] {
            let payload = Int(UInt32(old[start + 8]) | UInt32(old[start + 9]) << 8 | UInt32(old[start + 10]) << 16 | UInt32(old[start + 11]) << 24)
            for k in 12..<16 { old[start + k] = 0 }
            let sum = old.withUnsafeBytes { raw in
                InflightJournal.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<(start + 24)]),
                                         UnsafeRawBufferPointer(rebasing: raw[(start + 32)..<(start + 32 + payload)]))
            }
            for k in 0..<8 { old[start + 24 + k] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(k))) }
        }
        try Data(old).write(to: file)
        #expect(keys(try InflightJournal(directory: dir.path).recovered) == (0..<9).map { "post-\($0)" })
        // Any single changed byte of the second frame (header, checksum or body: every lane and the tail) drops it.
        for at in frame1..<whole.count {
            var bad = whole
            bad[at] ^= 0x01
            try Data(bad).write(to: file)
            let r = try InflightJournal(directory: dir.path)
            #expect(keys(r.recovered) == (0..<5).map { "post-\($0)" }, "byte \(at) changed")
            if keys(r.recovered).count != 5 { break }
        }
        var unknown = whole
        unknown[frame1 + 12] = 7
        try Data(unknown).write(to: file)
        #expect(keys(try InflightJournal(directory: dir.path).recovered) == (0..<5).map { "post-\($0)" })
        // A zero byte more is a different body.
        let zero: [UInt8] = [0]
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(zero.withUnsafeBytes { InflightJournal.checksum4(none, $0) != InflightJournal.checksum4(none, UnsafeRawBufferPointer(rebasing: $0[0..<0])) })
    }

    @Test("resolution in any order: the watermark is the contiguous prefix, across ring growth")
    func resolvedSeqsAnyOrder() {
        var r = ResolvedSeqs(first: 1)
        var rng = SystemRandomNumberGenerator()
        var opened: [UInt64] = []
        for _ in 0..<20 {
            let n = Int.random(in: 1...700, using: &rng)
            let first = r.open(n)
            opened += (first..<(first + UInt64(n)))
        }
        let total = opened.count
        #expect(r.pending == total)
        var order = opened.shuffled(using: &rng)
        let held = order.removeFirst()   // one unresolved seq holds the watermark
        for s in order { r.resolve(s) }
        #expect(r.base == held)
        #expect(r.pending == Int(r.end - held))
        r.resolve(held)
        #expect(r.base == r.end && r.pending == 0)
        let again = r.resolve(held)
        #expect(!again, "resolving twice changes nothing")
    }
}
