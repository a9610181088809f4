import Foundation
import Testing
@testable import HashtrendCore

/// Key 11 bytes, value `size` bytes: 60 bytes framed by default.
private func rec(_ i: Int, size: Int = 29) -> (key: [UInt8], value: [UInt8]) {
    let key = Array(String(format: "post-%06d", i).utf8)
    var value = Array("{\"v\":1,\"id\":\"\(i)\",\"text\":\"".utf8)
    while value.count < size { value.append(UInt8(97 + (i + value.count) % 26)) }
    return (key, value)
}

private func segmentFiles(_ dir: URL) -> [URL] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".seg") }.sorted()
        .map { dir.appendingPathComponent($0) }
}

/// Reads everything pending, in pages, checking the seqs are consecutive.
private func drainAll(_ s: Spool, page: Int = 7) throws -> [SpoolRecord] {
    var out: [SpoolRecord] = []
    var after: UInt64? = nil
    while true {
        let batch = try s.peek(max: page, after: after)
        if batch.isEmpty { return out }
        out += batch
        after = batch.last!.seq
    }
}

@Suite("Spool")
struct SpoolTests {
    @Test func keepsOrderAcrossSegmentsAndPages() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try Spool(directory: dir.path, maxBytes: 10 << 20, segmentBytes: 4096)
        var expected: [(key: [UInt8], value: [UInt8])] = []
        for b in 0..<20 {
            let batch = (0..<25).map { rec(b * 25 + $0, size: 30 + $0 * 3) }
            let r = try #require(try s.append(batch: batch))
            #expect(r == UInt64(b * 25 + 1)...UInt64(b * 25 + 25))
            expected += batch
        }
        #expect(segmentFiles(dir).count > 3)
        #expect(s.count == 500 && s.lastSeq == 500 && s.committedSeq == 0)
        let all = try drainAll(s)
        #expect(all.map(\.seq) == Array(1...500))
        #expect(all.map(\.key) == expected.map(\.key))
        #expect(all.map(\.value) == expected.map(\.value))
        // peek does not consume
        #expect(try s.peek(max: 3).map(\.seq) == [1, 2, 3])
        #expect(try s.peek(max: 2, after: 499).map(\.seq) == [500])
        #expect(try s.peek(max: 2, after: 500).isEmpty)
    }

    @Test func boundedByMaxBytes() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try Spool(directory: dir.path, maxBytes: 16 + 10 * 60, segmentBytes: 1 << 20)
        for i in 0..<10 { try s.append(key: rec(i).key, value: rec(i).value) }
        try s.sync()
        #expect(s.diskBytes == 16 + 600)
        #expect(throws: SpoolError.full(diskBytes: 616, needed: 60, maxBytes: 616)) {
            try s.append(key: rec(10).key, value: rec(10).value)
        }
        // a batch is all or nothing
        let before = s.count
        #expect(throws: SpoolError.self) { try s.append(batch: [rec(11), rec(12)]) }
        #expect(s.count == before && s.lastSeq == 10)
        // draining makes room again
        try s.commit(upTo: 10)
        #expect(s.diskBytes == 0 && s.count == 0 && s.bytes == 0)
        #expect(segmentFiles(dir).isEmpty)
        #expect(try s.append(batch: [rec(11)]) == 11...11)
        #expect(try s.peek(max: 10).map(\.key) == [rec(11).key])
    }

    @Test func commitResumesExactlyAcrossReopen() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let s = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 4096)
            for b in 0..<15 { try s.append(batch: (0..<20).map { rec(b * 20 + $0) }) } // a batch stays in one segment
            #expect(segmentFiles(dir).count >= 4)
            let first = try s.peek(max: 120)
            try s.commit(upTo: first.last!.seq)
            #expect(s.committedSeq == 120 && s.count == 180)
            // segments wholly at or below the commit are gone
            let names = segmentFiles(dir).map { $0.lastPathComponent }
            #expect(UInt64(names.first!.dropLast(4))! <= 121)
            #expect(UInt64(names.first!.dropLast(4))! > 1)
            let pendingBytes = s.bytes
            #expect(pendingBytes == Int64(180 * 60))
            try s.close()
        }
        let s = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 4096)
        #expect(s.recovery == SpoolRecovery())
        #expect(s.committedSeq == 120 && s.count == 180 && s.bytes == Int64(180 * 60))
        let rest = try drainAll(s)
        #expect(rest.map(\.seq) == Array(121...300))
        #expect(rest.first?.key == rec(120).key)
        #expect(throws: SpoolError.commitBeyondEnd(seq: 301, last: 300)) { try s.commit(upTo: 301) }
        try s.commit(upTo: 300)
        try s.commit(upTo: 200) // going back is a no-op
        #expect(s.isEmpty && segmentFiles(dir).isEmpty)
        try s.append(batch: [rec(1000)])
        try s.close()
        let again = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 4096)
        #expect(try again.peek(max: 5).map(\.seq) == [301]) // seqs never restart
    }

    @Test func secondOpenerIsLockedOut() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
        #expect(throws: SpoolError.locked(path: dir.path)) { _ = try Spool(directory: dir.path, maxBytes: 1 << 20) }
        try s.close()
        _ = try Spool(directory: dir.path, maxBytes: 1 << 20)
    }

    /// A crash mid-append leaves any prefix of the last batch on disk: cut the file at every byte of
    /// the last two records and check recovery keeps exactly the whole records before the cut.
    @Test func tornTailIsCutAtEveryOffset() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
            try s.append(batch: (0..<10).map { rec($0) })
            try s.close()
        }
        let seg = try #require(segmentFiles(dir).first)
        let full = try Data(contentsOf: seg)
        #expect(full.count == 16 + 10 * 60)
        for cut in (16 + 8 * 60)..<full.count {
            try full.prefix(cut).write(to: seg)
            let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
            let whole = (cut - 16) / 60
            #expect(s.count == whole, "cut \(cut)")
            #expect(s.recovery.tornBytesDropped == Int64(cut - 16 - whole * 60), "cut \(cut)")
            let got = try drainAll(s)
            #expect(got.map(\.seq) == (0..<whole).map { UInt64($0 + 1) })
            #expect(got.last?.value == rec(whole - 1).value)
            // appends continue right after the last whole record
            #expect(try s.append(batch: [rec(99)]) == UInt64(whole + 1)...UInt64(whole + 1))
            try s.close()
            let reopened = try Spool(directory: dir.path, maxBytes: 1 << 20)
            #expect(reopened.recovery.tornBytesDropped == 0 && reopened.count == whole + 1)
            try reopened.close()
        }
    }

    @Test func garbageAndCorruptionAreDropped() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
            try s.append(batch: (0..<5).map { rec($0) })
            try s.close()
        }
        let seg = try #require(segmentFiles(dir).first)
        // garbage appended after the last record (a preallocated or half-written block)
        var d = try Data(contentsOf: seg)
        d.append(Data(repeating: 0, count: 100))
        d.append(Data((0..<77).map { UInt8($0 * 7 & 0xFF) }))
        try d.write(to: seg)
        do {
            let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
            #expect(s.count == 5 && s.recovery.tornBytesDropped == 177)
            try s.close()
        }
        // a flipped bit in record 4's value: records 4 and 5 fail and are cut
        d = try Data(contentsOf: seg)
        d[16 + 3 * 60 + 30] ^= 0x10
        try d.write(to: seg)
        let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
        #expect(s.count == 3 && s.recovery.tornBytesDropped == 120)
        #expect(try drainAll(s).map(\.seq) == [1, 2, 3])
        // a torn brand-new segment (header not complete) is removed
        try s.close()
        try Data("HTSP".utf8).write(to: dir.appendingPathComponent(Spool.segmentName(4)))
        let t = try Spool(directory: dir.path, maxBytes: 1 << 20)
        #expect(t.count == 3 && t.recovery.tornBytesDropped == 4 && segmentFiles(dir).count == 1)
    }

    @Test func corruptCommitFileRedeliversInsteadOfLosing() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let s = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 4096)
            try s.append(batch: (0..<100).map { rec($0) })
            try s.commit(upTo: 90)
            try s.close()
        }
        var c = try Data(contentsOf: dir.appendingPathComponent("COMMIT"))
        c[9] ^= 0xFF
        try c.write(to: dir.appendingPathComponent("COMMIT"))
        let s = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 4096)
        #expect(s.recovery.commitStateReset)
        let got = try drainAll(s)
        #expect(got.last?.seq == 100 && got.count >= 10)       // nothing lost
        #expect(got.map(\.seq) == Array(got.first!.seq...100)) // still in order
    }

    @Test func ackWindowCommitsOnlyAContiguousPrefix() throws {
        var w = SpoolAckWindow(after: 10)
        #expect(!w.ack(9) && !w.ack(10))
        #expect(!w.ack(12) && !w.ack(14) && w.committable == 10 && w.waiting == 2)
        #expect(w.ack(11) && w.committable == 12)
        #expect(w.ack(13) && w.committable == 14 && w.waiting == 0)
        // with the spool: deliveries acknowledged out of order
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try Spool(directory: dir.path, maxBytes: 1 << 20)
        try s.append(batch: (0..<6).map { rec($0) })
        var win = SpoolAckWindow(after: s.committedSeq)
        for seq in [2, 1, 5, 3] as [UInt64] where win.ack(seq) { try s.commit(upTo: win.committable) }
        #expect(s.committedSeq == 3)
        #expect(try s.peek(max: 10).map(\.seq) == [4, 5, 6]) // 5 is re-sent: at-least-once
    }

    @Test func unsyncedAppendsBecomeDurableOnSync() throws {
        let dir = TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 4096)
        for i in 0..<200 { #expect(try s.append(key: rec(i).key, value: rec(i).value) == UInt64(i + 1)) }
        try s.sync()
        // what a reader of the files sees (another process after a crash) is everything synced
        let sizes = segmentFiles(dir).map { (try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int) ?? 0 }
        #expect(sizes.reduce(0, +) == 200 * 60 + 16 * sizes.count)
        #expect(s.bytes == 200 * 60)
    }
}

