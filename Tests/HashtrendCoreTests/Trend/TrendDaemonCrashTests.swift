import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// trendd through the embedded broker: an uninterrupted run against one killed with SIGKILL at random
/// moments and restarted (as systemd would): the final windows must be identical.
@Suite(.serialized) struct TrendDaemonCrashTests {
    static let partitions: Int32 = 32

    /// Polls a trends topic until the final record for `lastEnd` is there (or `timeout` passes).
    static func waitForFinal(_ bootstrap: String, _ topic: String, end lastEnd: Int64, timeout: TimeInterval, while alive: ChildProcess) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let f = try TrendTestKit.finals(TrendTestKit.readTopic(bootstrap, topic, partitions: 1))
            if f.windows[lastEnd] != nil { return true }
            if !alive.isRunning { return false }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return false
    }

    @Test func killedAndRestartedTrenddPublishesTheSameFinalWindows() throws {
        let t0 = Date()
        let settings = TrendTestKit.Settings()
        let dir = TestSupport.tempDir("trend-crash")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("posts.jsonl")
        let keyed = dir.appendingPathComponent("keyed.tsv")
        let total = 200_000
        // 500 posts/s of event time: 400 s, about 45 windows; disorder within the 5 s lateness.
        try TrendTestKit.generate(input, count: total, seed: 42, rate: 500, disorder: "4s")
        let (lines, maxEvent, sizes) = try TrendTestKit.keyedLines(input, to: keyed)
        #expect(lines == total)

        // Each partition must stay under the mock broker's ~5 MiB, or old records would vanish.
        let ids = try String(contentsOf: keyed, encoding: .utf8).split(separator: "\n").map { Array($0.prefix { $0 != "\t" }.utf8) }
        var predictedBytes = [Int](repeating: 0, count: Int(Self.partitions))
        var predictedCount = [Int64](repeating: 0, count: Int(Self.partitions))
        for (i, id) in ids.enumerated() {
            let p = TrendTestKit.partition(ofKey: id, partitions: Int(Self.partitions))
            predictedBytes[p] += sizes[i] + id.count + 70  // + record overhead
            predictedCount[p] += 1
        }
        #expect(predictedBytes.max()! < 5 << 20, "largest partition \(predictedBytes.max()!) bytes")

        let broker = try BrokerProcess(topics: ["tweets:\(Self.partitions)", "trends:1", "trends2:1", "tweets.dlq:1"])
        defer { broker.stop() }
        try TrendTestKit.produce(broker.bootstrap, topic: "tweets", file: keyed)
        let probe = try KafkaConsumer(config: KafkaConfig(["bootstrap.servers": broker.bootstrap, "group.id": "probe"]), logger: .init(label: "probe"))
        for p in 0..<Self.partitions {
            let (low, high) = try probe.watermarks(TopicPartition("tweets", p), timeout: .seconds(10))
            #expect(low == 0, "partition \(p) lost its oldest records (low watermark \(low))")
            #expect(high == predictedCount[Int(p)], "partition \(p): \(high) records, CRC-32 partitioner predicts \(predictedCount[Int(p)])")
        }
        probe.close()
        let produced = Date()

        // All partitions idle: the most advanced watermark (max - L) closes windows up to its pane.
        let lastEnd = (maxEvent - 5_000) / 10_000 * 10_000

        // A: uninterrupted.
        let a = try TrendTestKit.startTrendd(broker.bootstrap, group: "g1", output: "trends", settings)
        defer { if a.isRunning { a.signal(SIGKILL); a.wait(timeout: 10) } }
        let aDone = try Self.waitForFinal(broker.bootstrap, "trends", end: lastEnd, timeout: 120, while: a)
        Thread.sleep(forTimeInterval: 1)
        a.signal(SIGTERM)
        #expect(a.wait(timeout: 20) == 0, "trendd A: \(a.stderr.suffix(2000))")
        #expect(aDone, "run A never published \(EventTime.format(millis: lastEnd)): \(a.stderr.suffix(2000))")
        let timeA = Date().timeIntervalSince(produced)
        let fa = try TrendTestKit.finals(TrendTestKit.readTopic(broker.bootstrap, "trends", partitions: 1))
        #expect(fa.conflicts.isEmpty, "A repeated windows differently:\n\(fa.conflicts.prefix(3).joined(separator: "\n"))")
        let aEnds = fa.windows.keys.sorted()
        #expect(aEnds.last == lastEnd)
        #expect(zip(aEnds, aEnds.dropFirst()).allSatisfy { $1 - $0 == 10_000 }, "A's windows are not a continuous series")
        #expect(aEnds.count >= 40, "A has \(aEnds.count) windows")
        #expect(fa.windows.values.reduce(0) { $0 + $1.lateDropped } == 0, "disorder within the lateness, yet late drops")

        // A equals the offline engine on the same file, for the windows A holds.
        let offline = Dictionary(uniqueKeysWithValues: try TrendTestKit.offlineTrends(input, settings).map { ($0.windowEndMillis, $0) })
        var offlineDiffs: [String] = []
        for end in aEnds where !TrendTestKit.sameButEmittedAt(fa.windows[end]!, offline[end] ?? TrendWindow(windowStartMillis: 0, windowEndMillis: 0, final: false, emittedAtMillis: 0, posts: -1, distinct: 0, lateDropped: 0, top: [])) {
            offlineDiffs.append("\(EventTime.format(millis: end)): trendd \(String(decoding: fa.windows[end]!.json(), as: UTF8.self))\n  offline \(offline[end].map { String(decoding: $0.json(), as: UTF8.self) } ?? "absent")")
        }
        #expect(offlineDiffs.isEmpty, "\(offlineDiffs.count) window(s) differ from hashtrend trends:\n\(offlineDiffs.prefix(3).joined(separator: "\n"))")

        // B: SIGKILL at random moments, restart each time, until everything is consumed.
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        let tB = Date()
        var bDone = false
        var lastStderr = ""
        while !bDone && Date().timeIntervalSince(tB) < 150 {
            let b = try TrendTestKit.startTrendd(broker.bootstrap, group: "g2", output: "trends2", settings)
            defer { if b.isRunning { b.signal(SIGKILL); b.wait(timeout: 10) } }
            if kills < 5 {
                // Kill while it counts: a random moment after it was assigned its partitions.
                _ = b.waitForStderr(containing: "window state rebuilt", timeout: 30)
                Thread.sleep(forTimeInterval: Double.random(in: 0.1...2.5, using: &rng))
                b.signal(SIGKILL)
                b.wait(timeout: 10)
                kills += 1
                lastStderr = b.stderr
            } else {
                bDone = try Self.waitForFinal(broker.bootstrap, "trends2", end: lastEnd, timeout: 120, while: b)
                Thread.sleep(forTimeInterval: 1)
                b.signal(SIGTERM)
                #expect(b.wait(timeout: 20) == 0, "trendd B: \(b.stderr.suffix(2000))")
                lastStderr = b.stderr
            }
        }
        #expect(bDone, "run B never published \(EventTime.format(millis: lastEnd)) after \(kills) kills: \(lastStderr.suffix(2000))")
        let timeB = Date().timeIntervalSince(tB)
        let bRecords = try TrendTestKit.readTopic(broker.bootstrap, "trends2", partitions: 1)
        let fb = try TrendTestKit.finals(bRecords)
        #expect(fb.conflicts.isEmpty, "B re-emitted \(fb.conflicts.count) window(s) differently:\n\(fb.conflicts.prefix(3).joined(separator: "\n"))")
        #expect(Set(fb.windows.keys) == Set(aEnds), "B has \(fb.windows.count) windows, A \(aEnds.count); only in B: \(Set(fb.windows.keys).subtracting(aEnds).sorted().prefix(5).map { EventTime.format(millis: $0) }), only in A: \(Set(aEnds).subtracting(fb.windows.keys).sorted().prefix(5).map { EventTime.format(millis: $0) })")
        var bDiffs: [String] = []
        for end in aEnds {
            guard let wb = fb.windows[end] else { continue }
            if !TrendTestKit.sameButEmittedAt(wb, fa.windows[end]!) {
                bDiffs.append("\(EventTime.format(millis: end)): A \(String(decoding: fa.windows[end]!.json(), as: UTF8.self))\n  B \(String(decoding: wb.json(), as: UTF8.self))")
            }
        }
        #expect(bDiffs.isEmpty, "\(bDiffs.count) window(s) differ between A and B:\n\(bDiffs.prefix(3).joined(separator: "\n"))")
        #expect(kills >= 5)

        let posts = fa.windows.values.reduce(0) { $0 + $1.posts }
        print("trendd crash test: \(total) posts, \(aEnds.count) final windows (\(posts) post-window memberships), run A \(String(format: "%.1f", timeA))s, run B \(String(format: "%.1f", timeB))s with \(kills) SIGKILLs, repeated finals: A \(fa.repeats), B \(fb.repeats) (all identical), largest partition \(predictedBytes.max()! >> 10) KiB, wall \(String(format: "%.1f", Date().timeIntervalSince(t0)))s")
    }

    /// Windows closed only by the idle timeout (no record after them) are covered by a commit: a trendd
    /// killed after publishing them and restarted publishes no final window again.
    @Test func windowsClosedByIdlenessAreNotRepublishedAfterACrash() throws {
        let settings = TrendTestKit.Settings()
        let dir = TestSupport.tempDir("trend-idle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("posts.jsonl"), keyed = dir.appendingPathComponent("keyed.tsv")
        try TrendTestKit.generate(input, count: 3_000, seed: 5, rate: 50, disorder: "2s")
        // One post 30 s after the others: it lands in one partition; the other partition's watermark stays
        // behind, so the windows between close only when that partition is idle.
        let tail = dir.appendingPathComponent("tail.jsonl")
        try TrendTestKit.generate(tail, count: 1, seed: 6, rate: 50, disorder: "0s", start: "2026-01-01T00:01:30.000Z")
        let h = try FileHandle(forWritingTo: input)
        h.seekToEndOfFile()
        h.write(try Data(contentsOf: tail))
        try h.close()
        let (_, maxEvent, _) = try TrendTestKit.keyedLines(input, to: keyed)
        let broker = try BrokerProcess(topics: ["tweets:2", "trends:1", "tweets.dlq:1"])
        defer { broker.stop() }
        try TrendTestKit.produce(broker.bootstrap, topic: "tweets", file: keyed)
        let lastEnd = (maxEvent - 5_000) / 10_000 * 10_000

        let first = try TrendTestKit.startTrendd(broker.bootstrap, group: "g", output: "trends", settings, extra: ["--commit-interval", "200ms"])

        defer { if first.isRunning { first.signal(SIGKILL); first.wait(timeout: 10) } }
        let done = try Self.waitForFinal(broker.bootstrap, "trends", end: lastEnd, timeout: 60, while: first)
        #expect(done, "trendd never published \(EventTime.format(millis: lastEnd)): \(first.stderr.suffix(2000))")
        Thread.sleep(forTimeInterval: 1.5)  // several commit intervals
        first.signal(SIGKILL)
        first.wait(timeout: 10)
        let before = try TrendTestKit.readTopic(broker.bootstrap, "trends", partitions: 1).count

        let second = try TrendTestKit.startTrendd(broker.bootstrap, group: "g", output: "trends", settings)

        defer { if second.isRunning { second.signal(SIGKILL); second.wait(timeout: 10) } }
        #expect(second.waitForStderr(containing: "window state rebuilt", timeout: 30))
        Thread.sleep(forTimeInterval: 5)  // past the idle timeout: whatever it would re-publish is out
        second.signal(SIGTERM)
        #expect(second.wait(timeout: 20) == 0)
        let records = try TrendTestKit.readTopic(broker.bootstrap, "trends", partitions: 1)
        let f = try TrendTestKit.finals(records)
        #expect(f.conflicts.isEmpty)
        #expect(records.count == before, "\(records.count - before) record(s) published again after the restart")
        #expect(f.repeats == 0)
        #expect(f.windows[lastEnd] != nil)
        #expect(f.windows.count >= 9)  // 00:00:00 ... 00:01:20; the last three only by idleness
    }
}
