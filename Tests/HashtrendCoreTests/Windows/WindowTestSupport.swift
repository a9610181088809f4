import Foundation
@testable import HashtrendCore

/// Helpers on the shared test generator (Support/TestRandom.swift).
extension SplitMix64 {
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func int64(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
    mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
}

/// Processing time under the test's control.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64 = 1_000_000) { value = start }
    var now: Int64 {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
    func advance(_ ms: Int64) { now = now + ms }
    var clock: WindowEngine.Clock { { [self] in self.now } }
}

struct GeneratorOptions {
    var partitions = 3
    var recordsPerPartition = 400
    var start: Int64 = 1_700_000_000_000
    var meanGapMillis: Int64 = 700
    /// Disorder inside the allowed lateness.
    var jitterMillis: Int64 = 8_000
    var lateChance = 0.04
    var lateByMillis: ClosedRange<Int64> = 20_000...90_000
    var duplicateChance = 0.05
    /// Share of duplicates carrying a different event time (a re-sent post with another timestamp).
    var shiftedDuplicateChance = 0.3
    var vocabulary = 25
    var maxTagsPerPost = 4
}

/// Posts per partition, offsets 0..., with disorder, late records, duplicates, repeated tags and
/// several spellings per tag.
func generatePartitions(seed: UInt64, _ o: GeneratorOptions = GeneratorOptions()) -> [[WindowInput]] {
    var rng = SplitMix64(seed: seed)
    let spellings: [[String]] = (0..<o.vocabulary).map { i in
        let base = "tag\(i)"
        return [base, base.uppercased(), "Tag\(i)", i % 5 == 0 ? "tág\(i)" : base]
    }
    var out: [[WindowInput]] = []
    for p in 0..<o.partitions {
        var recs: [WindowInput] = []
        var clock = o.start + Int64(p) * 1_000
        var emitted: [(String, Int64)] = []
        for i in 0..<o.recordsPerPartition {
            clock += rng.int64(0...(2 * o.meanGapMillis))
            var t = clock - rng.int64(0...o.jitterMillis)
            var id = "p\(p)-\(i)"
            if rng.chance(o.lateChance) { t = clock - rng.int64(o.lateByMillis) }
            if !emitted.isEmpty && rng.chance(o.duplicateChance) {
                let (did, dt) = emitted[emitted.count - 1 - rng.int(min(emitted.count, 40))]
                id = did
                t = rng.chance(o.shiftedDuplicateChance) ? dt + rng.int64(-60_000...60_000) : dt
            }
            emitted.append((id, t))
            var tags: [WindowTag] = []
            let k = rng.int(o.maxTagsPerPost + 1)
            for _ in 0..<k {
                // Skewed: low indices are much more frequent.
                let a = rng.int(o.vocabulary), b = rng.int(o.vocabulary)
                let idx = min(a, b)
                let key = "tag\(idx)"
                let sp = spellings[idx][rng.int(4)]
                tags.append(WindowTag(key: key, display: sp))
            }
            recs.append(WindowInput(partition: Int32(p), offset: Int64(i), postID: id, eventTimeMillis: t, tags: tags))
        }
        out.append(recs)
    }
    return out
}

/// A random merge of the partitions that keeps each partition's order.
func interleave(_ parts: [[WindowInput]], seed: UInt64) -> [WindowInput] {
    var rng = SplitMix64(seed: seed)
    var idx = Array(repeating: 0, count: parts.count)
    var out: [WindowInput] = []
    var remaining = parts.reduce(0) { $0 + $1.count }
    while remaining > 0 {
        // Bursty: take a run of 1...20 from one partition.
        let p = rng.int(parts.count)
        var run = 1 + rng.int(20)
        while run > 0 && idx[p] < parts[p].count {
            out.append(parts[p][idx[p]])
            idx[p] += 1
            remaining -= 1
            run -= 1
        }
    }
    return out
}

/// Deliberately simple: for every window, scan all counted records.
func referenceWindows(_ parts: [[WindowInput]], _ c: WindowConfig) -> [TrendWindow] {
    let S = c.advance.millis, W = c.size.millis, L = c.allowedLateness.millis
    let n = W / S
    func fdiv(_ a: Int64, _ b: Int64) -> Int64 { Int64((Double(a) / Double(b)).rounded(.down)) }
    var counted: [WindowInput] = []
    var lateByEnd: [Int64: Int64] = [:]
    var finalMaxes: [Int64] = []
    for recs in parts {
        var maxE: Int64? = nil
        var prior: [(String, Int64)] = []
        for r in recs {
            if let m = maxE, r.eventTimeMillis < m - L {
                lateByEnd[fdiv(m - L, S) + 1, default: 0] += 1
                continue
            }
            maxE = max(maxE ?? .min, r.eventTimeMillis)
            let p = fdiv(r.eventTimeMillis, S)
            let dup = prior.contains { $0.0 == r.postID && abs($0.1 - p) < n }
            prior.append((r.postID, p))
            if !dup { counted.append(r) }
        }
        finalMaxes.append(maxE!)
    }
    let panesOf = counted.map { fdiv($0.eventTimeMillis, S) }
    let firstEnd = min(panesOf.min()! + 1, lateByEnd.keys.min() ?? .max)
    let lastEnd = max(panesOf.max()! + n, lateByEnd.keys.max() ?? .min, fdiv(finalMaxes.min()! - L, S))

    func countsFor(end e: Int64) -> (posts: Int64, counts: [String: Int64], spell: [String: [String: Int64]]) {
        var posts: Int64 = 0
        var counts: [String: Int64] = [:]
        var spell: [String: [String: Int64]] = [:]
        for (r, p) in zip(counted, panesOf) where p >= e - n && p < e {
            posts += 1
            var keys: [String] = []
            for t in r.tags where !keys.contains(t.key) {
                keys.append(t.key)
                counts[t.key, default: 0] += 1
                spell[t.key, default: [:]][t.display, default: 0] += 1
            }
        }
        return (posts, counts, spell)
    }
    func score(_ tag: String, _ count: Int64, _ e: Int64) -> Double {
        var num = 0.0, den = 0.0, w = 1.0
        for j in stride(from: 1, through: Int64(c.baselineWindows), by: 1) {
            num += w * Double(countsFor(end: e - j * n).counts[tag] ?? 0)
            den += w
            w *= c.baselineDecay
        }
        let b = den > 0 ? num / den : 0
        return (((Double(count) - b) / (b + 1).squareRoot()) * 1e6).rounded() / 1e6
    }
    var out: [TrendWindow] = []
    var e = firstEnd
    while e <= lastEnd {
        let (posts, counts, spell) = countsFor(end: e)
        var entries = counts.map { (tag, count) -> TrendEntry in
            let sp = spell[tag]!.sorted { a, b in
                a.value != b.value ? a.value > b.value : Array(a.key.utf8).lexicographicallyPrecedes(Array(b.key.utf8))
            }
            return TrendEntry(tag: tag, display: sp[0].key, count: count, rank: 0, score: score(tag, count, e))
        }
        entries.sort { a, b in
            if c.rankBy == .score && a.score != b.score { return a.score > b.score }
            if a.count != b.count { return a.count > b.count }
            return Array(a.tag.utf8).lexicographicallyPrecedes(Array(b.tag.utf8))
        }
        entries = Array(entries.prefix(c.topK))
        for i in entries.indices { entries[i].rank = Int32(i + 1) }
        out.append(TrendWindow(windowStartMillis: (e - n) * S, windowEndMillis: e * S, final: true, emittedAtMillis: 0,
                               posts: posts, distinct: Int64(counts.count), lateDropped: lateByEnd[e] ?? 0, top: entries))
        e += 1
    }
    return out
}

extension TrendWindow {
    /// Everything but emitted_at.
    var comparable: TrendWindow {
        var w = self
        w.emittedAtMillis = 0
        return w
    }
}

/// Runs an engine over a sequence, then flushes; returns the final windows.
func runEngine(_ c: WindowConfig, partitions: Int, _ seq: [WindowInput], flush: Bool = true) throws -> [TrendWindow] {
    let e = try WindowEngine(config: c, clock: { 0 })
    e.assign(partitions: (0..<partitions).map(Int32.init))
    var out: [TrendWindow] = []
    for r in seq { out += e.process(r) }
    if flush { out += e.flush() }
    return out.filter(\.final).map(\.comparable)
}

func tags(_ pairs: (String, String)...) -> [WindowTag] { pairs.map { WindowTag(key: $0.0, display: $0.1) } }
