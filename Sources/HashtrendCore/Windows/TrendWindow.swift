/// One entry of a window's top-K list.
public struct TrendEntry: Sendable, Equatable, Hashable {
    /// Counting key: NFC-normalized, lower-cased.
    public var tag: String
    /// The spelling seen most often in the window.
    public var display: String
    public var count: Int64
    /// 1-based rank.
    public var rank: Int32
    public var score: Double

    public init(tag: String, display: String, count: Int64, rank: Int32, score: Double) {
        self.tag = tag
        self.display = display
        self.count = count
        self.rank = rank
        self.score = score
    }
}

/// The value of a record on the `trends` topic: one record per emitted window (DESIGN.md).
public struct TrendWindow: Sendable, Equatable, Hashable {
    /// Window bounds, milliseconds since the epoch: `[start, end)`.
    public var windowStartMillis: Int64
    public var windowEndMillis: Int64
    /// True exactly once per window; false for early updates.
    public var final: Bool
    public var emittedAtMillis: Int64
    public var posts: Int64
    public var distinct: Int64
    public var lateDropped: Int64
    /// Sorted by count desc then tag asc, at most K entries.
    public var top: [TrendEntry]

    public init(windowStartMillis: Int64, windowEndMillis: Int64, final: Bool, emittedAtMillis: Int64,
                posts: Int64, distinct: Int64, lateDropped: Int64, top: [TrendEntry]) {
        self.windowStartMillis = windowStartMillis
        self.windowEndMillis = windowEndMillis
        self.final = final
        self.emittedAtMillis = emittedAtMillis
        self.posts = posts
        self.distinct = distinct
        self.lateDropped = lateDropped
        self.top = top
    }
}
