import Foundation
import Testing
@testable import HashtrendCore

@Suite struct TrendsStorageTests {
    static let hour: Int64 = 3_600_000
    /// 2026-11-25T13:00:00Z
    static let base: Int64 = 1_795_611_600_000

    /// Windows of 5 minutes sliding by 1 minute, the n-th ending at `firstEnd + n minutes`.
    static func windows(_ n: Int, firstEnd: Int64, perWindow: Int = 3) -> [TrendWindow] {
        (0..<n).map { i in
            let end = firstEnd + Int64(i) * 60_000
            var top: [TrendEntry] = []
            for r in 0..<perWindow {
                let k = (i + r) % 7
                let c = Int64(100 - r)
                top.append(TrendEntry(tag: "tag\(k)", display: "Tag\(k)", count: c, rank: Int32(r + 1), score: Double(c) / 3))
            }
            return TrendWindow(windowStartMillis: end - 300_000, windowEndMillis: end, final: true, emittedAtMillis: end + 1500,
                               posts: 1000 + Int64(i), distinct: 40, lateDropped: 0, top: top)
        }
    }

    func makeTarget() throws -> (LocalTableTarget, URL) {
        let dir = try ParquetTestEnv.tempDir("storage")
        return (LocalTableTarget(root: dir.path + "/root"), dir)
    }

    @Test func fileNamesFormatAndParse() throws {
        let n = TrendsFileName(partition: 5, startOffset: 12, endOffset: 3456, hourStartMillis: Self.base)
        #expect(n.path == "trends/dt=2026-11-25/hour=13/trends+00005+00000000000000000012+00000000000000003456.parquet")
        #expect(TrendsFileName(path: n.path) == n)
        #expect(TrendsFileName.hourStart(ofWindowEnd: Self.base + Self.hour - 1) == Self.base)
        #expect(TrendsFileName.hourStart(ofWindowEnd: Self.base + Self.hour) == Self.base + Self.hour)
        #expect(TrendsFileName.hourStart(ofWindowEnd: -1) == -Self.hour)
        let early = TrendsFileName(partition: 0, startOffset: 0, endOffset: 0, hourStartMillis: -Self.hour)
        #expect(early.partitionDirectory == "dt=1969-12-31/hour=23")
        #expect(TrendsFileName(path: early.path) == early)
        // Wider numbers than the padding still parse; malformed names do not.
        #expect(TrendsFileName(path: "trends/dt=2026-11-25/hour=13/trends+123456+1+99999999999999999999.parquet") == nil)
        #expect(TrendsFileName(path: "trends/dt=2026-11-25/hour=13/trends+123456+1+2.parquet")?.partition == 123_456)
        for bad in ["trends/dt=2026-11-25/hour=13/trends+1+5+4.parquet", "trends/dt=2026-11-25/hour=24/trends+1+1+2.parquet",
                    "trends/dt=2026-11-25/trends+1+1+2.parquet", "trends/dt=2026-11-25/hour=13/trends+1+1+2.parquet.tmp",
                    "trends/dt=2026-11-25/hour=13/trends+1+-1+2.parquet", "trends/dt=2026-11-25/hour=13/other.parquet",
                    "_tmp/trends+1+1+2.parquet"] {
            #expect(TrendsFileName(path: bad) == nil, "\(bad)")
        }
    }

    @Test func localTargetBasics() throws {
        let dir = try ParquetTestEnv.tempDir("target")
        defer { ParquetTestEnv.cleanup(dir) }
        let target = LocalTableTarget(root: dir.path + "/a/b/root/")  // missing ancestors, trailing slash
        #expect(try target.listFiles(under: "trends") == [])
        try target.createFile("x/y/file.bin", bytes: Array(0..<100))
        #expect(try target.fileSize("x/y/file.bin") == 100)
        #expect(try target.read("x/y/file.bin", offset: 90, length: 50) == Array(90..<100))
        #expect(try target.listFiles(under: "") == ["x/y/file.bin"])
        #expect(throws: TableTargetError.notFound("nope")) { try target.fileSize("nope") }
        #expect(throws: (any Error).self) { try target.readParquetFooter("x/y/file.bin") }
        try target.rename("x/y/file.bin", to: "z/file.bin")
        #expect(try target.listFiles(under: "") == ["z/file.bin"])
        try target.delete("z/file.bin")
        try target.delete("z/file.bin")  // deleting a missing file is fine
        #expect(try target.listFiles(under: "") == [])
        #expect(target.location == "file://" + dir.path + "/a/b/root")
    }

