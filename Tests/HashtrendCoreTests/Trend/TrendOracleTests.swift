import Foundation
import Testing
@testable import HashtrendCore

/// `hashtrend trends` (the window engine on one partition in file order) against an independent DuckDB
/// computation of the same windows (tests/oracle/trends_oracle.py).
@Suite(.serialized) struct TrendOracleTests {
    /// 20,000 canonical posts with disorder within the lateness and 2% late posts beyond it: every window's
    /// posts, distinct, late_dropped and top-K (tag, display, count, rank) equal the oracle's; the engine's
    /// windows form a continuous series and those with nothing in them are absent from the oracle.
    /// The second case has a gap of event time in the middle (two generated halves), so the engine must
    /// emit empty windows in between.
    @Test(arguments: [(UInt64(7), "4s", false), (UInt64(2026), "5s", true)])
    func offlineTrendsMatchTheDuckDBOracle(seed: UInt64, disorder: String, gap: Bool) throws {
        let t0 = Date()
        let dir = TestSupport.tempDir("trend-oracle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("posts.jsonl")
        // 50 posts/s over 400 s of event time: about 45 windows of 60 s sliding by 10 s.
        if gap {
            // 10,000 posts from 00:00 (200 s), then 10,000 from 00:10: about 35 windows without posts between.
            let second = dir.appendingPathComponent("second.jsonl")
            try TrendTestKit.generate(input, count: 10_000, seed: seed, rate: 50, disorder: disorder, lateFraction: 0.02, lateBy: "5s")
            try TrendTestKit.generate(second, count: 10_000, seed: seed + 1, rate: 50, disorder: disorder, lateFraction: 0.02, lateBy: "5s",
                                      start: "2026-01-01T00:10:00.000Z")
            let h = try FileHandle(forWritingTo: input)
            h.seekToEndOfFile()
            h.write(try Data(contentsOf: second))
            try h.close()
        } else {
            try TrendTestKit.generate(input, count: 20_000, seed: seed, rate: 50, disorder: disorder, lateFraction: 0.02, lateBy: "5s")
        }
        let settings = TrendTestKit.Settings()
        let engine = try TrendTestKit.offlineTrends(input, settings)
        let oracle = try TrendTestKit.oracle(input, settings)

        #expect(engine.count >= 40, "only \(engine.count) windows")
        #expect(engine.allSatisfy { $0.final })
        // One record per window, a continuous series of ends S apart.
        let ends = engine.map(\.windowEndMillis)
        #expect(Set(ends).count == ends.count, "a window emitted twice")
        #expect(zip(ends, ends.dropFirst()).allSatisfy { $1 - $0 == 10_000 }, "gap or disorder in the series of windows")

        let problems = TrendTestKit.compare(engine, oracle)
        #expect(problems.isEmpty, "\(problems.count) difference(s):\n\(problems.joined(separator: "\n"))")

        // The input must exercise what is compared: late drops, several display spellings, full top lists.
        let late = engine.reduce(0) { $0 + $1.lateDropped }
        let posts = oracle.values.reduce(0) { $0 + $1.posts }
        #expect(late > 100, "late drops: \(late)")
        #expect(engine.contains { w in w.top.contains { $0.display != $0.tag } }, "no display differs from its key")
        #expect(engine.filter { $0.top.count == settings.top }.count > 30)
        let empty = engine.filter { $0.posts == 0 }
        if gap {
            #expect(empty.count >= 30, "only \(empty.count) empty windows across the gap")
            #expect(empty.allSatisfy { oracle[$0.windowEndMillis] == nil || oracle[$0.windowEndMillis]!.posts == 0 })
        } else {
            #expect(empty.isEmpty)
        }
        print("trend oracle seed \(seed)\(gap ? " with a gap" : ""): \(engine.count) windows (\(empty.count) empty), \(posts) post-window memberships, \(late) late, \(String(format: "%.1f", Date().timeIntervalSince(t0)))s")
    }
}
