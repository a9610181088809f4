#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Floor division (event times before 1970 still land in the right pane).
@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always)
func saturatingSub(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.subtractingReportingOverflow(b)
    return o ? .min : r
}

/// Counters of what the engine did with its input (for logs and `STATUS=`).
public struct WindowStats: Sendable, Equatable {
    /// Posts counted (not late, not duplicate).
    public var counted: Int64 = 0
    /// Records dropped by the lateness rule (all of them, attributed to a window or not).
    public var lateDropped: Int64 = 0
    /// Late records whose window was already final (only after an idle timeout or during a replay).
    public var lateUnattributed: Int64 = 0
    public var duplicates: Int64 = 0
    /// Records at or below their partition's last processed offset (redelivery), ignored.
    public var redelivered: Int64 = 0
    public var windowsFinal: Int64 = 0
    public var windowsEarly: Int64 = 0
    /// Current memory figures.
    public var panes: Int = 0
    public var trackedPostIDs: Int = 0
    public var partitions: Int = 0

    public init() {}
}

/// The event-time hopping-window engine: counts hashtags per pane, emits each window final exactly
/// once when every active input partition's watermark has passed its end, and can describe its
/// state as a small `WindowCheckpoint` from which a fresh engine rebuilds identical windows by
/// re-reading the input. Not thread-safe: one owner feeds it (trendd's consumer loop, the offline tool).
/// Semantics in docs/windows.md.
public final class WindowEngine {
    public typealias Clock = @Sendable () -> Int64

    /// Wall-clock milliseconds (processing time: idle timeout, early updates, emitted_at).
    public static let systemClock: Clock = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public let config: WindowConfig
    public private(set) var stats = WindowStats()

    /// End of the last finalized window (nil before the first); nothing at or before it is emitted again.
    public var lastFinalEndMillis: Int64? { frontier.map { $0 * S } }

    private let clock: Clock
    private let S: Int64
    private let n: Int64
    private let lateness: Int64
    private let H: Int64
    private let idleMillis: Int64?
    private let earlyMillis: Int64?
    private let maxTags: Int?

    // Per input partition, by slot.
    private var slotOf: [Int32: Int] = [:]
    private var partitionIDs: [Int32] = []
    private var maxEvent: [Int64] = []        // .min: no record yet
    private var lastOffset: [Int64] = []      // .min: no record yet
    private var lastActivity: [Int64] = []

    private final class Pane {
        let index: Int64
        var posts: Int64 = 0
        var exact: [String: TagCell] = [:]
        var bounded: [SpaceSaving?] = []
        /// Per slot: the first (= lowest) offset of a non-late record placed in this pane, and the
        /// partition's max event time before it; what a checkpoint needs to rebuild the pane.
        var firstOffset: [Int64] = []
        var maxBefore: [Int64] = []
        var lastChange: Int64 = 0
        var released = false
        init(index: Int64) { self.index = index }
    }

    /// Late drops need no offset bookkeeping for checkpoints: a late record's window ends after its
    /// partition's watermark, so the record that raised that watermark sits in a retained pane at a
    /// lower offset, and the re-read starts at or before it.
    private final class LateCell {
        var count: Int64 = 0
        var lastChange: Int64 = 0
    }

    private struct SeenPanes {
        var first: Int64
        var more: [Int64]?
    }

    private var panes: [Int64: Pane] = [:]
    private var late: [Int64: LateCell] = [:]
    private var seen: [PostKey: SeenPanes] = [:]
    private var seenByPane: [Int64: [PostKey]] = [:]
    private var seenFloor: Int64 = .min

    /// End pane index (end / S) of the last finalized window (emitted, or skipped before the first).
    private var frontier: Int64?
    /// True once a final window was emitted: from then on every window is emitted, empty or not.
    private var emitting = false
    /// Running sum of the panes of window `accEnd` (the last final one): the next final window adds
    /// one pane and subtracts one instead of summing W/S panes.
    private var acc: [String: TagCell] = [:]
    private var accPosts: Int64 = 0
    private var accEnd: Int64?
    /// With rankBy .score: running counts of the baseline windows accEnd - j*W/S, j = 1...H.
    private var baseAcc: [[String: Int64]] = []
    private var mutationSeq: Int64 = 0
    private var earlySeq: [Int64: Int64] = [:]
    private var lastEarlyAt: Int64 = 0