    @Test func stateMachineKeepsTemporaryFilesOutsideTheTable() throws {
        let (target, dir) = try makeTarget()
        defer { ParquetTestEnv.cleanup(dir) }
        let w = TrendsPartitionWriter(target: target, partition: 2)
        #expect(w.state == .idle)
        for (i, win) in Self.windows(10, firstEnd: Self.base + 60_000).enumerated() {
            #expect(try w.append(win, offset: Int64(100 + i)) == [])
        }
        guard case .writing(let name, let windows, let rows) = w.state else {
            Issue.record("expected writing, got \(w.state)")
            return
        }
        #expect(windows == 10 && rows == 30 && name.startOffset == 100 && name.endOffset == 109)
        #expect(try target.listFiles(under: "trends") == [])
        try w.close()
        guard case .closed(let temp, let final) = w.state else {
            Issue.record("expected closed, got \(w.state)")
            return
        }
        #expect(temp.hasPrefix("_tmp/"))
        #expect(try target.listFiles(under: "_tmp") == [temp])
        #expect(try target.listFiles(under: "trends") == [])  // nothing visible before the rename
        let committed = try w.commit()
        #expect(committed == final)
        #expect(w.state == .committed(final))
        #expect(try target.listFiles(under: "trends") == [final.path])
        #expect(try target.listFiles(under: "_tmp") == [])
        let md = try target.readParquetFooter(final.path)
        #expect(md.numRows == 30)
        #expect(md[metadata: TrendsTable.partitionKey] == "2")
        #expect(md[metadata: TrendsTable.startOffsetKey] == "100")
        #expect(md[metadata: TrendsTable.endOffsetKey] == "109")
        #expect(md[metadata: TrendsTable.lastWindowEndKey] == EventTime.format(millis: Self.base + 600_000))
        #expect(throws: TableTargetError.self) { try w.commit() }  // committed -> commit is a state error
    }

    @Test func rotatesAtHourOfWindowEnd() throws {
        let (target, dir) = try makeTarget()
        defer { ParquetTestEnv.cleanup(dir) }
        let w = TrendsPartitionWriter(target: target, partition: 0)
        // Ends from 13:57 to 14:02 (14:00 belongs to hour 14).
        var committed: [TrendsFileName] = []
        for (i, win) in Self.windows(6, firstEnd: Self.base + Self.hour - 3 * 60_000).enumerated() {
            committed += try w.append(win, offset: Int64(i))
        }
        #expect(committed.count == 1)
        #expect(committed.first?.path.contains("dt=2026-11-25/hour=13/") == true)
        #expect(committed.first?.endOffset == 2)
        if let f = try w.flush() { committed.append(f) }
        #expect(committed.count == 2)
        #expect(committed.last?.path.hasPrefix("trends/dt=2026-11-25/hour=14/trends+00000+00000000000000000003+") == true)
        #expect(try target.listFiles(under: "trends").count == 2)
    }

    @Test func conflictingFinalNameIsAnErrorNotAnOverwrite() throws {
        let (target, dir) = try makeTarget()
        defer { ParquetTestEnv.cleanup(dir) }
        let name = TrendsFileName(partition: 1, startOffset: 0, endOffset: 1, hourStartMillis: Self.base)
        try target.createFile(name.path, bytes: Array("precious".utf8))
        let w = TrendsPartitionWriter(target: target, partition: 1)
        for (i, win) in Self.windows(2, firstEnd: Self.base + 60_000).enumerated() { try w.append(win, offset: Int64(i)) }
        try w.close()
        #expect(throws: TableTargetError.alreadyExists(name.path)) { try w.commit() }
        #expect(try target.read(name.path, offset: 0, length: 100) == Array("precious".utf8))
        guard case .closed = w.state else {
            Issue.record("a failed commit must leave the writer closed, got \(w.state)")
            return
        }
        // A plain target-level rename onto an existing name fails the same way.
        try target.createFile("_tmp/x", bytes: [1])
        #expect(throws: TableTargetError.alreadyExists(name.path)) { try target.rename("_tmp/x", to: name.path) }
        #expect(throws: TableTargetError.alreadyExists("_tmp/x")) { try target.createFile("_tmp/x", bytes: [2]) }
    }

