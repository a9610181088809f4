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
///
/// Stored properties are marked `@exclusivity(unchecked)`: the engine has one owner and none of its
/// methods holds overlapping accesses, while the dynamic checks of class properties cost about a tenth
/// of the hot path (several per record).
public final class WindowEngine {
    public typealias Clock = @Sendable () -> Int64

    /// Wall-clock milliseconds (processing time: idle timeout, early updates, emitted_at).
    public static let systemClock: Clock = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public let config: WindowConfig
    @exclusivity(unchecked) public private(set) var stats = WindowStats()

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
    @exclusivity(unchecked) private var slotOf: [Int32: Int] = [:]
    @exclusivity(unchecked) private var partitionIDs: [Int32] = []
    @exclusivity(unchecked) private var maxEvent: [Int64] = []        // .min: no record yet
    @exclusivity(unchecked) private var lastOffset: [Int64] = []      // .min: no record yet
    @exclusivity(unchecked) private var lastActivity: [Int64] = []
    /// Processing time at or after which an active partition may have turned idle (see processRecord).
    @exclusivity(unchecked) private var idleRecheckAt: Int64 = .min

    private final class Pane {
        let index: Int64
        @exclusivity(unchecked) var posts: Int64 = 0
        @exclusivity(unchecked) var exact = PaneCounts()
        @exclusivity(unchecked) var bounded: [SpaceSavingSummary<Int32>?] = []
        /// Per slot: the first (= lowest) offset of a non-late record placed in this pane, and the
        /// partition's max event time before it; what a checkpoint needs to rebuild the pane.
        @exclusivity(unchecked) var firstOffset: [Int64] = []
        @exclusivity(unchecked) var maxBefore: [Int64] = []
        @exclusivity(unchecked) var lastChange: Int64 = 0
        @exclusivity(unchecked) var released = false
        init(index: Int64) { self.index = index }
    }

    /// Late drops need no offset bookkeeping for checkpoints: a late record's window ends after its
    /// partition's watermark, so the record that raised that watermark sits in a retained pane at a
    /// lower offset, and the re-read starts at or before it.
    private final class LateCell {
        var count: Int64 = 0
        var lastChange: Int64 = 0
    }

    @exclusivity(unchecked) private var panes: [Int64: Pane] = [:]
    /// The pane the last record went to (most records go to the newest pane), kept alive by `lastPane`
    /// and lent to the hot path through `lastPaneRef` without a retain and release per record.
    @exclusivity(unchecked) private var lastPane: Pane?
    @exclusivity(unchecked) private var lastPaneRef: Unmanaged<Pane>?
    @exclusivity(unchecked) private var lastPaneIndex: Int64 = .min

    private func setLastPane(_ pane: Pane?) {
        lastPane = pane
        lastPaneRef = pane.map { Unmanaged.passUnretained($0) }
        lastPaneIndex = pane?.index ?? .min
    }
    @exclusivity(unchecked) private var late: [Int64: LateCell] = [:]
    @exclusivity(unchecked) private var seen = PostIDSet()
    @exclusivity(unchecked) private var lastPartition: Int32 = 0
    @exclusivity(unchecked) private var lastSlot = -1

    /// Counting keys and spellings, interned: panes and sums hold ids, not Strings.
    private let tagTable = InternTable()
    private let spellingTable = InternTable()
    /// Per spelling id: the id of its counting key (HashtagKey), -1 until computed (byte input only).
    @exclusivity(unchecked) private var keyOfSpelling = ScratchBuffer<Int32>(capacity: 1024)
    /// The current record's distinct tags (first spelling of each), reused between records.
    @exclusivity(unchecked) private var recordTags = ScratchBuffer<Int32>()
    @exclusivity(unchecked) private var recordSpellings = ScratchBuffer<Int32>()

