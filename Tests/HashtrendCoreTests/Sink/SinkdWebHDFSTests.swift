import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// sinkd against the fake WebHDFS server with injected outages: it must keep going (client retries,
/// then its own backoff) and the table on the fake's disk must be exact.
@Suite(.serialized) struct SinkdWebHDFSTests {
    @Test func outagesOfTheNamenodeAndDatanodeLoseAndDuplicateNothing() throws {
        let started = Date()
        let dir = TestSupport.tempDir("sinkd-webhdfs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let windowsFile = try SinkFixture.windowRecords(in: dir, posts: 4_000, rate: 5, window: "5s", slide: "1s", top: 20, seed: 11)
        let windowLines = try SinkFixture.lines(windowsFile)
        #expect(windowLines.count >= 700)
        let records = try SinkFixture.producerRecords(windowLines)

        let fake = try FakeWebHDFS(user: "hashtrend")
        defer { fake.stop() }
        let broker = try BrokerProcess(topics: ["trends:4"])
        defer { broker.stop() }
        let producer = try WindowProducer(bootstrap: broker.bootstrap)
        defer { producer.close() }
        let url = fake.url + "warehouse/trends-table"
        let onDisk = fake.root.appendingPathComponent("warehouse/trends-table")

        let sinkd = try Sinkd.start(bootstrap: broker.bootstrap, root: url, group: "sinkd-hdfs",
                                    extra: ["--flush-rows", "150", "--hdfs-user", "hashtrend"])
        defer { if sinkd.isRunning { sinkd.signal(SIGKILL); sinkd.wait(timeout: 5) } }
        #expect(sinkd.waitForStderr(containing: "resuming from committed files", timeout: 60), "\(sinkd.stderr)")

        let quarter = (records.count + 5) / 6
        func burst(_ i: Int) throws { try producer.send(records[min(records.count, i * quarter)..<min(records.count, (i + 1) * quarter)]) }
        func expectOK(_ reply: Any?, _ what: String) {
            #expect((reply as? [String: Any])?["ok"] as? Bool == true, "\(what): \(String(describing: reply))")
        }

        // 1. 500s from both sides, within the client's retries.
        expectOK(fake.command("fail CREATE 6 500 datanode"), "fail CREATE")
        expectOK(fake.command("fail RENAME 3 500 namenode"), "fail RENAME")
        expectOK(fake.command("fail GETFILESTATUS 3 503 namenode"), "fail GETFILESTATUS")
        try burst(0)
        Thread.sleep(forTimeInterval: 2.5)
        // 2. The datanode refuses connections for longer than the client retries: sinkd backs off and buffers.
        expectOK(fake.command("refuse datanode 9"), "refuse datanode")
        try burst(1)
        Thread.sleep(forTimeInterval: 10)
        // 3. RENAME fails past the client's retries (four times 6 tries) while records keep coming: the rows
        //    consumed meanwhile must not be lost.
        expectOK(fake.command("fail RENAME 24 500 namenode"), "fail RENAME past retries")
        try burst(2)
        Thread.sleep(forTimeInterval: 3)
        try burst(3)
        Thread.sleep(forTimeInterval: 3)
        // 4. A namenode restart, a broken upload and a lost RENAME answer.
        expectOK(fake.command("drop CREATE 1 datanode"), "drop CREATE")
        expectOK(fake.command("lose RENAME 1 namenode"), "lose RENAME")
        // ... and its retries answered 500 until the client gives up: the rename happened all the same.
        expectOK(fake.command("fail RENAME 5 500 namenode"), "fail RENAME after the lost answer")
        try burst(4)
        Thread.sleep(forTimeInterval: 1.0)
        expectOK(fake.command("restart 3"), "restart")
        try burst(5)

        let last = producer.lastOffsets
        let caughtUp = Sinkd.waitCaughtUp(LocalTableTarget(root: onDisk.path), last, timeout: 90)
        #expect(caughtUp, "sinkd committed files through \(last): \(sinkd.stderr.split(separator: "\n").filter { $0.contains("warning") || $0.contains("error") }.suffix(20))")
        #expect(sinkd.isRunning, "sinkd kept going through the outages")
        sinkd.signal(SIGTERM)
        #expect(sinkd.wait(timeout: 30) == 0, "clean stop: \(sinkd.stderr.suffix(2000))")
        let err = sinkd.stderr
        let held = err.components(separatedBy: "holding records until the target takes writes again").count - 1
        let adopted = err.components(separatedBy: "a rename's answer was lost; its file is committed").count - 1
        #expect(adopted >= 1, "the RENAME carried out but reported failed was recognised: \(err.suffix(2000))")
        #expect(err.contains("target unavailable"), "the long datanode outage reached sinkd: \(err.suffix(2000))")
        #expect(err.contains("target available again"), "and it recovered: \(err.suffix(2000))")

        let log = fake.log()
        let injected = log.filter { $0.status == "500" || $0.status == "503" }.count
        #expect(injected >= 41, "the injected 5xx answers were served: \(injected)")
        #expect(log.allSatisfy { $0.side != "namenode" || $0.query["user.name"] == "hashtrend" }, "user.name on every namenode request")

        // A broken upload may leave a temporary file; the next start removes it (and writes nothing new).
        let tmpBefore = SinkFixture.temporaryFiles(onDisk).count
        let filesBefore = SinkFixture.snapshot(onDisk.appendingPathComponent("trends"))
        let again = try Sinkd.start(bootstrap: broker.bootstrap, root: url, group: "sinkd-hdfs",
                                    extra: ["--flush-rows", "150", "--hdfs-user", "hashtrend"])
        #expect(again.waitForStderr(containing: "resuming from committed files", timeout: 60), "\(again.stderr)")
        Thread.sleep(forTimeInterval: 1.5)
        again.signal(SIGTERM)
        #expect(again.wait(timeout: 30) == 0, "\(again.stderr.suffix(2000))")
        #expect(SinkFixture.snapshot(onDisk.appendingPathComponent("trends")) == filesBefore, "a restart rewrote nothing")
        let report = try SinkFixture.check(root: onDisk, expected: windowsFile, noTmp: true)
        #expect(report.ok, "\(report.mismatches)")
        #expect(report.int("windows") == windowLines.count)
        print("sinkd WebHDFS test: \(windowLines.count) windows, \(report.int("rows")) rows, \(report.int("files")) files, "
              + "\(log.count) WebHDFS requests (\(injected) injected 5xx), \(tmpBefore) temporary files left before the restart, \(held) times records held back, \(adopted) lost RENAME answers adopted, "
              + String(format: "%.1f s wall", Date().timeIntervalSince(started)))
    }
}
