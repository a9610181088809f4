import Foundation
import Testing
@testable import HashtrendCore

private let T0: Int64 = 1_700_000_000_000 / 60_000 * 60_000  // minute-aligned

@Suite struct WindowEngineReferenceTests {
    static let configs: [WindowConfig] = [
        WindowConfig(size: .seconds(60), advance: .seconds(10), allowedLateness: .seconds(15), topK: 5),
        WindowConfig(size: .seconds(30), advance: .seconds(30), allowedLateness: .seconds(10), topK: 3, rankBy: .score,
                     baselineWindows: 2, baselineDecay: 0.7),
        WindowConfig(size: .seconds(20), advance: .seconds(5), allowedLateness: .seconds(0), topK: 8, rankBy: .score),
    ]

    @Test(arguments: 0..<3, [11, 12, 13] as [UInt64])
    func finalWindowsEqualBruteForce(configIndex: Int, seed: UInt64) throws {
        let c = Self.configs[configIndex]
        let parts = generatePartitions(seed: seed &* 31 &+ UInt64(configIndex))
        let expected = referenceWindows(parts, c)
        #expect(expected.count > 5)
        #expect(expected.contains { $0.lateDropped > 0 })
        for interleaving: UInt64 in [1, 2] {
            let got = try runEngine(c, partitions: parts.count, interleave(parts, seed: interleaving))
            #expect(got.count == expected.count)
            for (g, x) in zip(got, expected) where g != x {
                Issue.record("window \(EventTime.format(millis: g.windowEndMillis)) differs:\n got \(g)\n exp \(x)")
                break
            }
            #expect(got == expected)
        }
    }

    @Test func finalExactlyOnceInOrderWithoutFlushGaps() throws {
        let c = Self.configs[0]
        let parts = generatePartitions(seed: 5)
        let got = try runEngine(c, partitions: parts.count, interleave(parts, seed: 9))
        let ends = got.map(\.windowEndMillis)
        #expect(ends == Array(Set(ends)).sorted())
        for (a, b) in zip(ends, ends.dropFirst()) { #expect(b - a == c.advance.millis) }
    }
}

@Suite struct WindowCheckpointTests {
    static let config = WindowConfig(size: .seconds(40), advance: .seconds(10), allowedLateness: .seconds(12), topK: 6,
                                     rankBy: .score, baselineWindows: 2, baselineDecay: 0.5)