    /// End pane index (end / S) of the last finalized window (emitted, or skipped before the first).
    @exclusivity(unchecked) private var frontier: Int64?
    /// True once a final window was emitted: from then on every window is emitted, empty or not.
    @exclusivity(unchecked) private var emitting = false
    /// Running sum of the panes of window `accEnd` (the last final one): the next final window adds
    /// one pane and subtracts one instead of summing W/S panes.
    @exclusivity(unchecked) private var acc = WindowSum()
    @exclusivity(unchecked) private var accEnd: Int64?
    /// With rankBy .score: running counts of the baseline windows accEnd - j*W/S, j = 1...H.
    @exclusivity(unchecked) private var baseAcc: [WindowSum] = []
    @exclusivity(unchecked) private var mutationSeq: Int64 = 0
    @exclusivity(unchecked) private var earlySeq: [Int64: Int64] = [:]
    @exclusivity(unchecked) private var lastEarlyAt: Int64 = 0
    @exclusivity(unchecked) private var displayScratch: [SpellingCounts<Int32>.Extra] = []

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

    deinit {
        keyOfSpelling.free()
        recordTags.free()
        recordSpellings.free()
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

    @inline(__always)
    private func slot(for partition: Int32, now: Int64) -> Int {
        if lastSlot >= 0 && partition == lastPartition { return lastSlot }
        let s = slotNew(for: partition, now: now)
        lastPartition = partition
        lastSlot = s
        return s
    }

    private func slotNew(for partition: Int32, now: Int64) -> Int {
        if let s = slotOf[partition] { return s }
        let s = partitionIDs.count
        slotOf[partition] = s
        partitionIDs.append(partition)
        maxEvent.append(.min)
        lastOffset.append(.min)
        lastActivity.append(now)
        idleRecheckAt = .min
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
        recordTags.removeAll()
        recordSpellings.removeAll()
        for tag in r.tags {
            let k = tagTable.intern(tag.key)
            guard !recordTags.contains(k) else { continue }
            recordTags.append(k)
            recordSpellings.append(spellingTable.intern(tag.display))
        }
        return processRecord(partition: r.partition, offset: r.offset, postKey: PostKey(r.postID),
                             eventTimeMillis: r.eventTimeMillis)
    }

    /// Feeds one record given as bytes (the decoder's borrowed view, no Strings): `tags` calls its
    /// argument with each hashtag as written (UTF-8, without `#`, in order); the counting key is
    /// derived here (HashtagKey), once per distinct spelling the engine holds.
    @inline(__always)
    public func process(partition: Int32, offset: Int64, postID: UnsafeBufferPointer<UInt8>, eventTimeMillis: Int64,
                        tags: ((UnsafeBufferPointer<UInt8>) -> Void) -> Void) -> [TrendWindow] {
        let key = PostKey(utf8: postID)
        seen.prefetch(key)
        recordTags.removeAll()
        recordSpellings.removeAll()
        tags { addSpelling($0) }
        return processRecord(partition: partition, offset: offset, postKey: key, eventTimeMillis: eventTimeMillis)
    }

    @inline(__always)
    private func addSpelling(_ display: UnsafeBufferPointer<UInt8>) {
        let sp = spellingTable.intern(display)
        let i = Int(sp)
        if i >= keyOfSpelling.count { keyOfSpelling.extend(to: i + 1, with: -1) }
        var k = keyOfSpelling[i]
        if k < 0 {
            k = HashtagKey.withKey(utf8: display) { tagTable.intern($0) }
            keyOfSpelling[i] = k
        }
        guard !recordTags.contains(k) else { return }
        recordTags.append(k)
        recordSpellings.append(sp)
    }

    /// The record whose distinct tags are in recordTags/recordSpellings.
    private func processRecord(partition: Int32, offset: Int64, postKey: PostKey, eventTimeMillis t: Int64) -> [TrendWindow] {
        let now = (idleMillis != nil || earlyMillis != nil) ? clock() : 0
        let s = slot(for: partition, now: now)
        if lastOffset[s] != .min && offset <= lastOffset[s] {
            stats.redelivered += 1
            return []
        }
        lastOffset[s] = offset
        let woke = idleMillis != nil && isIdle(s, now: now)
        lastActivity[s] = now
        let before = maxEvent[s]
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
            if lastPaneRef == nil || lastPaneIndex != p {
                if let x = panes[p] {
                    setLastPane(x)
                } else {
                    let x = Pane(index: p)
                    panes[p] = x
                    setLastPane(x)
                }
            }
            lastPaneRef.unsafelyUnwrapped._withUnsafeGuaranteedRef { pane in
                place(pane, slot: s, offset: offset, before: before, postKey: postKey)
            }
        }
        // The min watermark cannot pass the frontier unless this partition's own watermark does (and ids
        // are forgotten only for records below the min watermark). With idle partitions it also moves
        // when this record wakes its partition, or when time makes an active partition idle (not before
        // idleRecheckAt): otherwise it is unchanged, and recomputing it per record cost ~2% of trendd.
        let passed = advanced && (frontier.map { floorDiv(saturatingSub(t, lateness), S) > $0 } ?? true)
        if passed || (idleMillis != nil && (woke || now >= idleRecheckAt)) {
            finalizeReady(now: now, into: &out)
        }
        if earlyMillis != nil { early(now: now, into: &out) }
        return out
    }