    public init(config: WindowConfig, clock: @escaping Clock = WindowEngine.systemClock) throws {
        try config.validate()
        self.config = config
        self.clock = clock
        S = config.advance.millis
        n = config.panesPerWindow
        lateness = config.allowedLateness.millis
        H = Int64(config.baselineWindows)
        idleMillis = config.idleTimeout?.millis
        earlyMillis = config.earlyEvery?.millis
        maxTags = config.maxTags
        if earlyMillis != nil { lastEarlyAt = clock() }
    }

    /// A fresh engine in the state `checkpoint` describes; then feed each partition's records from
    /// its `resumeOffset` (nil: from the partition's beginning).
    public convenience init(config: WindowConfig, restoring checkpoint: WindowCheckpoint,
                            clock: @escaping Clock = WindowEngine.systemClock) throws {
        try self.init(config: config, clock: clock)
        try checkpoint.check(against: config)
        frontier = checkpoint.lastFinalEndMillis.map { floorDiv($0, S) }
        emitting = checkpoint.emittedAny
        let now = idleMillis != nil ? clock() : 0
        for p in checkpoint.partitions {
            let s = slot(for: p.partition, now: now)
            maxEvent[s] = p.maxEventTimeMillis ?? .min
            lastOffset[s] = p.resumeOffset.map { $0 - 1 } ?? .min
        }
        stats.partitions = partitionIDs.count
    }

    /// Declares the input partitions upfront, so that finality waits for all of them from the start
    /// (a partition first seen later could otherwise find windows already closed without it).
    public func assign(partitions: [Int32]) {
        let now = idleMillis != nil ? clock() : 0
        for p in partitions { _ = slot(for: p, now: now) }
        stats.partitions = partitionIDs.count
    }

    private func slot(for partition: Int32, now: Int64) -> Int {
        if let s = slotOf[partition] { return s }
        let s = partitionIDs.count
        slotOf[partition] = s
        partitionIDs.append(partition)
        maxEvent.append(.min)
        lastOffset.append(.min)
        lastActivity.append(now)
        stats.partitions = partitionIDs.count
        return s
    }

    // Panes below keepFloor are gone; panes below contentFloor keep only their offsets.
    // Windows after the frontier need panes from f + 1 - n, their baselines H * n more, and sliding
    // the running sum to the next window subtracts pane f - n. Duplicate detection for those panes
    // looks n - 1 panes further back, so their offsets must stay known.
    private var keepFloor: Int64 {
        guard let f = frontier else { return .min }
        return f + 1 - 2 * n - H * n
    }

    private var contentFloor: Int64 {
        guard let f = frontier else { return .min }
        return f - n - H * n
    }

    // MARK: - Input

    /// Feeds one record; returns the windows it made final (in window order) and any due early updates.
    public func process(_ r: WindowInput) -> [TrendWindow] {
        let now = (idleMillis != nil || earlyMillis != nil) ? clock() : 0
        let s = slot(for: r.partition, now: now)
        if lastOffset[s] != .min && r.offset <= lastOffset[s] {
            stats.redelivered += 1
            return []
        }
        lastOffset[s] = r.offset
        lastActivity[s] = now
        let before = maxEvent[s]
        let t = r.eventTimeMillis
        var out: [TrendWindow] = []

        if before != .min, t < saturatingSub(before, lateness) {
            // Late: the partition's own watermark decides, and also where the drop is counted.
            stats.lateDropped += 1
            let e = floorDiv(saturatingSub(before, lateness), S) + 1
            if let f = frontier, e <= f {
                stats.lateUnattributed += 1
            } else {
                let cell: LateCell
                if let c = late[e] { cell = c } else { cell = LateCell(); late[e] = cell }
                cell.count += 1
                mutationSeq += 1
                cell.lastChange = mutationSeq
            }
            if earlyMillis != nil { early(now: now, into: &out) }
            return out
        }

        let advanced = t > before
        if advanced { maxEvent[s] = t }
        let p = floorDiv(t, S)
        if p >= keepFloor {
            let pane: Pane
            if let x = panes[p] { pane = x } else { pane = Pane(index: p); panes[p] = pane }
            if pane.firstOffset.count <= s {
                pane.firstOffset += Array(repeating: .max, count: s + 1 - pane.firstOffset.count)
                pane.maxBefore += Array(repeating: .min, count: s + 1 - pane.maxBefore.count)
            }
            if pane.firstOffset[s] == .max {
                pane.firstOffset[s] = r.offset
                pane.maxBefore[s] = before
            }
            if rememberAndCheckDuplicate(r.postID, pane: p) {
                stats.duplicates += 1
            } else {
                stats.counted += 1
                if !pane.released {
                    count(r, into: pane, slot: s)
                    // Only after an idle partition came back: a pane already in the running sum changed.
                    if let a = accEnd, p < a, p >= a - n { accEnd = nil }
                }
            }
        }
        if advanced || idleMillis != nil { finalizeReady(now: now, into: &out) }
        if earlyMillis != nil { early(now: now, into: &out) }
        return out
    }

