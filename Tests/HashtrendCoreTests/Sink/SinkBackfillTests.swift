import Foundation
import Testing
@testable import HashtrendCore

/// `hashtrend sink`: a backfill from `hashtrend trends` output into the table, through the same
/// committed-file protocol as sinkd.
@Suite(.serialized) struct SinkBackfillTests {
    static let ht = TestSupport.binary("hashtrend")

    /// `hashtrend trends posts | hashtrend sink --root DIR` gives exactly the trends output; a second
    /// run writes nothing; a run over a prefix followed by the whole file resumes by line index.
    @Test func localBackfillEqualsTrendsOutputAndIsIdempotent() throws {
        let dir = TestSupport.tempDir("sink-backfill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let computed = try SinkFixture.windowRecords(in: dir, posts: 6_000, rate: 4, window: "10s", slide: "2s", top: 50, seed: 3)
        let lines = try SinkFixture.lines(computed)
        #expect(lines.count >= 500)
        let posts = dir.appendingPathComponent("posts.jsonl").path

        // The pipeline itself, through a shell pipe (tee keeps what flowed: emitted_at is the wall clock).
        let root = dir.appendingPathComponent("table")
        let t0 = Date()
        let flowed = dir.appendingPathComponent("flowed.jsonl")
        let pipe = try ChildProcess("/bin/sh", ["-c", "\"$HT\" trends --window 10s --slide 2s --top 50 \"$POSTS\" | tee \"$FLOWED\" | \"$HT\" sink --root \"$ROOT\" --flush-rows 2000"],
                                    environment: ["HT": Self.ht, "POSTS": posts, "ROOT": root.path, "FLOWED": flowed.path])
        pipe.closeStdin()
        #expect(pipe.wait(timeout: 120) == 0, "\(pipe.stderr)")
        let elapsed = Date().timeIntervalSince(t0)
        #expect(pipe.stderr.contains("\(lines.count) final window(s)"), "\(pipe.stderr)")
        let report = try SinkFixture.check(root: root, expected: flowed, noTmp: true)
        #expect(report.ok, "\(report.mismatches)")
        #expect(report.int("windows") == lines.count)
        #expect(report.int("files") > 1, "files are cut at hours and --flush-rows")
        let windowsFile = flowed
        let before = SinkFixture.snapshot(root)

        // Again, from the file and from stdin: nothing new.
        let (s2, e2) = try SinkFixture.run(["sink", "--root", root.path, "--flush-rows", "2000", windowsFile.path])
        #expect(s2 == 0, "\(e2)")
        #expect(e2.contains("in 0 new file(s)") && e2.contains("\(lines.count) line(s) already in the table"), "\(e2)")
        let (s3, e3) = try SinkFixture.run(["sink", "--root", root.path, "-"], stdinFile: windowsFile)
        #expect(s3 == 0, "\(e3)")
        #expect(e3.contains("in 0 new file(s)"), "\(e3)")
        #expect(SinkFixture.snapshot(root) == before, "a re-run changed the table")

        // A prefix, then the whole file: the second run starts after the prefix.
        let root2 = dir.appendingPathComponent("table2")
        let prefix = dir.appendingPathComponent("prefix.jsonl")
        let cut = lines.count / 3
        try (try SinkFixture.lines(flowed).prefix(cut).joined(separator: "\n") + "\n").write(to: prefix, atomically: true, encoding: .utf8)
        let (s4, e4) = try SinkFixture.run(["sink", "--root", root2.path, "--partition", "7", "--flush-rows", "700", prefix.path])
        #expect(s4 == 0, "\(e4)")
        let (s5, e5) = try SinkFixture.run(["sink", "--root", root2.path, "--partition", "7", "--flush-rows", "700", windowsFile.path])
        #expect(s5 == 0, "\(e5)")
        #expect(e5.contains("partition 7 resumes at line \(cut)") && e5.contains("\(cut) line(s) already in the table"), "\(e5)")
        let report2 = try SinkFixture.check(root: root2, expected: windowsFile, noTmp: true)
        #expect(report2.ok, "\(report2.mismatches)")
        let names = SinkFixture.snapshot(root2).keys.filter { $0.hasSuffix(".parquet") }
        #expect(!names.isEmpty && names.allSatisfy { $0.contains("/trends+00007+") }, "\(names.sorted().prefix(3))")
        print("hashtrend sink backfill: \(lines.count) windows, \(report.int("rows")) rows, \(report.int("files")) files, "
              + String(format: "trends|sink pipeline %.2f s", elapsed))
    }

    /// A malformed line stops the backfill with its line number; what came before it is committed, and
    /// a re-run over the corrected file completes the table.
    @Test func malformedLineStopsWithItsLineNumber() throws {
        let dir = TestSupport.tempDir("sink-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let windowsFile = try SinkFixture.windowRecords(in: dir, posts: 1_500, rate: 4, window: "10s", slide: "2s", top: 10, seed: 5)
        var lines = try SinkFixture.lines(windowsFile)
        let bad = dir.appendingPathComponent("bad.jsonl")
        let at = lines.count / 2
        let saved = lines[at]
        lines[at] = "{\"v\":1,\"window_start\":"
        try (lines.joined(separator: "\n") + "\n").write(to: bad, atomically: true, encoding: .utf8)
        let root = dir.appendingPathComponent("table")
        let (s1, e1) = try SinkFixture.run(["sink", "--root", root.path, "--flush-rows", "50", bad.path])
        #expect(s1 != 0 && s1 != nil)
        #expect(e1.contains("line \(at + 1): not a window record"), "\(e1)")
        let r = try TrendsTableRecovery.recover(target: LocalTableTarget(root: root.path))
        #expect(r.partitions[0]?.nextOffset == Int64(at), "committed through the line before the bad one: \(String(describing: r.partitions[0]))")
        lines[at] = saved
        try (lines.joined(separator: "\n") + "\n").write(to: bad, atomically: true, encoding: .utf8)
        let (s2, e2) = try SinkFixture.run(["sink", "--root", root.path, "--flush-rows", "50", bad.path])
        #expect(s2 == 0, "\(e2)")
        let report = try SinkFixture.check(root: root, expected: windowsFile, noTmp: true)
        #expect(report.ok, "\(report.mismatches)")
        let (s3, e3) = try SinkFixture.run(["sink", "--root", dir.appendingPathComponent("missing-dir/x").path, dir.appendingPathComponent("nope.jsonl").path])
        #expect(s3 != 0 && e3.contains("nope.jsonl"), "\(e3)")
    }

    /// The same backfill into the fake WebHDFS (user.name required, 500s injected): exact, and idempotent.
    @Test func webHDFSBackfillIsExactAndIdempotent() throws {
        let dir = TestSupport.tempDir("sink-backfill-hdfs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let windowsFile = try SinkFixture.windowRecords(in: dir, posts: 3_000, rate: 4, window: "10s", slide: "2s", top: 30, seed: 9)
        let lines = try SinkFixture.lines(windowsFile)
        let fake = try FakeWebHDFS(user: "etl")
        defer { fake.stop() }
        let url = fake.url + "data/trends-bf"
        let onDisk = fake.root.appendingPathComponent("data/trends-bf")
        fake.command("fail CREATE 2 500 datanode")
        fake.command("fail RENAME 1 500 namenode")
        let (s1, e1) = try SinkFixture.run(["sink", "--root", url, "--hdfs-user", "etl", "--flush-rows", "1500", "-"],
                                           stdinFile: windowsFile)
        #expect(s1 == 0, "\(e1)")
        #expect(e1.contains("\(lines.count) final window(s)"), "\(e1)")
        #expect(e1.contains("retry 1 of"), "the injected datanode 500 is retried: \(e1)")
        let report = try SinkFixture.check(root: onDisk, expected: windowsFile, noTmp: true)
        #expect(report.ok, "\(report.mismatches)")
        #expect(report.int("files") > 1)
        let before = SinkFixture.snapshot(onDisk)
        let (s2, e2) = try SinkFixture.run(["sink", "--root", url, "--hdfs-user", "etl", windowsFile.path])
        #expect(s2 == 0, "\(e2)")
        #expect(e2.contains("in 0 new file(s)"), "\(e2)")
        #expect(SinkFixture.snapshot(onDisk) == before)
        // Without the user the fake refuses: a clear error, not a hang.
        let (s3, e3) = try SinkFixture.run(["sink", "--root", url, windowsFile.path], timeout: 60)
        #expect(s3 != 0 && s3 != nil, "\(e3)")
        #expect(e3.lowercased().contains("security") || e3.contains("401") || e3.contains("403") || e3.contains("user"), "\(e3)")
    }
}