    /// Take a checkpoint at many cut points, restore into a fresh engine, replay each partition from its
    /// resume offset in another interleaving: windows after the checkpoint's last final end must equal
    /// the uninterrupted run, and nothing at or before it may be emitted again.
    @Test(arguments: [21, 22, 23] as [UInt64], [WindowCheckpointTests.config,
                                                WindowConfig(size: .seconds(30), advance: .seconds(10), allowedLateness: .seconds(10),
                                                             topK: 4, maxTags: 6)])
    func restoreReproducesFinalWindows(seed: UInt64, config c: WindowConfig) throws {
        var opts = GeneratorOptions()
        opts.partitions = 4
        opts.recordsPerPartition = 250
        opts.meanGapMillis = 2_500
        let parts = generatePartitions(seed: seed, opts)
        let seq = interleave(parts, seed: seed &+ 100)
        let engine = try WindowEngine(config: c, clock: { 0 })
        engine.assign(partitions: (0..<Int32(parts.count)).map { $0 })
        var full: [TrendWindow] = []
        var cuts: [(WindowCheckpoint, Int)] = []
        var rng = SplitMix64(seed: seed)
        for r in seq {
            full += engine.process(r).filter(\.final).map(\.comparable)
            if rng.chance(0.03) { cuts.append((engine.checkpoint(), full.count)) }
        }
        full += engine.flush().map(\.comparable)
        #expect(cuts.count > 10)
        #expect(cuts.contains { $0.0.lastFinalEndMillis != nil })
        #expect(cuts.contains { $0.0.partitions.contains { $0.resumeOffset != nil && $0.resumeOffset! > 0 } })
        for (k, (cp, emittedBefore)) in cuts.enumerated() {
            let decoded = try WindowCheckpoint(encoded: cp.encoded())
            #expect(decoded == cp)
            let restored = try WindowEngine(config: c, restoring: decoded, clock: { 0 })
            var replay: [[WindowInput]] = []
            for (p, recs) in parts.enumerated() {
                let from = decoded.partitions.first { $0.partition == Int32(p) }?.resumeOffset ?? 0
                replay.append(recs.filter { $0.offset >= from })
            }
            var got: [TrendWindow] = []
            var chained: WindowEngine? = nil
            let replaySeq = interleave(replay, seed: seed &+ UInt64(k) &* 7 &+ 1)
            // Every other cut: checkpoint again halfway through the replay and restore once more.
            let half = k % 2 == 0 ? replaySeq.count / 2 : -1
            var current = restored
            for (i, r) in replaySeq.enumerated() {
                if i == half {
                    let cp2 = current.checkpoint()
                    let next = try WindowEngine(config: c, restoring: try WindowCheckpoint(encoded: cp2.encoded()), clock: { 0 })
                    // Re-read from the second checkpoint's offsets; records before are skipped by offset.
                    chained = next
                    var rest: [[WindowInput]] = []
                    for (p, recs) in parts.enumerated() {
                        let from = cp2.partitions.first { $0.partition == Int32(p) }?.resumeOffset ?? 0
                        rest.append(recs.filter { $0.offset >= from })
                    }
                    for r2 in interleave(rest, seed: UInt64(k) &+ 77) { got += next.process(r2).filter(\.final).map(\.comparable) }
                    break
                }
                got += current.process(r).filter(\.final).map(\.comparable)
            }
            if let chained { current = chained }
            got += current.flush().map(\.comparable)
            let last = cp.lastFinalEndMillis ?? .min
            #expect(!got.contains { $0.windowEndMillis <= last }, "re-emitted a window at or before the checkpoint")
            // Union deduped by end must equal the uninterrupted run.
            var union: [Int64: TrendWindow] = [:]
            for w in full.prefix(emittedBefore) { union[w.windowEndMillis] = w }
            for w in got where union[w.windowEndMillis] == nil { union[w.windowEndMillis] = w }
            let merged = union.keys.sorted().map { union[$0]! }
            let expectAfter = full.filter { $0.windowEndMillis > last }
            if got.filter({ $0.windowEndMillis > last }) != expectAfter {
                let gotAfter = got.filter { $0.windowEndMillis > last }
                let diff = zip(gotAfter, expectAfter).first { $0 != $1 }
                Issue.record("cut \(k) \(cp.encoded()): \(gotAfter.count) vs \(expectAfter.count) windows; first diff \(String(describing: diff))")
            }
            #expect(merged == full)
        }
    }

    @Test func encodingIsCompactAndRoundTrips() throws {
        let c = WindowConfig(size: .seconds(3600), advance: .seconds(300), allowedLateness: .seconds(60))
        var parts: [WindowCheckpoint.Partition] = []
        for p in 0..<32 {
            parts.append(.init(partition: Int32(p), resumeOffset: 12_345_678 + Int64(p) * 1000,
                               maxEventTimeMillis: 1_764_075_600_000 - 7_200_000 + Int64(p) * 37))
        }
        let cp = WindowCheckpoint(sizeMillis: c.size.millis, advanceMillis: c.advance.millis, latenessMillis: 60_000,
                                  baselineWindows: 3, lastFinalEndMillis: 1_764_075_600_000, emittedAny: true, partitions: parts)
        let s = cp.encoded()
        #expect(s.utf8.count < 600, "\(s.utf8.count) bytes: \(s)")
        #expect(try WindowCheckpoint(encoded: s) == cp)
        let empty = WindowCheckpoint(sizeMillis: 1, advanceMillis: 1, latenessMillis: 0, baselineWindows: 0,
                                     lastFinalEndMillis: nil, emittedAny: false,
                                     partitions: [.init(partition: 3, resumeOffset: nil, maxEventTimeMillis: -5)])
        #expect(try WindowCheckpoint(encoded: empty.encoded()) == empty)
        for bad in ["", "w2.1.1.0.0..0:", "w1.1.1.0.0..2:", "w1.1.1.0.0..1:0.1", "w1.1.1.0.0..1:0.!.1", "w1.1.1.0"] {
            #expect(throws: WindowCheckpoint.DecodeError.self) { try WindowCheckpoint(encoded: bad) }
        }
    }