    /// Processing-time housekeeping: call periodically (e.g. every second) so idle partitions release
    /// finality and early updates go out even when no records arrive.
    public func tick() -> [TrendWindow] {
        var out: [TrendWindow] = []
        let now = clock()
        finalizeReady(now: now, into: &out)
        if earlyMillis != nil { early(now: now, into: &out) }
        return out
    }

    /// End of input (offline tool, clean shutdown of a bounded run): makes every window that holds a
    /// counted post or a late drop final, in order. Records fed afterwards are treated as for a
    /// partition that was idle.
    public func flush() -> [TrendWindow] {
        var out: [TrendWindow] = []
        guard let hi = maxInterestingEnd() else { return out }
        finalize(through: hi, now: clock(), into: &out)
        return out
    }

    /// A post counts at most once per window (duplicates), and each tag at most once per post.
    private func count(_ r: WindowInput, into pane: Pane, slot s: Int) {
        pane.posts += 1
        mutationSeq += 1
        pane.lastChange = mutationSeq
        let tags = r.tags
        if maxTags != nil, pane.bounded.count <= s {
            pane.bounded += Array(repeating: nil, count: s + 1 - pane.bounded.count)
        }
        for i in tags.indices {
            let tag = tags[i]
            var repeated = false
            var j = 0
            while j < i {
                if tags[j].key == tag.key { repeated = true; break }
                j += 1
            }
            if repeated { continue }
            if let m = maxTags {
                if pane.bounded[s] == nil { pane.bounded[s] = SpaceSaving(capacity: m) }
                pane.bounded[s]!.add(key: tag.key, display: tag.display)
            } else {
                pane.exact[tag.key, default: TagCell(count: 0, spellings: Spellings())].bump(tag.display)
            }
        }
    }

    /// Duplicate iff an earlier non-late record with this id lies less than W/S panes away (so the
    /// two could share a window). Every non-late record is remembered, counted or not, so the answer
    /// depends only on which records came before, never on earlier answers.
    private func rememberAndCheckDuplicate(_ postID: String, pane p: Int64) -> Bool {
        let id = PostKey(postID)
        if var e = seen[id] {
            var dup = abs(e.first - p) < n
            var present = e.first == p
            if let more = e.more {
                for q in more {
                    if abs(q - p) < n { dup = true }
                    if q == p { present = true }
                }
            }
            if !present {
                if e.more == nil { e.more = [p] } else { e.more!.append(p) }
                seen[id] = e
                seenByPane[p, default: []].append(id)
            }
            return dup
        }
        seen[id] = SeenPanes(first: p, more: nil)
        seenByPane[p, default: []].append(id)
        return false
    }

    // MARK: - Finality

    private func isIdle(_ s: Int, now: Int64) -> Bool {
        guard let idle = idleMillis else { return false }
        return now - lastActivity[s] >= idle
    }

    /// min over active partitions of (max event time - lateness); nil while an active partition has
    /// no record yet. With every partition idle, the most advanced one decides.
    private func minWatermark(now: Int64) -> Int64? {
        var m: Int64 = .max
        var anyActive = false
        var idleMax: Int64? = nil
        for s in partitionIDs.indices {
            let me = maxEvent[s]
            if isIdle(s, now: now) {
                if me != .min { idleMax = max(idleMax ?? .min, saturatingSub(me, lateness)) }
                continue
            }
            anyActive = true
            guard me != .min else { return nil }
            m = min(m, saturatingSub(me, lateness))
        }
        return anyActive ? m : idleMax
    }

    private func finalizeReady(now: Int64, into out: inout [TrendWindow]) {
        guard let wm = minWatermark(now: now) else { return }
        let target = floorDiv(wm, S)
        forgetPostIDs(below: target - n + 1)
        if let f = frontier, target <= f { return }
        finalize(through: target, now: now, into: &out)
    }

