/// One hashtag of a post as the window engine sees it: the counting key and the spelling it had.
public struct WindowTag: Sendable, Hashable {
    /// NFC-normalized, lower-cased counting key.
    public var key: String
    /// The spelling as written in the post (without `#`).
    public var display: String

    public init(key: String, display: String) {
        self.key = key
        self.display = display
    }
}

/// One decoded post on its way into the window engine, with where it came from.
public struct WindowInput: Sendable {
    public var partition: Int32
    /// Kafka offset (or any per-partition, strictly increasing sequence number).
    public var offset: Int64
    public var postID: String
    public var eventTimeMillis: Int64
    /// May repeat a key: the post still counts that tag once (with its first spelling).
    public var tags: [WindowTag]

    public init(partition: Int32, offset: Int64, postID: String, eventTimeMillis: Int64, tags: [WindowTag]) {
        self.partition = partition
        self.offset = offset
        self.postID = postID
        self.eventTimeMillis = eventTimeMillis
        self.tags = tags
    }

    /// Convenience for callers holding `(key, display)` pairs.
    public init(partition: Int32, offset: Int64, postID: String, eventTimeMillis: Int64,
                tagPairs: [(key: String, display: String)]) {
        self.init(partition: partition, offset: offset, postID: postID, eventTimeMillis: eventTimeMillis,
                  tags: tagPairs.map { WindowTag(key: $0.key, display: $0.display) })
    }
}

/// How a window's `top` list is ordered.
public enum TrendRanking: String, Sendable, CaseIterable {
    /// count desc, then tag asc (DESIGN.md's order).
    case count
    /// score desc, then count desc, then tag asc.
    case score
}

public enum WindowConfigError: Error, Equatable, CustomStringConvertible {
    case nonPositiveSize(HTDuration)
    case nonPositiveAdvance(HTDuration)
    case sizeNotMultipleOfAdvance(size: HTDuration, advance: HTDuration)
    case negativeLateness(HTDuration)
    case nonPositiveTopK(Int)
    case nonPositiveMaxTags(Int)
    case nonPositiveDuration(name: String, HTDuration)
    case badBaseline(windows: Int, decay: Double)
    case checkpointMismatch(String)

    public var description: String {
        switch self {
        case .nonPositiveSize(let d): return "window size must be positive, got \(d)"
        case .nonPositiveAdvance(let d): return "window advance must be positive, got \(d)"
        case .sizeNotMultipleOfAdvance(let w, let s):
            return "window size \(w) must be a whole multiple of the advance \(s) (windows are sums of panes of size \(s))"
        case .negativeLateness(let d): return "allowed lateness must not be negative, got \(d)"
        case .nonPositiveTopK(let k): return "top K must be at least 1, got \(k)"
        case .nonPositiveMaxTags(let m): return "maxTags must be at least 1, got \(m)"
        case .nonPositiveDuration(let name, let d): return "\(name) must be positive, got \(d)"
        case .badBaseline(let h, let d):
            return "baseline needs windows >= 0 and decay in (0, 1], got windows=\(h) decay=\(d)"
        case .checkpointMismatch(let why): return "checkpoint does not fit this configuration: \(why)"
        }
    }
}

/// Everything that shapes the windows. See docs/windows.md for the semantics of each knob.
public struct WindowConfig: Sendable, Equatable {
    /// W: window length.
    public var size: HTDuration
    /// S: hop between window starts, also the pane size. W must be a multiple of S.
    public var advance: HTDuration
    /// A record older than (its partition's largest event time) - lateness is dropped and counted.
    public var allowedLateness: HTDuration
    public var topK: Int
    public var rankBy: TrendRanking
    /// A partition without records for this long (processing time) stops holding finality back.
    public var idleTimeout: HTDuration?
    /// Emit a non-final update for each changed open window at most once per this period.
    public var earlyEvery: HTDuration?
    /// Space-Saving counters per pane and input partition; nil = exact counting.
    public var maxTags: Int?
    /// How many earlier non-overlapping windows the score's baseline looks at (0 = no baseline).
    public var baselineWindows: Int
    /// Weight multiplier per window further back in the baseline (1 = plain average).
    public var baselineDecay: Double

    public init(size: HTDuration, advance: HTDuration, allowedLateness: HTDuration, topK: Int = 10,
                rankBy: TrendRanking = .count, idleTimeout: HTDuration? = nil, earlyEvery: HTDuration? = nil,
                maxTags: Int? = nil, baselineWindows: Int = 3, baselineDecay: Double = 0.5) {
        self.size = size
        self.advance = advance
        self.allowedLateness = allowedLateness
        self.topK = topK
        self.rankBy = rankBy
        self.idleTimeout = idleTimeout
        self.earlyEvery = earlyEvery
        self.maxTags = maxTags
        self.baselineWindows = baselineWindows
        self.baselineDecay = baselineDecay
    }

    public func validate() throws(WindowConfigError) {
        guard size.millis > 0 else { throw .nonPositiveSize(size) }
        guard advance.millis > 0 else { throw .nonPositiveAdvance(advance) }
        guard size.millis % advance.millis == 0 else { throw .sizeNotMultipleOfAdvance(size: size, advance: advance) }
        guard allowedLateness.millis >= 0 else { throw .negativeLateness(allowedLateness) }
        guard topK >= 1 else { throw .nonPositiveTopK(topK) }
        if let m = maxTags, m < 1 { throw .nonPositiveMaxTags(m) }
        if let d = idleTimeout, d.millis <= 0 { throw .nonPositiveDuration(name: "idle timeout", d) }
        if let d = earlyEvery, d.millis <= 0 { throw .nonPositiveDuration(name: "early update period", d) }
        guard baselineWindows >= 0, baselineWindows <= 1000, baselineDecay > 0, baselineDecay <= 1 else {
            throw .badBaseline(windows: baselineWindows, decay: baselineDecay)
        }
    }

    /// Panes per window (W / S).
    public var panesPerWindow: Int64 { size.millis / advance.millis }
}