    @Test func restoreRejectsOtherConfiguration() throws {
        let e = try WindowEngine(config: Self.config, clock: { 0 })
        let cp = e.checkpoint()
        var other = Self.config
        other.allowedLateness = .seconds(1)
        #expect(throws: WindowConfigError.self) { try WindowEngine(config: other, restoring: cp) }
    }
}

@Suite struct WindowEngineBehaviourTests {
    static let tumbling = WindowConfig(size: .seconds(10), advance: .seconds(10), allowedLateness: .seconds(2), topK: 5)

    func post(_ p: Int32, _ off: Int64, _ id: String, _ t: Int64, _ tg: [WindowTag]) -> WindowInput {
        WindowInput(partition: p, offset: off, postID: id, eventTimeMillis: T0 + t, tags: tg)
    }

    @Test func windowSizeMustBeMultipleOfAdvance() {
        let c = WindowConfig(size: .seconds(25), advance: .seconds(10), allowedLateness: .seconds(1))
        #expect(throws: WindowConfigError.sizeNotMultipleOfAdvance(size: .seconds(25), advance: .seconds(10))) {
            try WindowEngine(config: c)
        }
        #expect("\(WindowConfigError.sizeNotMultipleOfAdvance(size: .seconds(25), advance: .seconds(10)))".contains("multiple"))
        #expect(throws: WindowConfigError.self) {
            try WindowEngine(config: WindowConfig(size: .seconds(0), advance: .seconds(10), allowedLateness: .seconds(1)))
        }
    }

    @Test func duplicatesCountOnceAndTagsOncePerPost() throws {
        let e = try WindowEngine(config: Self.tumbling, clock: { 0 })
        e.assign(partitions: [0])
        var out: [TrendWindow] = []
        out += e.process(post(0, 0, "a", 1_000, tags(("x", "X"), ("x", "x"), ("y", "y"))))
        out += e.process(post(0, 1, "a", 1_000, tags(("x", "X"))))            // redelivered post: duplicate
        out += e.process(post(0, 2, "b", 2_000, []))                           // no tags still counts
        out += e.process(post(0, 3, "a", 45_000, tags(("x", "x"))))           // same id, far away: counts again
        out += e.process(post(0, 3, "c", 46_000, tags(("x", "x"))))           // same offset: ignored
        out += e.flush()
        let w0 = try #require(out.first { $0.windowStartMillis == T0 })
        #expect(w0.posts == 2)
        #expect(w0.top.map(\.tag) == ["x", "y"])
        #expect(w0.top[0].count == 1)
        #expect(w0.top[0].display == "X")
        let w4 = try #require(out.first { $0.windowStartMillis == T0 + 40_000 })
        #expect(w4.posts == 1)
        #expect(e.stats.duplicates == 1)
        #expect(e.stats.redelivered == 1)
        // Windows between are emitted final and empty, none before the first record.
        #expect(out.map(\.windowStartMillis) == [0, 10_000, 20_000, 30_000, 40_000].map { T0 + $0 })
        #expect(out.filter { $0.posts == 0 }.count == 3)
    }

    @Test func lateRecordsAreDroppedAndCountedInTheWindowAfterTheirPartitionsWatermark() throws {
        let e = try WindowEngine(config: Self.tumbling, clock: { 4_242 })
        e.assign(partitions: [0, 1])
        var out: [TrendWindow] = []
        out += e.process(post(0, 0, "a", 1_000, tags(("x", "x"))))
        out += e.process(post(0, 1, "b", 25_000, tags(("x", "x"))))   // p0 watermark: 23s
        out += e.process(post(0, 2, "c", 22_999, tags(("y", "y"))))   // late (< 23s): counted in window ending 30s
        out += e.process(post(0, 3, "d", 23_000, tags(("y", "y"))))   // exactly at the watermark: not late
        out += e.process(post(1, 0, "e", 1_500, tags(("z", "z"))))    // p1 has its own watermark: not late
        #expect(out.isEmpty)  // p1 holds finality back (watermark -0.5s)
        out += e.process(post(1, 1, "f", 40_000, []))
        // min watermark = 23s: windows ending at 10s and 20s final.
        #expect(out.map(\.windowEndMillis) == [T0 + 10_000, T0 + 20_000])
        #expect(out[0].posts == 2)
        #expect(out.allSatisfy { $0.emittedAtMillis == 4_242 })
        out += e.flush()
        let w2 = try #require(out.first { $0.windowEndMillis == T0 + 30_000 })
        #expect(w2.lateDropped == 1)
        #expect(w2.top.map(\.tag) == ["x", "y"])
        #expect(out.reduce(0) { $0 + $1.lateDropped } == 1)
        #expect(e.stats.lateDropped == 1)
        // Late is checked before duplicate: a late copy of a counted post counts as late.
        let e2 = try WindowEngine(config: Self.tumbling, clock: { 0 })
        _ = e2.process(post(0, 0, "a", 1_000, []))
        _ = e2.process(post(0, 1, "b", 30_000, []))
        _ = e2.process(post(0, 2, "a", 1_000, []))
        #expect(e2.stats.lateDropped == 1)
        #expect(e2.stats.duplicates == 0)
    }

    /// Tumbling windows, a 30 s idle timeout, partitions 0 and 1 assigned: at processing time 0, p1 sends
    /// one record (0.5 s) and p0 two (1 s with tag x, then 35 s). Returns the engine, its clock and the
    /// windows those records emitted (none: p1 holds the watermark back).
    private func p1HoldingBackP0() throws -> (WindowEngine, FakeClock, [TrendWindow]) {
        let clock = FakeClock()
        var c = Self.tumbling
        c.idleTimeout = .seconds(30)
        let e = try WindowEngine(config: c, clock: clock.clock)
        e.assign(partitions: [0, 1])
        var out = e.process(post(1, 0, "a", 500, []))
        out += e.process(post(0, 0, "b", 1_000, tags(("x", "x"))))
        out += e.process(post(0, 1, "c", 35_000, []))
        return (e, clock, out)
    }

    @Test func idlePartitionStopsHoldingFinalityAfterTimeout() throws {
        var (e, clock, out) = try p1HoldingBackP0()
        #expect(out.isEmpty)
        clock.advance(29_999)
        #expect(e.tick().isEmpty)
        _ = e.process(post(0, 2, "d", 36_000, []))        // p0 stays active
        clock.advance(1)
        out = e.tick()                                     // p1 silent for 30s: p0 alone decides (34s)
        #expect(out.map(\.windowEndMillis) == [T0 + 10_000, T0 + 20_000, T0 + 30_000])
        #expect(out.allSatisfy { $0.final })
        // p1 comes back with an old record: it only holds back windows not yet final.
        out = e.process(post(1, 1, "e", 31_000, tags(("y", "y"))))
        #expect(out.isEmpty)
        out = e.flush()
        #expect(out.map(\.windowEndMillis) == [T0 + 40_000])
        #expect(out[0].top.map(\.tag) == ["y"])
    }

    /// The engine does not recompute the min watermark for every record: a record that neither advances
    /// its partition nor wakes it must still notice that time made another partition idle.
    @Test func recordAfterAnotherPartitionTimedOutReleasesFinality() throws {
        var (e, clock, out) = try p1HoldingBackP0()
        clock.advance(29_999)
        out += e.process(post(0, 2, "d", 34_500, []))      // p0 active, not advancing; p1 not idle yet
        #expect(out.isEmpty)
        clock.advance(1)
        out = e.process(post(0, 3, "e", 34_600, []))       // no tick: p1 has been silent for 30 s
        #expect(out.map(\.windowEndMillis) == [T0 + 10_000, T0 + 20_000, T0 + 30_000])
        #expect(out.allSatisfy { $0.final })
    }

    /// A partition back from idle adds to a pane already in the running window sum: later windows must
    /// still be the exact sum of their panes.
    @Test func revivedPartitionKeepsRunningSumExact() throws {
        let clock = FakeClock()
        let c = WindowConfig(size: .seconds(30), advance: .seconds(10), allowedLateness: .seconds(0), topK: 3,
                             idleTimeout: .seconds(10))
        let e = try WindowEngine(config: c, clock: clock.clock)
        e.assign(partitions: [0, 1])
        _ = e.process(post(1, 0, "a", 1_000, []))
        for (i, t) in [1_000, 5_000, 25_000, 45_000].enumerated() {
            _ = e.process(post(0, Int64(i), "b\(i)", Int64(t), tags(("x", "x"))))
        }
        clock.advance(10_000)
        var out = e.tick()
        #expect(out.last?.windowEndMillis == T0 + 40_000)
        out = e.process(post(1, 1, "c", 25_000, tags(("x", "X"))))
        out += e.flush()
        #expect(out.map(\.windowEndMillis) == [T0 + 50_000, T0 + 60_000, T0 + 70_000])
        #expect(out.map(\.posts) == [3, 1, 1])
        #expect(out.map { $0.top.first?.count ?? 0 } == [3, 1, 1])
        #expect(out.map(\.distinct) == [1, 1, 1])
    }

    @Test func allPartitionsIdleLetTheMostAdvancedDecide() throws {
        let clock = FakeClock()
        var c = Self.tumbling
        c.idleTimeout = .seconds(30)
        let e = try WindowEngine(config: c, clock: clock.clock)
        e.assign(partitions: [0, 1])
        _ = e.process(post(0, 0, "b", 1_000, []))
        _ = e.process(post(0, 1, "c", 35_000, []))
        clock.advance(10_000)
        #expect(e.tick().isEmpty)
        clock.advance(20_000)
        // p1 never sent anything and was assigned 30s ago: it no longer holds back; p0 is idle too,
        // so the most advanced watermark (33s) decides.
        #expect(e.tick().map(\.windowEndMillis) == [T0 + 10_000, T0 + 20_000, T0 + 30_000])
    }

    @Test func earlyUpdatesAtMostOncePerPeriodForChangedWindows() throws {
        let clock = FakeClock()
        var c = WindowConfig(size: .seconds(20), advance: .seconds(10), allowedLateness: .seconds(5), topK: 3)
        c.earlyEvery = .seconds(5)
        let e = try WindowEngine(config: c, clock: clock.clock)
        e.assign(partitions: [0])
        var out = e.process(post(0, 0, "a", 1_000, tags(("x", "x"))))
        #expect(out.isEmpty)                                // period not elapsed since start
        clock.advance(5_000)
        out = e.process(post(0, 1, "b", 2_000, tags(("x", "x"))))
        // Windows containing pane 0: ending at 10s and 20s.
        #expect(out.map(\.windowEndMillis) == [T0 + 10_000, T0 + 20_000])
        #expect(out.allSatisfy { !$0.final && $0.posts == 2 })
        clock.advance(1_000)
        out = e.process(post(0, 2, "c", 3_000, []))
        #expect(out.isEmpty)                                // within the period
        clock.advance(4_000)
        #expect(e.tick().count == 2)                        // changed since: both again
        clock.advance(5_000)
        #expect(e.tick().isEmpty)                           // nothing changed
        out = e.process(post(0, 3, "d", 12_000, []))
        clock.advance(5_000)
        out += e.tick()
        #expect(out.map(\.windowEndMillis) == [T0 + 20_000, T0 + 30_000])
        out = e.flush()
        #expect(out.allSatisfy { $0.final })
        #expect(out.map(\.windowEndMillis) == [T0 + 10_000, T0 + 20_000, T0 + 30_000])
        #expect(e.stats.windowsFinal == 3)
    }

    @Test func topKOrdersByCountThenTagBytesAndCutsAtK() throws {
        var c = Self.tumbling
        c.topK = 3
        let e = try WindowEngine(config: c, clock: { 0 })
        e.assign(partitions: [0])
        let counts: [(String, Int)] = [("b", 2), ("a", 2), ("Z", 2), ("é", 3), ("c", 1), ("ö", 2)]
        var off: Int64 = 0
        for (tag, k) in counts {
            for _ in 0..<k {
                _ = e.process(post(0, off, "id\(off)", 1_000, [WindowTag(key: tag, display: tag)]))
                off += 1
            }
        }
        let w = try #require(e.flush().first)
        #expect(w.distinct == 6)
        // Byte order: "Z" (0x5A) < "a" < "b" < "é" (C3 A9) < "ö" (C3 B6).
        #expect(w.top.map(\.tag) == ["é", "Z", "a"])
        #expect(w.top.map(\.rank) == [1, 2, 3])
        #expect(w.top.map(\.count) == [3, 2, 2])
    }

    @Test func displayIsMostFrequentSpellingTiesToSmallestBytes() throws {
        let e = try WindowEngine(config: Self.tumbling, clock: { 0 })
        e.assign(partitions: [0, 1])
        let seq: [(Int32, String, String)] = [
            (0, "swift", "Swift"), (1, "swift", "SWIFT"), (0, "swift", "SWIFT"), (1, "swift", "swift"), (0, "swift", "Swift"),
            (0, "kafka", "kafka"), (1, "kafka", "Kafka"),
            (0, "cafe", "Cafe\u{301}"), (1, "cafe", "Café"),
        ]
        var offs: [Int64] = [0, 0]
        for (i, (p, key, disp)) in seq.enumerated() {
            _ = e.process(post(p, offs[Int(p)], "id\(i)", 1_000, [WindowTag(key: key, display: disp)]))
            offs[Int(p)] += 1
        }
        let w = try #require(e.flush().first)
        let d = Dictionary(uniqueKeysWithValues: w.top.map { ($0.tag, $0.display) })
        #expect(d["swift"] == "SWIFT" || d["swift"] == "Swift")
        #expect(d["swift"] == "SWIFT")                      // 2 vs 2: "SWIFT" < "Swift" in bytes
        #expect(d["kafka"] == "Kafka")                      // 1 vs 1: "K" < "k"
        #expect(Array(d["cafe"]!.utf8) == Array("Cafe\u{301}".utf8))  // canonically equal, kept apart by bytes
    }

    @Test func scoreComparesWithEarlierNonOverlappingWindows() throws {
        let c = WindowConfig(size: .seconds(20), advance: .seconds(10), allowedLateness: .seconds(0), topK: 5,
                             rankBy: .score, baselineWindows: 2, baselineDecay: 0.5)
        let e = try WindowEngine(config: c, clock: { 0 })
        e.assign(partitions: [0])
        var off: Int64 = 0
        func add(_ t: Int64, _ tag: String, _ k: Int) -> [TrendWindow] {
            var out: [TrendWindow] = []
            for _ in 0..<k {
                out += e.process(post(0, off, "id\(off)", t, [WindowTag(key: tag, display: tag)]))
                off += 1
            }
            return out
        }
        var out: [TrendWindow] = []
        // Windows [0,20) and [20,40) are the baseline of [40,60).
        out += add(1_000, "steady", 4)       // [0,20): steady 4
        out += add(21_000, "steady", 2)      // [20,40): steady 2
        out += add(41_000, "steady", 3)      // [40,60): steady 3
        out += add(42_000, "new", 2)         // [40,60): new 2
        out += e.flush()
        let w = try #require(out.first { $0.windowStartMillis == T0 + 40_000 })
        // steady: baseline = (1*2 + 0.5*4) / 1.5 = 8/3; score = (3 - 8/3) / sqrt(11/3)
        let b = 8.0 / 3.0
        let steady = ((3 - b) / (b + 1).squareRoot() * 1e6).rounded() / 1e6
        #expect(w.top.map(\.tag) == ["new", "steady"])     // new: 2 / 1 = 2 beats 0.174
        #expect(w.top[0].score == 2)
        #expect(w.top[1].score == steady)
        // Ranking by count puts steady first with the same scores.
        var c2 = c
        c2.rankBy = .count
        let e2 = try WindowEngine(config: c2, clock: { 0 })
        e2.assign(partitions: [0])
        off = 0
        for (t, tag, k) in [(1_000, "steady", 4), (21_000, "steady", 2), (41_000, "steady", 3), (42_000, "new", 2)] as [(Int64, String, Int)] {
            for _ in 0..<k { _ = e2.process(post(0, off, "id\(off)", t, [WindowTag(key: tag, display: tag)])); off += 1 }
        }
        let w2 = try #require(e2.flush().first { $0.windowStartMillis == T0 + 40_000 })
        #expect(w2.top.map(\.tag) == ["steady", "new"])
        #expect(w2.top.map(\.score) == [steady, 2])
    }

    @Test func redeliveredOffsetsAreIgnored() throws {
        let e = try WindowEngine(config: Self.tumbling, clock: { 0 })
        _ = e.process(post(0, 5, "a", 1_000, []))
        _ = e.process(post(0, 5, "b", 1_000, []))
        _ = e.process(post(0, 4, "c", 1_000, []))
        let w = try #require(e.flush().first)
        #expect(w.posts == 1)
        #expect(e.stats.redelivered == 2)
    }
}