    @Test func recoveryResumesFromNamesAndCleansTemporaryFiles() throws {
        let (target, dir) = try makeTarget()
        defer { ParquetTestEnv.cleanup(dir) }
        let wins = Self.windows(20, firstEnd: Self.base + 60_000)
        // Partition 0: two files; partition 3: one file; partition 7: a file closed but never committed.
        let w0 = TrendsPartitionWriter(target: target, partition: 0)
        for i in 0..<5 { try w0.append(wins[i], offset: Int64(i)) }
        try w0.flush()
        for i in 5..<9 { try w0.append(wins[i], offset: Int64(i)) }
        w0.skip(offset: 9)  // consumed, not written: still extends the file
        try w0.flush()
        let w3 = TrendsPartitionWriter(target: target, partition: 3)
        for i in 0..<3 { try w3.append(wins[i], offset: Int64(1000 + i)) }
        try w3.flush()
        let w7 = TrendsPartitionWriter(target: target, partition: 7)
        try w7.append(wins[0], offset: 50)
        try w7.close()  // crash before rename
        try target.createFile("_tmp/trends+00000+1+2.deadbeef.parquet.tmp", bytes: [1, 2, 3])
        try target.createFile("trends/README", bytes: [1])

        // Owned partitions only: partition 7's temp file survives.
        let partial = try TrendsTableRecovery.recover(target: target, partitions: [0, 3])
        #expect(partial.removedTemporaryFiles == ["_tmp/trends+00000+1+2.deadbeef.parquet.tmp"])
        #expect(try target.listFiles(under: "_tmp").count == 1)

        let rec = try TrendsTableRecovery.recover(target: target)
        #expect(rec.committedFiles.count == 3)
        #expect(rec.foreignFiles == ["trends/README"])
        #expect(rec.removedTemporaryFiles.count == 1)
        #expect(try target.listFiles(under: "_tmp") == [])
        #expect(rec.partitions[0]?.nextOffset == 10)
        #expect(rec.partitions[0]?.lastWindowEndMillis == wins[8].windowEndMillis)
        #expect(rec.partitions[3]?.nextOffset == 1003)
        #expect(rec.partitions[3]?.lastWindowEndMillis == wins[2].windowEndMillis)
        #expect(rec.partitions[7] == nil)

        // Resumed writer: replayed offsets are ignored, old windows skipped, the next file continues.
        let r0 = TrendsPartitionWriter(target: target, partition: 0, resume: rec.partitions[0])
        #expect(try r0.append(wins[3], offset: 3) == [])
        #expect(r0.state == .idle)
        #expect(!r0.accepts(wins[8]) && r0.accepts(wins[9]))
        try r0.append(wins[8], offset: 10)  // newer offset, old window: skipped, no file started
        #expect(r0.state == .idle)
        var early = wins[9]
        early.final = false
        try r0.append(early, offset: 11)  // early update: not written, and does not block the final one
        #expect(r0.state == .idle && r0.nextOffset == 12)
        try r0.append(wins[9], offset: 12)
        r0.skip(offset: 13)
        let f = try r0.flush()
        #expect(f?.startOffset == 12 && f?.endOffset == 13)
        #expect(try target.readParquetFooter(f!.path).numRows == 3)
        #expect(try TrendsTableRecovery.recover(target: target).partitions[0]?.nextOffset == 14)
    }

    /// The table layout read by DuckDB with hive_partitioning and by pyarrow datasets.
    @Test func tableIsQueryableWithHivePartitioning() throws {
        let (target, dir) = try makeTarget()
        defer { ParquetTestEnv.cleanup(dir) }
        let wins = Self.windows(150, firstEnd: Self.base + 30 * 60_000, perWindow: 5)  // ends 13:30 .. 15:59
        var writers = [TrendsPartitionWriter(target: target, partition: 0), TrendsPartitionWriter(target: target, partition: 1)]
        var files: [TrendsFileName] = []
        for (i, win) in wins.enumerated() {
            // Partition 1 gets every 3rd window; both partitions see increasing window ends.
            let p = i % 3 == 0 ? 1 : 0
            files += try writers[p].append(win, offset: Int64(i))
            if i % 40 == 39 { if let f = try writers[p].flush() { files.append(f) } }
        }
        for k in writers.indices { if let f = try writers[k].flush() { files.append(f) } }
        writers.removeAll()
        #expect(Set(files.map(\.hourStartMillis)).count == 3)
        var b = TrendRowBatcher()
        let sorted = wins.sorted { $0.windowEndMillis < $1.windowEndMillis }
        for w in sorted { b.append(w) }
        let cols = TrendsTable.schema.columns
        var c = ParquetCase(name: "table", columns: [
            (cols[0], .int64(b.windowStart.map { $0 })), (cols[1], .int64(b.windowEnd.map { $0 })),
            (cols[2], .int32(b.rank.map { $0 })),
            (cols[3], .string((0..<b.hashtag.count).map { String(decoding: b.hashtag[$0], as: UTF8.self) })),
            (cols[4], .string((0..<b.display.count).map { String(decoding: b.display[$0], as: UTF8.self) })),
            (cols[5], .int64(b.count.map { $0 })), (cols[6], .double(b.score.map { $0 })),
            (cols[7], .int64(b.posts.map { $0 })), (cols[8], .int64(b.emittedAt.map { $0 })),
        ])
        c.extraJSON["num_files"] = String(files.count)
        let meta = files.map { f in
            "\(jsonString(f.fileName)):{\"hashtrend.partition\":\"\(f.partition)\",\"hashtrend.start_offset\":\"\(f.startOffset)\",\"hashtrend.end_offset\":\"\(f.endOffset)\"}"
        }
        c.extraJSON["file_metadata"] = "{" + meta.joined(separator: ",") + "}"
        let expected = dir.appendingPathComponent("table.expected.json")
        try c.expectedJSON().write(to: expected, atomically: true, encoding: .utf8)
        let result = try ParquetTestEnv.readback(["--table", target.root, expected.path])
        #expect(result.mismatches == [], "stderr: \(result.stderr.suffix(2000))")
        #expect(result.status == 0)
        #expect(result.checks > 20)
    }
}