    private func finalize(through target: Int64, now: Int64, into out: inout [TrendWindow]) {
        var e: Int64
        if let f = frontier {
            e = f + 1
        } else {
            guard let first = minInterestingEnd() else { return }
            e = first
        }
        guard e <= target else { return }
        // `now` is 0 on the record path when no processing-time feature needs the clock.
        let stamp = now != 0 ? now : clock()
        while e <= target {
            let w = finalWindow(end: e, now: stamp)
            if emitting || w.posts > 0 || w.lateDropped > 0 {
                emitting = true
                out.append(w)
                stats.windowsFinal += 1
            }
            frontier = e
            late.removeValue(forKey: e)
            earlySeq.removeValue(forKey: e)
            e += 1
        }
        release()
    }

    private func release() {
        let keep = keepFloor
        let content = contentFloor
        for (p, pane) in panes {
            if p < keep {
                panes.removeValue(forKey: p)
            } else if p < content && !pane.released {
                pane.released = true
                pane.exact = [:]
                pane.bounded = []
            }
        }
        stats.panes = panes.count
    }

    /// Forgets ids whose panes no active partition can reach again within a window's distance.
    private func forgetPostIDs(below floor: Int64) {
        guard floor > seenFloor else { return }
        seenFloor = floor
        for (p, ids) in seenByPane where p < floor {
            for id in ids {
                guard var e = seen[id] else { continue }
                if e.first == p {
                    if let more = e.more, !more.isEmpty {
                        e.first = more[0]
                        e.more = more.count > 1 ? Array(more.dropFirst()) : nil
                        seen[id] = e
                    } else {
                        seen.removeValue(forKey: id)
                    }
                } else if let more = e.more, let i = more.firstIndex(of: p) {
                    var m = more
                    m.remove(at: i)
                    e.more = m.isEmpty ? nil : m
                    seen[id] = e
                }
            }
            seenByPane.removeValue(forKey: p)
        }
        stats.trackedPostIDs = seen.count
    }

    private func minInterestingEnd() -> Int64? {
        var m: Int64? = nil
        for p in panes.keys { m = min(m ?? .max, p + 1) }
        for e in late.keys { m = min(m ?? .max, e) }
        return m
    }

    private func maxInterestingEnd() -> Int64? {
        var m: Int64? = nil
        for (p, pane) in panes where pane.posts > 0 { m = max(m ?? .min, p + n) }
        for e in late.keys { m = max(m ?? .min, e) }
        return m
    }

    // MARK: - Early updates

    private func early(now: Int64, into out: inout [TrendWindow]) {
        guard let every = earlyMillis, now - lastEarlyAt >= every else { return }
        lastEarlyAt = now
        let lo = (frontier ?? .min)
        var ends = Set<Int64>()
        for (p, pane) in panes where pane.posts > 0 {
            var e = p + 1
            while e <= p + n {
                if e > lo { ends.insert(e) }
                e += 1
            }
        }
        for e in late.keys where e > lo { ends.insert(e) }
        var cur = acc
        var curPosts = accPosts
        var curEnd = accEnd
        var curBase = baseAcc
        for e in ends.sorted() {
            var changed = late[e]?.lastChange ?? 0
            var p = e - n
            while p < e {
                if let pane = panes[p] { changed = max(changed, pane.lastChange) }
                p += 1
            }
            guard changed > (earlySeq[e] ?? 0) else { continue }
            earlySeq[e] = changed
            if config.rankBy == .score { moveBaselines(&curBase, from: curEnd, to: e) }
            move(&cur, &curPosts, from: curEnd, to: e)
            curEnd = e
            out.append(render(end: e, table: cur, posts: curPosts, baselines: curBase, final: false, now: now))
            stats.windowsEarly += 1
        }
    }

    // MARK: - Window contents

    private struct Candidate {
        var tag: String
        var count: Int64
        var score: Double
        var spellings: Spellings
    }

    private func finalWindow(end e: Int64, now: Int64) -> TrendWindow {
        if config.rankBy == .score { moveBaselines(&baseAcc, from: accEnd, to: e) }
        move(&acc, &accPosts, from: accEnd, to: e)
        accEnd = e
        return render(end: e, table: acc, posts: accPosts, baselines: baseAcc, final: true, now: now)
    }

    private func moveBaselines(_ b: inout [[String: Int64]], from a: Int64?, to e: Int64) {
        if b.count != Int(H) { b = Array(repeating: [:], count: Int(H)) }
        for j in 0..<Int(H) {
            let shift = Int64(j + 1) * n
            var ignored: Int64 = 0
            move(&b[j], &ignored, from: a.map { $0 - shift }, to: e - shift)
        }
    }