@Suite struct SpaceSavingTests {
    @Test func boundedCountersStayWithinErrorBound() throws {
        let m = 50
        var c = WindowConfig(size: .seconds(30), advance: .seconds(10), allowedLateness: .seconds(0), topK: 10, maxTags: m)
        let bounded = try WindowEngine(config: c, clock: { 0 })
        c.maxTags = nil
        let exact = try WindowEngine(config: c, clock: { 0 })
        for e in [bounded, exact] { e.assign(partitions: [0, 1]) }
        var rng = SplitMix64(seed: 99)
        var offs: [Int64] = [0, 0]
        var outB: [TrendWindow] = [], outE: [TrendWindow] = []
        var t: Int64 = T0
        for i in 0..<20_000 {
            t += Int64(rng.int(20))
            let p = rng.int(2)
            // 30% heavy hitters among 8 tags, the rest a flood of unique tags.
            let key = rng.chance(0.3) ? "hot\(rng.int(8) * rng.int(2))" : "u\(i)"
            let r = WindowInput(partition: Int32(p), offset: offs[p], postID: "id\(i)", eventTimeMillis: t,
                                tags: [WindowTag(key: key, display: key)])
            offs[p] += 1
            outB += bounded.process(r)
            outE += exact.process(r)
        }
        outB += bounded.flush()
        outE += exact.flush()
        #expect(outB.count == outE.count)
        var checked = 0
        for (b, x) in zip(outB, outE) {
            #expect(b.windowEndMillis == x.windowEndMillis)
            #expect(b.posts == x.posts)
            // N = tag occurrences in the window = posts here (one tag each).
            let bound = (x.posts + Int64(m) - 1) / Int64(m)
            let truth = Dictionary(uniqueKeysWithValues: x.top.map { ($0.tag, $0.count) })
            for entry in b.top where truth[entry.tag] != nil {
                #expect(abs(entry.count - truth[entry.tag]!) <= bound, "\(entry.tag): \(entry.count) vs \(truth[entry.tag]!) bound \(bound)")
                checked += 1
            }
            // The heavy hitters are found.
            let hotTrue = Set(x.top.prefix(3).map(\.tag))
            #expect(hotTrue.isSubset(of: Set(b.top.map(\.tag))))
            #expect(b.distinct <= Int64(2 * m * 3))
        }
        #expect(checked > 100)
    }

