/// What `hashtrend top` knows about the `trends` topic: the latest record of each window, fed in arrival
/// order. Pure state, no I/O, so the table's logic is testable without Kafka or a terminal.
public struct TopModel: Sendable, Equatable {
    /// Latest record per window, by window end.
    public private(set) var windows: [Int64: TrendWindow] = [:]
    /// Windows kept for sparklines and rank changes; the oldest ends are forgotten first.
    public let capacity: Int
    /// Records fed so far (accepted or not).
    public private(set) var recordsSeen = 0
    /// Provisional records that arrived after their window's final one (ignored: final is the truth).
    public private(set) var staleProvisional = 0

    public init(capacity: Int = 256) {
        self.capacity = max(2, capacity)
    }

    /// Feeds one record; returns whether the model changed. A final record supersedes every provisional
    /// one of its window, whatever arrives afterwards; among provisional records the latest wins.
    @discardableResult
    public mutating func feed(_ w: TrendWindow) -> Bool {
        recordsSeen += 1
        if let old = windows[w.windowEndMillis] {
            if old.final && !w.final {
                staleProvisional += 1
                return false
            }
            if old == w { return false }
        } else if windows.count >= capacity, let oldest = windows.keys.min(), w.windowEndMillis < oldest {
            return false
        }
        windows[w.windowEndMillis] = w
        while windows.count > capacity, let oldest = windows.keys.min() {
            windows.removeValue(forKey: oldest)
        }
        return true
    }

    /// Window ends known, ascending.
    public var windowEnds: [Int64] { windows.keys.sorted() }

    /// The window the table shows. Hopping windows overlap, and with early updates several are open at
    /// once: the newest holds only its first pane, the oldest open one may lag far behind. Shown is the
    /// newest window that can hold nearly a full window of the newest data (end <= newest end - size +
    /// hop, the hop read off the gaps between known window ends), or the newest final window if that is
    /// newer. With finals only this is simply the newest final window; `finalOnly` never shows a
    /// provisional one.
    public func currentWindowEnd(finalOnly: Bool = false) -> Int64? {
        let newestFinal = windows.values.lazy.filter(\.final).map(\.windowEndMillis).max()
        if finalOnly { return newestFinal }
        let ends = windowEnds
        guard let newest = ends.last, let w = windows[newest] else { return nil }
        let size = max(0, w.windowEndMillis - w.windowStartMillis)
        var hop = size
        for (a, b) in zip(ends, ends.dropFirst()) { hop = min(hop, b - a) }
        let fullest = newest - size + hop
        let candidate = ends.last(where: { $0 <= fullest }) ?? ends[0]
        return max(candidate, newestFinal ?? .min)
    }

    /// The known window just before `end` (the baseline for rank changes).
    public func window(before end: Int64) -> TrendWindow? {
        windows.keys.filter { $0 < end }.max().flatMap { windows[$0] }
    }

    /// Everything one refresh of the table shows, computed once for the text and the JSON renderer.
    /// - Parameters:
    ///   - rows: at most this many entries of the window's top list.
    ///   - history: sparkline length, in windows (the shown one included).
    ///   - risingScore: a score at or above this marks a tag as rising.
    public func snapshot(rows: Int, history: Int = 12, risingScore: Double = 2, finalOnly: Bool = false) -> TopSnapshot? {
        guard let end = currentWindowEnd(finalOnly: finalOnly), let w = windows[end] else { return nil }
        let previous = window(before: end)
        let histEnds = Array(windows.keys.filter { $0 <= end }.sorted().suffix(max(1, history)))
        // Count of each tag in each history window; absent = not in that window's top list.
        let histCounts: [[String: Int64]] = histEnds.map { e in
            var d: [String: Int64] = [:]
            for t in windows[e]!.top { d[t.tag] = t.count }
            return d
        }
        var prevRank: [String: Int32] = [:]
        for t in previous?.top ?? [] { prevRank[t.tag] = t.rank }
        let out = w.top.prefix(max(0, rows)).map { t -> TopRow in
            let change: RankChange
            if previous == nil {
                change = .unknown
            } else if let p = prevRank[t.tag] {
                change = p > t.rank ? .up(Int(p - t.rank)) : p < t.rank ? .down(Int(t.rank - p)) : .same
            } else {
                change = .new
            }
            return TopRow(rank: t.rank, tag: t.tag, display: t.display, count: t.count, score: t.score,
                          rising: t.score >= risingScore, change: change, history: histCounts.map { $0[t.tag] })
        }
        return TopSnapshot(window: w, previousWindowEnd: previous?.windowEndMillis, historyWindowEnds: histEnds,
                           rows: Array(out), windowsKnown: windows.count)
    }
}

/// Rank movement of a tag since the previous window.
public enum RankChange: Sendable, Equatable, Hashable {
    /// Moved up this many places.
    case up(Int)
    case down(Int)
    case same
    /// Not in the previous window's top list.
    case new
    /// No previous window known.
    case unknown
}

public struct TopRow: Sendable, Equatable {
    public var rank: Int32
    public var tag: String
    public var display: String
    public var count: Int64
    public var score: Double
    public var rising: Bool
    public var change: RankChange
    /// The tag's count in each history window, oldest first (nil: not in that window's top list).
    public var history: [Int64?]
}

public struct TopSnapshot: Sendable, Equatable {
    /// The shown window's record (its `top` list unabridged).
    public var window: TrendWindow
    public var previousWindowEnd: Int64?
    /// The windows the sparklines cover, oldest first, ending with the shown one.
    public var historyWindowEnds: [Int64]
    public var rows: [TopRow]
    public var windowsKnown: Int

    public var windowMillis: Int64 { window.windowEndMillis - window.windowStartMillis }

    /// Posts per second of window (posts / window size).
    public var postsPerSecond: Double {
        windowMillis > 0 ? Double(window.posts) * 1000 / Double(windowMillis) : 0
    }

    /// How far the window's end is behind `now` (negative: the window is still open in real time).
    public func lagMillis(now: Int64) -> Int64 { now - window.windowEndMillis }
}