    /// Turns the sum of window `from` into the sum of window `to`: pane by pane when close, else anew.
    private func move<V: FoldableCell>(_ t: inout [String: V], _ posts: inout Int64, from a: Int64?, to e: Int64) {
        if let a, a == e { return }
        if let a, e > a, e - a <= n {
            var x = a + 1
            while x <= e {
                fold(x - 1, into: &t, posts: &posts, add: true)
                fold(x - 1 - n, into: &t, posts: &posts, add: false)
                x += 1
            }
            return
        }
        t = [:]
        posts = 0
        var p = e - n
        while p < e {
            fold(p, into: &t, posts: &posts, add: true)
            p += 1
        }
    }

    private func fold<V: FoldableCell>(_ p: Int64, into t: inout [String: V], posts: inout Int64, add: Bool) {
        guard let pane = panes[p], !pane.released, pane.posts > 0 else { return }
        posts += add ? pane.posts : -pane.posts
        if maxTags == nil {
            if add, t.isEmpty, let whole = pane.exact as? [String: V] {
                t = whole
                return
            }
            for (k, c) in pane.exact { apply(k, c, to: &t, add: add) }
        } else {
            for sk in pane.bounded {
                guard let sk else { continue }
                for c in sk.heap { apply(c.key, TagCell(count: c.count, spellings: c.spellings), to: &t, add: add) }
            }
        }
    }

    @inline(__always)
    private func apply<V: FoldableCell>(_ k: String, _ c: TagCell, to t: inout [String: V], add: Bool) {
        if add {
            t[k, default: V.zero].merge(c)
        } else if let i = t.index(forKey: k) {
            t.values[i].unmerge(c)
            if t.values[i].total <= 0 { t.remove(at: i) }
        }
    }

    private func render(end e: Int64, table merged: [String: TagCell], posts: Int64, baselines: [[String: Int64]],
                        final: Bool, now: Int64) -> TrendWindow {
        let k = config.topK
        var best: [Candidate] = []
        best.reserveCapacity(k + 1)
        let byScore = config.rankBy == .score
        for (tag, cell) in merged {
            if best.count == k {
                // Cannot make the list: by count, or by score since a score never exceeds the count.
                if !byScore && cell.count < best[k - 1].count { continue }
                if byScore && Double(cell.count) < best[k - 1].score { continue }
            }
            let score = byScore ? self.score(count: cell.count, tag: tag, end: e, baselines: baselines) : 0
            let c = Candidate(tag: tag, count: cell.count, score: score, spellings: cell.spellings)
            if best.count == k {
                guard precedes(c, best[k - 1]) else { continue }
                best.removeLast()
            }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if precedes(best[mid], c) { lo = mid + 1 } else { hi = mid }
            }
            best.insert(c, at: lo)
        }
        var top: [TrendEntry] = []
        top.reserveCapacity(best.count)
        for (i, c) in best.enumerated() {
            let score = byScore ? c.score : self.score(count: c.count, tag: c.tag, end: e, baselines: [])
            top.append(TrendEntry(tag: c.tag, display: c.spellings.best, count: c.count, rank: Int32(i + 1), score: score))
        }
        return TrendWindow(windowStartMillis: (e - n) * S, windowEndMillis: e * S, final: final,
                           emittedAtMillis: now, posts: posts, distinct: Int64(merged.count),
                           lateDropped: late[e]?.count ?? 0, top: top)
    }

    private func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        if config.rankBy == .score && a.score != b.score { return a.score > b.score }
        if a.count != b.count { return a.count > b.count }
        return bytesLess(a.tag, b.tag)
    }

    private func paneCount(_ p: Int64, _ tag: String) -> Int64 {
        guard let pane = panes[p], !pane.released, pane.posts > 0 else { return 0 }
        if maxTags == nil { return pane.exact[tag]?.count ?? 0 }
        var c: Int64 = 0
        for sk in pane.bounded { if let sk { c += sk.count(of: tag) } }
        return c
    }

    /// (count - baseline) / sqrt(baseline + 1), rounded to 6 decimals. The baseline is the weighted
    /// average of the tag's count in the `baselineWindows` earlier windows that do not overlap this
    /// one (ending at e - W, e - 2W, ...), weight multiplied by `baselineDecay` per step back.
    private func score(count: Int64, tag: String, end e: Int64, baselines: [[String: Int64]]) -> Double {
        var num = 0.0
        var den = 0.0
        var w = 1.0
        var j: Int64 = 1
        while j <= H {
            var c: Int64 = 0
            if baselines.count == Int(H) {
                c = baselines[Int(j - 1)][tag] ?? 0
            } else {
                let end = e - j * n
                var p = end - n
                while p < end { c += paneCount(p, tag); p += 1 }
            }
            num += w * Double(c)
            den += w
            w *= config.baselineDecay
            j += 1
        }
        let baseline = den > 0 ? num / den : 0
        let raw = (Double(count) - baseline) / (baseline + 1).squareRoot()
        return (raw * 1e6).rounded() / 1e6
    }

    // MARK: - Checkpoint

    /// What to store with the committed offsets. Take it after the windows returned so far have been
    /// delivered; commit each partition's `resumeOffset`.
    public func checkpoint() -> WindowCheckpoint {
        let keep = keepFloor
        var parts: [WindowCheckpoint.Partition] = []
        for s in partitionIDs.indices {
            var off: Int64 = .max
            var mb: Int64 = .min
            for (p, pane) in panes where p >= keep && s < pane.firstOffset.count && pane.firstOffset[s] < off {
                off = pane.firstOffset[s]
                mb = pane.maxBefore[s]
            }
            let resume: Int64?
            if off != .max {
                resume = off
            } else {
                resume = lastOffset[s] == .min ? nil : lastOffset[s] + 1
                mb = maxEvent[s]
            }
            parts.append(WindowCheckpoint.Partition(partition: partitionIDs[s], resumeOffset: resume,
                                                    maxEventTimeMillis: mb == .min ? nil : mb))
        }
        parts.sort { $0.partition < $1.partition }
        return WindowCheckpoint(sizeMillis: config.size.millis, advanceMillis: S, latenessMillis: lateness,
                                baselineWindows: config.baselineWindows,
                                lastFinalEndMillis: frontier.map { $0 * S }, emittedAny: emitting, partitions: parts)
    }
}