    @Test func summaryNeverExceedsCapacityAndOverestimatesWithinBound() {
        var s = SpaceSaving(capacity: 16)
        var truth: [String: Int64] = [:]
        var rng = SplitMix64(seed: 7)
        for i in 0..<5_000 {
            let k = rng.chance(0.5) ? "h\(rng.int(4))" : "x\(i)"
            s.add(key: k, display: k)
            truth[k, default: 0] += 1
            #expect(s.heap.count <= 16)
        }
        for c in s.heap {
            let t = truth[c.key]!
            #expect(c.count >= t)
            #expect(c.count - t <= c.error)
            #expect(c.error <= s.total / 16)
        }
        for h in 0..<4 { #expect(s.count(of: "h\(h)") >= truth["h\(h)"]!) }
    }
}

@Suite struct TrendWindowJSONTests {
    @Test func encodesDesignFieldsAndRoundTrips() throws {
        let w = TrendWindow(windowStartMillis: 1_764_075_600_000, windowEndMillis: 1_764_079_200_000, final: true,
                            emittedAtMillis: 1_764_079_201_234, posts: 42, distinct: 7, lateDropped: 3,
                            top: [TrendEntry(tag: "swift", display: "Swift", count: 9, rank: 1, score: 1.5),
                                  TrendEntry(tag: "q\"\\\n", display: "Ünï\u{1}", count: 2, rank: 2, score: -0.3333333)])
        let s = String(decoding: w.json(), as: UTF8.self)
        #expect(s == #"{"v":1,"window_start":"2025-11-25T13:00:00.000Z","window_end":"2025-11-25T14:00:00.000Z","final":true,"emitted_at":"2025-11-25T14:00:01.234Z","posts":42,"distinct":7,"late_dropped":3,"top":[{"tag":"swift","display":"Swift","count":9,"rank":1,"score":1.5},{"tag":"q\"\\\n","display":"Ünï\u0001","count":2,"rank":2,"score":-0.333333}]}"#)
        var back = try TrendWindow(json: w.json())
        #expect(back.top[1].score == -0.333333)
        back.top[1].score = w.top[1].score
        #expect(back == w)
        var nf = w
        nf.final = false
        nf.top = []
        #expect(try TrendWindow(json: nf.json()) == nf)
    }

