import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// sinkd end to end: window records through the embedded broker, sinkd killed and restarted, and the
/// table read back by DuckDB and pyarrow (tests/sink/check_table.py).
@Suite(.serialized) struct SinkdCrashTests {
    /// SIGKILL at random moments while records flow; every final window must be in the table exactly
    /// once, no committed name may hold a partial file, and leftover temporary files go on restart.
    @Test func killedAtRandomMomentsKeepsEveryWindowExactlyOnce() throws {
        let started = Date()
        let dir = TestSupport.tempDir("sinkd-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let windowsFile = try SinkFixture.windowRecords(in: dir, posts: 12_000, rate: 5, window: "5s", slide: "1s", top: 50)
        let windowLines = try SinkFixture.lines(windowsFile)
        #expect(windowLines.count >= 2_000)
        let records = try SinkFixture.producerRecords(windowLines)

        let broker = try BrokerProcess(topics: ["trends:4"])
        defer { broker.stop() }
        let producer = try WindowProducer(bootstrap: broker.bootstrap)
        defer { producer.close() }
        let root = dir.appendingPathComponent("table")
        let target = LocalTableTarget(root: root.path)

        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        print("sinkd kill test: seed \(seed), \(windowLines.count) windows, \(records.count) records")

        var incarnation = 0
        var sinkd = try Sinkd.start(bootstrap: broker.bootstrap, root: root.path, group: "sinkd-\(incarnation)")
        var stderrs: [String] = []
        var kills = 0
        var tmpSeen = 0
        /// Kills sinkd, checks that the next one removes the temporary files the dead one left.
        func killAndRestart() throws {
            sinkd.signal(SIGKILL)
            sinkd.wait(timeout: 10)
            kills += 1
            stderrs.append(sinkd.stderr)
            var leftovers = SinkFixture.temporaryFiles(root)
            tmpSeen += leftovers.count
            // A kill during an upload leaves a partial temporary file; local writes are too quick to hit
            // that often, so plant one (half a file) for a random partition as such a kill would.
            let planted = "trends+0000\(Int.random(in: 0...3, using: &rng))+00000000000000000000+00000000000000000001.\(String(rng.next(), radix: 16)).parquet.tmp"
            try FileManager.default.createDirectory(at: root.appendingPathComponent("_tmp"), withIntermediateDirectories: true)
            try Data("PAR1 partial".utf8).write(to: root.appendingPathComponent("_tmp/\(planted)"))
            leftovers.append(planted)
            incarnation += 1
            sinkd = try Sinkd.start(bootstrap: broker.bootstrap, root: root.path, group: "sinkd-\(incarnation)")
            let resumed = sinkd.waitForStderr(containing: "resuming from committed files", timeout: 60)
            #expect(resumed, "sinkd restarted: \(sinkd.stderr.suffix(2000))")
            let still = Set(SinkFixture.temporaryFiles(root)).intersection(leftovers)
            #expect(still.isEmpty, "temporary files of the killed sinkd survive its restart: \(still.sorted())")
            #expect(sinkd.stderr.contains("removed leftover temporary files"), "\(sinkd.stderr.suffix(1500))")
        }

        let bursts = 6
        let per = (records.count + bursts - 1) / bursts
        for b in 0..<bursts {
            let slice = records[min(records.count, b * per)..<min(records.count, (b + 1) * per)]
            try producer.send(slice)
            Thread.sleep(forTimeInterval: Double.random(in: 0.2...1.8, using: &rng))
            try killAndRestart()
        }
        // Two more kills while it catches up, at random moments.
        for _ in 0..<2 {
            Thread.sleep(forTimeInterval: Double.random(in: 0.1...1.2, using: &rng))
            try killAndRestart()
        }
        let last = producer.lastOffsets
        #expect(last.count == 4, "records reached all 4 partitions: \(last)")
        let caughtUp = Sinkd.waitCaughtUp(target, last, timeout: 90)
        #expect(caughtUp, "sinkd committed files through the last offsets \(last): \(sinkd.stderr.suffix(3000))")
        sinkd.signal(SIGTERM)
        let status = sinkd.wait(timeout: 30)
        #expect(status == 0, "clean stop: \(sinkd.stderr.suffix(2000))")
        #expect(!sinkd.stderr.contains("undecodable window record"), "\(sinkd.stderr.suffix(2000))")

        let report = try SinkFixture.check(root: root, expected: windowsFile, noTmp: true)
        #expect(report.ok, "\(report.mismatches)")
        #expect(report.int("windows") == windowLines.count)
        #expect(kills >= 5)
        let wall = Date().timeIntervalSince(started)
        print("sinkd kill test: \(windowLines.count) windows, \(report.int("rows")) rows, \(kills) kills, "
              + "\(report.int("files")) files \(report.json["files_per_partition"] ?? ""), \(tmpSeen) temporary files left by kills, "
              + String(format: "%.1f s wall", wall))
    }
}