/// What a running window sum holds per tag: full cells, or bare counts for baselines.
protocol FoldableCell {
    static var zero: Self { get }
    var total: Int64 { get }
    mutating func merge(_ other: TagCell)
    mutating func unmerge(_ other: TagCell)
}

extension Int64: FoldableCell {
    static var zero: Int64 { 0 }
    var total: Int64 { self }
    @inline(__always) mutating func merge(_ other: TagCell) { self += other.count }
    @inline(__always) mutating func unmerge(_ other: TagCell) { self -= other.count }
}

extension TagCell: FoldableCell {
    static var zero: TagCell { TagCell(count: 0, spellings: Spellings()) }
    var total: Int64 { count }
}

/// Post ids as fixed-size keys: decimal ids of up to 19 digits (X, Mastodon) exactly, anything else
/// as two independent 64-bit hashes (a false duplicate needs a 127-bit collision).
struct PostKey: Hashable {
    var hi: UInt64
    var lo: UInt64

    init(_ id: String) {
        var v: UInt64 = 0
        var digits = 0
        var numeric = true
        var first: UInt8 = 0
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325
        var h2: UInt64 = 0x9E37_79B9_7F4A_7C15
        for b in id.utf8 {
            if digits == 0 { first = b }
            if numeric && b >= 48 && b <= 57 && digits < 19 {
                v = v &* 10 &+ UInt64(b &- 48)
            } else {
                numeric = false
            }
            digits += 1
            h1 = (h1 ^ UInt64(b)) &* 0x100_0000_01b3
            h2 = (h2 &+ UInt64(b)) &* 0xff51_afd7_ed55_8ccd
            h2 ^= h2 >> 29
        }
        if numeric && digits > 0 && (digits == 1 || first != 48) {
            hi = 0
            lo = v
        } else {
            hi = (h1 ^ UInt64(digits)) | (1 << 63)
            lo = h2 ^ (UInt64(digits) &* 0xc4ce_b9fe_1a85_ec53)
        }
    }
}

extension TagCell {
    @inline(__always)
    mutating func bump(_ display: String) {
        count += 1
        spellings.add(display, 1)
    }

    @inline(__always)
    mutating func merge(_ other: TagCell) {
        count += other.count
        spellings.add(other.spellings)
    }

    @inline(__always)
    mutating func unmerge(_ other: TagCell) {
        count -= other.count
        spellings.remove(other.spellings)
    }
}