    @Test func scoreFormatting() {
        #expect(formatScore(2) == "2")
        #expect(formatScore(0) == "0")
        #expect(formatScore(-1.25) == "-1.25")
        #expect(formatScore(0.0000004) == "0")
        #expect(formatScore(3.1415926) == "3.141593")
        #expect(formatScore(-0.05) == "-0.05")
    }

    @Test func rejectsBadRecords() {
        for bad in [#"[]"#, #"{"v":2}"#, #"{"v":1,"window_start":"x"}"#,
                    #"{"v":1,"window_start":"2025-11-25T13:00:00.000Z","window_end":"2025-11-25T14:00:00.000Z","final":true,"emitted_at":"2025-11-25T14:00:01.234Z","posts":"1","distinct":7,"late_dropped":3,"top":[]}"#] {
            #expect(throws: (any Error).self) { try TrendWindow(json: Array(bad.utf8)) }
        }
    }
}

@Suite struct WindowEarlyConsistencyTests {
    /// An early update taken after the last record of a window must equal its final record but for
    /// `final` (checks the running sums used for early updates, with score ranking).
    @Test(arguments: [TrendRanking.count, .score], [nil, 5] as [Int?])
    func earlyUpdateAfterLastRecordEqualsFinal(rank: TrendRanking, maxTags: Int?) throws {
        let clock = FakeClock()
        let c = WindowConfig(size: .seconds(30), advance: .seconds(10), allowedLateness: .seconds(12), topK: 4,
                             rankBy: rank, earlyEvery: .seconds(1), maxTags: maxTags, baselineWindows: 2)
        let e = try WindowEngine(config: c, clock: clock.clock)
        var opts = GeneratorOptions()
        opts.recordsPerPartition = 150
        let parts = generatePartitions(seed: 77, opts)
        e.assign(partitions: (0..<Int32(parts.count)).map { $0 })
        var finals: [TrendWindow] = []
        for (i, r) in interleave(parts, seed: 3).enumerated() {
            if i % 17 == 0 { clock.advance(1_000) }
            finals += e.process(r).filter { $0.final }
        }
        clock.advance(1_000)
        let early = e.tick().filter { !$0.final }
        #expect(early.count >= 3)
        finals += e.flush()
        for w in early {
            var f = try #require(finals.first { $0.windowEndMillis == w.windowEndMillis })
            f.final = false
            #expect(f.comparable == w.comparable)
        }
    }
}

@Suite struct PostKeyTests {
    @Test func numericIdsAreExactAndOthersHashed() {
        #expect(PostKey("1600000000000000001") == PostKey("1600000000000000001"))
        #expect(PostKey("1600000000000000001") != PostKey("1600000000000000002"))
        #expect(PostKey("7") != PostKey("007"))
        #expect(PostKey("12345678901234567890") != PostKey("2345678901234567890"))
        #expect(PostKey("a") != PostKey("b"))
        #expect(PostKey("109876543210@mastodon.social") == PostKey("109876543210@mastodon.social"))
        #expect(PostKey("") != PostKey("0"))
        var keys = Set<PostKey>()
        for i in 0..<10_000 { keys.insert(PostKey("id-\(i)")); keys.insert(PostKey("\(i)")) }
        #expect(keys.count == 20_000)
    }
}