    /// A non-late record in a retained pane: offsets for checkpoints, duplicates, counts.
    @inline(__always)
    private func place(_ pane: Pane, slot s: Int, offset: Int64, before: Int64, postKey: PostKey) {
        let p = pane.index
        if pane.firstOffset.count <= s {
            pane.firstOffset += Array(repeating: .max, count: s + 1 - pane.firstOffset.count)
            pane.maxBefore += Array(repeating: .min, count: s + 1 - pane.maxBefore.count)
        }
        if pane.firstOffset[s] == .max {
            pane.firstOffset[s] = offset
            pane.maxBefore[s] = before
        }
        // Duplicate iff an earlier non-late record with this id lies less than W/S panes away (so
        // the two could share a window). Every non-late record is remembered, counted or not, so
        // the answer depends only on which records came before, never on earlier answers.
        if seen.rememberAndCheck(postKey, pane: p, within: n) {
            stats.duplicates += 1
        } else {
            stats.counted += 1
            if !pane.released {
                count(into: pane, slot: s)
                if maxTags != nil && (tagTable.wantsSweep || spellingTable.wantsSweep) { sweepTables(below: .min) }
                // Only after an idle partition came back: a pane already in the running sum changed.
                if let a = accEnd, p < a, p >= a - n { accEnd = nil }
            }
        }
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

    /// A post counts at most once per window (duplicates), and each tag at most once per post (the
    /// record's tags are already distinct by key, each with its first spelling).
    private func count(into pane: Pane, slot s: Int) {
        pane.posts += 1
        mutationSeq += 1
        pane.lastChange = mutationSeq
        let p = pane.index
        if let m = maxTags {
            if pane.bounded.count <= s {
                pane.bounded += Array(repeating: nil, count: s + 1 - pane.bounded.count)
            }
            if pane.bounded[s] == nil { pane.bounded[s] = SpaceSavingSummary(capacity: m) }
            for i in recordTags.indices {
                pane.bounded[s]!.add(key: recordTags[i], display: recordSpellings[i])
                tagTable.touch(recordTags[i], pane: p)
                spellingTable.touch(recordSpellings[i], pane: p)
            }
        } else {
            for i in recordTags.indices {
                pane.exact.add(tag: recordTags[i], spelling: recordSpellings[i])
                tagTable.touch(recordTags[i], pane: p)
                spellingTable.touch(recordSpellings[i], pane: p)
            }
        }
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
        var recheck: Int64 = .max
        defer { idleRecheckAt = recheck }
        for s in partitionIDs.indices {
            let me = maxEvent[s]
            if isIdle(s, now: now) {
                if me != .min { idleMax = max(idleMax ?? .min, saturatingSub(me, lateness)) }
                continue
            }
            anyActive = true
            if let idle = idleMillis { recheck = min(recheck, lastActivity[s] + idle) }
            guard me != .min else {
                recheck = .min // not all deadlines seen: recompute on the next record
                return nil
            }
            m = min(m, saturatingSub(me, lateness))
        }
        return anyActive ? m : idleMax
    }

    private func finalizeReady(now: Int64, into out: inout [TrendWindow]) {
        guard let wm = minWatermark(now: now) else { return }
        let target = floorDiv(wm, S)
        // Ids whose panes no active partition can reach again within a window's distance.
        seen.forget(below: target - n + 1)
        stats.trackedPostIDs = seen.count
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
                pane.exact = PaneCounts()
                pane.bounded = []
            }
        }
        if let x = lastPane, x.index < keep { setLastPane(nil) }
        stats.panes = panes.count
        if (content != .min || maxTags != nil) && (tagTable.wantsSweep || spellingTable.wantsSweep) {
            sweepTables(below: content)
        }
    }

    /// Tests: sweep the intern tables from `minimum` entries on; how many sweeps ran.
    var internSweepMinimum: Int {
        get { tagTable.sweepMinimum }
        set { tagTable.sweepMinimum = newValue; spellingTable.sweepMinimum = newValue }
    }
    var internSweeps: Int { tagTable.sweeps + spellingTable.sweeps }

    /// Frees the keys and spellings that no pane with content holds (running sums only hold those):
    /// exact counts by the newest pane each was counted in; bounded counts by what the Space-Saving
    /// summaries still hold (evicted tags go too, so a flood of unique tags cannot grow the tables).
    private func sweepTables(below floor: Int64) {
        var liveTags: [Bool] = []
        var liveSpellings: [Bool] = []
        if maxTags != nil {
            liveTags = Array(repeating: false, count: tagTable.idLimit)
            liveSpellings = Array(repeating: false, count: spellingTable.idLimit)
            for pane in panes.values where !pane.released {
                for sk in pane.bounded {
                    guard let sk else { continue }
                    for c in sk.heap {
                        liveTags[Int(c.key)] = true
                        c.spellings.forEachHeld { liveSpellings[Int($0)] = true }
                    }
                }
            }
        }
        let bounded = maxTags != nil
        let keepTag: (Int) -> Bool = { bounded ? liveTags[$0] : self.tagTable.lastPane[$0] >= floor }
        let keepSpelling: (Int) -> Bool = { bounded ? liveSpellings[$0] : self.spellingTable.lastPane[$0] >= floor }
        tagTable.sweep(keeping: keepTag) { id in
            acc.drop(id)
            for j in baseAcc.indices { baseAcc[j].drop(id) }
            // Spellings derived to this key derive again when next seen.
        }
        for i in keyOfSpelling.indices where keyOfSpelling[i] >= 0 && !tagTable.isLive(keyOfSpelling[i]) {
            keyOfSpelling[i] = -1
        }
        spellingTable.sweep(keeping: keepSpelling) { id in
            if Int(id) < keyOfSpelling.count { keyOfSpelling[Int(id)] = -1 }
        }
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
            move(&cur, from: curEnd, to: e)
            curEnd = e
            out.append(render(end: e, table: cur, baselines: curBase, final: false, now: now))
            stats.windowsEarly += 1
        }
    }

    // MARK: - Window contents

    private struct Candidate {
        var tag: Int32
        var count: Int64
        var score: Double
    }

    private func finalWindow(end e: Int64, now: Int64) -> TrendWindow {
        if config.rankBy == .score { moveBaselines(&baseAcc, from: accEnd, to: e) }
        move(&acc, from: accEnd, to: e)
        accEnd = e
        return render(end: e, table: acc, baselines: baseAcc, final: true, now: now)
    }

    private func moveBaselines(_ b: inout [WindowSum], from a: Int64?, to e: Int64) {
        if b.count != Int(H) { b = Array(repeating: WindowSum(), count: Int(H)) }
        for j in 0..<Int(H) {
            let shift = Int64(j + 1) * n
            move(&b[j], from: a.map { $0 - shift }, to: e - shift)
        }
    }

    /// Turns the sum of window `from` into the sum of window `to`: pane by pane when close, else anew.
    private func move(_ t: inout WindowSum, from a: Int64?, to e: Int64) {
        if let a, a == e { return }
        t.reserve(tagTable.idLimit)
        if let a, e > a, e - a <= n {
            var x = a + 1
            while x <= e {
                fold(x - 1, into: &t, add: true)
                fold(x - 1 - n, into: &t, add: false)
                x += 1
            }
            return
        }
        t.reset()
        var p = e - n
        while p < e {
            fold(p, into: &t, add: true)
            p += 1
        }
    }

    /// Pane `p` when it is retained with its counts and counted something.
    private func countedPane(_ p: Int64) -> Pane? {
        guard let pane = panes[p], !pane.released, pane.posts > 0 else { return nil }
        return pane
    }

    /// The counted panes among `from..<to`, in order.
    private func countedPanes(from a: Int64, to b: Int64) -> [Pane] {
        var out: [Pane] = []
        var p = a
        while p < b {
            if let pane = countedPane(p) { out.append(pane) }
            p += 1
        }
        return out
    }

    private func fold(_ p: Int64, into t: inout WindowSum, add: Bool) {
        guard let pane = countedPane(p) else { return }
        t.posts += add ? pane.posts : -pane.posts
        if maxTags == nil {
            pane.exact.cells.withUnsafeBufferPointer { cells in
                for c in cells { t.add(c.tag, add ? c.count : -c.count) }
            }
        } else {
            for sk in pane.bounded {
                guard let sk else { continue }
                for c in sk.heap { t.add(c.key, add ? c.count : -c.count) }
            }
        }
    }

    private func render(end e: Int64, table merged: WindowSum, baselines: [WindowSum], final: Bool, now: Int64) -> TrendWindow {
        let k = config.topK
        var best: [Candidate] = []
        best.reserveCapacity(k + 1)
        let byScore = config.rankBy == .score
        merged.active.withUnsafeBufferPointer { active in
            merged.counts.withUnsafeBufferPointer { counts in
                for tag in active {
                    let count = counts[Int(tag)]
                    if best.count == k {
                        // Cannot make the list: by count, or by score since a score never exceeds the count.
                        if !byScore && count < best[k - 1].count { continue }
                        if byScore && Double(count) < best[k - 1].score { continue }
                    }
                    let score = byScore ? self.score(count: count, tag: tag, end: e, baselines: baselines) : 0
                    let c = Candidate(tag: tag, count: count, score: score)
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
            }
        }
        var top: [TrendEntry] = []
        top.reserveCapacity(best.count)
        // Ranked by count, the score is still reported. The baseline counts are read pane by pane, all of
        // the list's tags at once: each pane's table is then read while it is in the cache (tag by tag,
        // the lookups in up to H*W/S panes per tag missed the cache; 5% of `trends`).
        let h = Int(H)
        var baseMatrix = [Int64](repeating: 0, count: byScore ? 0 : best.count * h)
        if !byScore {
            for j in 0..<h {
                let end = e - Int64(j + 1) * n
                for pane in countedPanes(from: end - n, to: end) {
                    for i in best.indices { baseMatrix[i * h + j] += paneCount(pane, best[i].tag) }
                }
            }
        }
        var baseCounts = [Int64](repeating: 0, count: h)
        // The window's own panes, looked up once for all entries' spellings.
        let windowPanes = countedPanes(from: e - n, to: e)
        for (i, c) in best.enumerated() {
            let score: Double
            if byScore {
                score = c.score
            } else {
                for j in 0..<h { baseCounts[j] = baseMatrix[i * h + j] }
                score = self.score(count: c.count, baselineCounts: baseCounts)
            }
            top.append(TrendEntry(tag: tagTable.string(c.tag), display: display(of: c.tag, in: windowPanes), count: c.count,
                                  rank: Int32(i + 1), score: score))
        }
        return TrendWindow(windowStartMillis: (e - n) * S, windowEndMillis: e * S, final: final,
                           emittedAtMillis: now, posts: merged.posts, distinct: Int64(merged.active.count),
                           lateDropped: late[e]?.count ?? 0, top: top)
    }

    /// The spelling of `tag` seen most often in the window whose panes (with content) are `windowPanes`;
    /// ties go to the smallest UTF-8 byte sequence (so the result does not depend on arrival order).
    private func display(of tag: Int32, in windowPanes: [Pane]) -> String {
        // A buffer kept between calls (one per entry of every window: its allocation showed).
        var seen: [SpellingCounts<Int32>.Extra] = []
        swap(&seen, &displayScratch)
        seen.removeAll(keepingCapacity: true)
        defer { swap(&seen, &displayScratch) }
        func add(_ sp: Int32, _ c: Int64) {
            for i in seen.indices where seen[i].spelling == sp {
                seen[i].count += c
                return
            }
            seen.append(.init(spelling: sp, count: c))
        }
        for pane in windowPanes {
            if maxTags == nil {
                if let i = pane.exact.find(tag) { pane.exact.cells[i].spellings.forEach(add) }
            } else {
                for sk in pane.bounded { sk?.counter(of: tag)?.spellings.forEach(add) }
            }
        }
        guard var b = seen.first else { return "" }
        for x in seen.dropFirst() where x.count > b.count || (x.count == b.count && spellingTable.less(x.spelling, b.spelling)) {
            b = x
        }
        return spellingTable.string(b.spelling)
    }

    private func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        if config.rankBy == .score && a.score != b.score { return a.score > b.score }
        if a.count != b.count { return a.count > b.count }
        return tagTable.less(a.tag, b.tag)
    }

    private func paneCount(_ p: Int64, _ tag: Int32) -> Int64 {
        countedPane(p).map { paneCount($0, tag) } ?? 0
    }

    private func paneCount(_ pane: Pane, _ tag: Int32) -> Int64 {
        if maxTags == nil { return pane.exact.find(tag).map { pane.exact.cells[$0].count } ?? 0 }
        var c: Int64 = 0
        for sk in pane.bounded { if let sk { c += sk.count(of: tag) } }
        return c
    }

    /// (count - baseline) / sqrt(baseline + 1), rounded to 6 decimals. The baseline is the weighted
    /// average of the tag's count in the `baselineWindows` earlier windows that do not overlap this
    /// one (ending at e - W, e - 2W, ...), weight multiplied by `baselineDecay` per step back.
    private func score(count: Int64, tag: Int32, end e: Int64, baselines: [WindowSum]) -> Double {
        var counts = [Int64](repeating: 0, count: Int(H))
        var j: Int64 = 1
        while j <= H {
            if baselines.count == Int(H) {
                counts[Int(j - 1)] = baselines[Int(j - 1)].count(of: tag)
            } else {
                let end = e - j * n
                var p = end - n
                while p < end { counts[Int(j - 1)] += paneCount(p, tag); p += 1 }
            }
            j += 1
        }
        return score(count: count, baselineCounts: counts)
    }

    private func score(count: Int64, baselineCounts: [Int64]) -> Double {
        var num = 0.0
        var den = 0.0
        var w = 1.0
        var j: Int64 = 1
        while j <= H {
            let c = baselineCounts[Int(j - 1)]
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

/// Post ids as fixed-size keys: decimal ids of up to 19 digits (X, Mastodon) exactly, anything else
/// as two independent 64-bit hashes (a false duplicate needs a 126-bit collision).
struct PostKey: Hashable {
    var hi: UInt64
    var lo: UInt64

    /// Never set in a key (PostIDSet keeps a flag there).
    static let flagBit: UInt64 = 1 << 62

    init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    init(_ id: String) {
        var id = id
        self = id.withUTF8 { PostKey(utf8: $0) }
    }

    init(utf8 id: UnsafeBufferPointer<UInt8>) {
        // Decimal ids (the common case) need no hashing.
        let n = id.count
        if n > 0 && n <= 19 && (n == 1 || id[0] != 48) {
            var v: UInt64 = 0
            var numeric = true
            for b in id {
                let d = b &- 48
                if d > 9 { numeric = false; break }
                v = v &* 10 &+ UInt64(d)
            }
            if numeric {
                hi = 0
                lo = v
                return
            }
        }
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325
        var h2: UInt64 = 0x9E37_79B9_7F4A_7C15
        for b in id {
            h1 = (h1 ^ UInt64(b)) &* 0x100_0000_01b3
            h2 = (h2 &+ UInt64(b)) &* 0xff51_afd7_ed55_8ccd
            h2 ^= h2 >> 29
        }
        hi = ((h1 ^ UInt64(n)) | (1 << 63)) & ~PostKey.flagBit
        lo = h2 ^ (UInt64(n) &* 0xc4ce_b9fe_1a85_ec53)
    }
}


/// Exact counts of one pane: tag id -> cell, an open-addressing index over a dense array of cells.
struct PaneCounts {
    struct Cell {
        var tag: Int32
        var count: Int64
        var spellings: SpellingCounts<Int32>
    }

    private(set) var cells: [Cell] = []
    private var index: [Int32] = []  // cell + 1; 0 = empty
    private var mask = -1

    @inline(__always)
    private static func hash(_ t: Int32) -> Int {
        Int(truncatingIfNeeded: (UInt64(UInt32(bitPattern: t)) &* 0x9E37_79B9_7F4A_7C15) >> 32)
    }

    mutating func add(tag: Int32, spelling: Int32) {
        if (cells.count + 1) * 2 > mask + 1 { grow() }
        var i = PaneCounts.hash(tag) & mask
        while true {
            let s = index[i]
            if s == 0 {
                cells.append(Cell(tag: tag, count: 1, spellings: SpellingCounts(spelling, 1)))
                index[i] = Int32(cells.count)
                return
            }
            let c = Int(s &- 1)
            if cells[c].tag == tag {
                cells[c].count += 1
                cells[c].spellings.add(spelling, 1)
                return
            }
            i = (i &+ 1) & mask
        }
    }

    func find(_ tag: Int32) -> Int? {
        guard mask >= 0 else { return nil }
        var i = PaneCounts.hash(tag) & mask
        while true {
            let s = index[i]
            if s == 0 { return nil }
            let c = Int(s &- 1)
            if cells[c].tag == tag { return c }
            i = (i &+ 1) & mask
        }
    }

    private mutating func grow() {
        let cap = max(64, (mask + 1) * 2)
        mask = cap - 1
        index = Array(repeating: 0, count: cap)
        for (c, cell) in cells.enumerated() {
            var i = PaneCounts.hash(cell.tag) & mask
            while index[i] != 0 { i = (i &+ 1) & mask }
            index[i] = Int32(c + 1)
        }
    }
}

/// A running sum of panes: count per tag id (a flat array), the tags with a positive count, posts.
struct WindowSum {
    private(set) var counts: [Int64] = []
    private var position: [Int32] = []  // index in `active`, -1 = absent
    private(set) var active: [Int32] = []
    var posts: Int64 = 0

    /// Room for ids below `limit` (called before folding panes, so `add` needs no check).
    mutating func reserve(_ limit: Int) {
        if counts.count < limit {
            let n = max(limit, counts.count * 2)
            counts.append(contentsOf: repeatElement(0, count: n - counts.count))
            position.append(contentsOf: repeatElement(-1, count: n - position.count))
        }
    }

    @inline(__always)
    func count(of t: Int32) -> Int64 {
        Int(t) < counts.count ? counts[Int(t)] : 0
    }

    @inline(__always)
    mutating func add(_ t: Int32, _ c: Int64) {
        let i = Int(t)
        let old = counts[i]
        let v = old + c
        if v <= 0 {
            if old > 0 { remove(i) }
            counts[i] = 0
        } else {
            if old <= 0 {
                position[i] = Int32(active.count)
                active.append(t)
            }
            counts[i] = v
        }
    }

    private mutating func remove(_ i: Int) {
        let at = Int(position[i])
        let last = active.removeLast()
        if at < active.count {
            active[at] = last
            position[Int(last)] = Int32(at)
        }
        position[i] = -1
    }

    /// Forgets tag `t` (its id is about to be reused).
    mutating func drop(_ t: Int32) {
        let i = Int(t)
        guard i < counts.count else { return }
        if counts[i] > 0 { remove(i) }
        counts[i] = 0
    }

    mutating func reset() {
        for t in active { counts[Int(t)] = 0; position[Int(t)] = -1 }
        active.removeAll(keepingCapacity: true)
        posts = 0
    }
}