/// A real SIGKILL at an arbitrary moment: this test binary re-runs itself as the writer (the
/// `spoolKillWriter` test below, enabled only in the child), which appends fdatasync'd batches and
/// notes each acknowledged seq in a side file; the parent kills it and checks that every
/// acknowledged record survived, in order, intact, and that the spool keeps working.
@Suite("Spool under SIGKILL", .serialized)
struct SpoolKillTests {
    static let writerEnv = "HASHTREND_SPOOL_KILL_WRITER"

    static func value(for seq: UInt64) -> [UInt8] {
        let n = 10 + Int(seq % 97) * 13
        return (0..<n).map { UInt8(truncatingIfNeeded: seq &* 31 &+ UInt64($0)) }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment[SpoolKillTests.writerEnv] != nil))
    func spoolKillWriter() throws {
        let dir = ProcessInfo.processInfo.environment[Self.writerEnv]!
        let s = try Spool(directory: dir, maxBytes: 1 << 30, segmentBytes: 32 << 10)
        let ack = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + ".acks"))
        ack.seekToEndOfFile()
        let deadline = Date().addingTimeInterval(30)
        var n = 0
        while Date() < deadline {
            n += 1
            let first = s.lastSeq + 1
            let size = 1 + (n * 7) % 40
            let batch = (0..<size).map { i -> (key: [UInt8], value: [UInt8]) in
                let seq = first + UInt64(i)
                return (Array("k\(seq)".utf8), Self.value(for: seq))
            }
            let r = try #require(try s.append(batch: batch))
            ack.write(Data("a \(r.upperBound)\n".utf8))
            if n % 10 == 0, r.upperBound > 150 {
                try s.commit(upTo: r.upperBound - 150)
                ack.write(Data("c \(r.upperBound - 150)\n".utf8))
            }
        }
    }

    @Test func acknowledgedRecordsSurviveSIGKILL() throws {
        let dir = TestSupport.tempDir("spool-kill").appendingPathComponent("spool").path
        let acks = dir + ".acks"
        _ = FileManager.default.createFile(atPath: acks, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var tornSeen = false
        for round in 0..<5 {
            let ackedBefore = (try? String(contentsOfFile: acks, encoding: .utf8))?.split(separator: "\n").count ?? 0
            let child = try ChildProcess(exe, ["--testing-library", "swift-testing", "--filter", "spoolKillWriter"],
                                         environment: [Self.writerEnv: dir])
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let lines = (try? String(contentsOfFile: acks, encoding: .utf8))?.split(separator: "\n").count ?? 0
                if lines >= ackedBefore + 40 + round * 25 { break }
                Thread.sleep(forTimeInterval: 0.002)
            }
            usleep(UInt32(round * 1700))
            child.signal(SIGKILL)
            child.wait(timeout: 10)

            // Only complete lines count: the kill may cut the ack line itself.
            let text = try String(contentsOfFile: acks, encoding: .utf8)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if !text.hasSuffix("\n") { lines.removeLast() }
            var maxAcked: UInt64 = 0, maxCommitted: UInt64 = 0
            for l in lines where !l.isEmpty {
                let parts = l.split(separator: " ")
                guard parts.count == 2, let v = UInt64(parts[1]) else { continue }
                if parts[0] == "a" { maxAcked = max(maxAcked, v) } else { maxCommitted = max(maxCommitted, v) }
            }
            #expect(maxAcked > 0, "round \(round): the writer acknowledged nothing: \(child.stderr)")

            let s = try Spool(directory: dir, maxBytes: 1 << 30, segmentBytes: 32 << 10)
            if s.recovery.tornBytesDropped > 0 { tornSeen = true }
            #expect(s.lastSeq >= maxAcked, "round \(round): acknowledged \(maxAcked), recovered up to \(s.lastSeq)")
            #expect(s.committedSeq >= maxCommitted)
            var after: UInt64? = nil
            var expected = s.committedSeq + 1
            while true {
                let page = try s.peek(max: 500, after: after)
                guard let lastRec = page.last else { break }
                for r in page {
                    #expect(r.seq == expected && r.key == Array("k\(r.seq)".utf8) && r.value == Self.value(for: r.seq))
                    expected += 1
                }
                after = lastRec.seq
            }
            #expect(expected - 1 == s.lastSeq)
            try s.close()
        }
        // Not asserted (timing decides), but worth seeing when it happens.
        if !tornSeen { print("note: no kill landed mid-write in 5 rounds") }
    }
}
