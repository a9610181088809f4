/// The `trends` Parquet table (DESIGN.md "Storage layout"): one row per top entry of a window.
public enum TrendsTable {
    public static let schema = ParquetSchema([
        ParquetColumn(name: "window_start", type: .int64, logical: .timestampMillisUTC),
        ParquetColumn(name: "window_end", type: .int64, logical: .timestampMillisUTC),
        ParquetColumn(name: "rank", type: .int32),
        ParquetColumn(name: "hashtag", type: .byteArray, logical: .string),
        ParquetColumn(name: "display", type: .byteArray, logical: .string),
        ParquetColumn(name: "count", type: .int64),
        ParquetColumn(name: "score", type: .double),
        ParquetColumn(name: "posts", type: .int64),
        ParquetColumn(name: "emitted_at", type: .int64, logical: .timestampMillisUTC),
    ])

    /// Footer key/value metadata written by the committed-file protocol (see docs/parquet.md).
    public static let partitionKey = "hashtrend.partition"
    public static let startOffsetKey = "hashtrend.start_offset"
    public static let endOffsetKey = "hashtrend.end_offset"
    public static let lastWindowEndKey = "hashtrend.last_window_end"
    public static let windowCountKey = "hashtrend.windows"

    /// ZSTD, dictionaries, and a dictionary limit high enough that an hour of distinct hashtags never falls
    /// back to PLAIN (fastparquet cannot read string chunks that mix dictionary and PLAIN pages).
    public static let defaultWriterOptions = ParquetWriterOptions(dictionaryPageLimitBytes: 16 << 20)

    /// Encodes windows into one complete file in memory.
    public static func encode(_ windows: [TrendWindow], options: ParquetWriterOptions = TrendsTable.defaultWriterOptions,
                              keyValueMetadata: [String: String] = [:]) throws -> [UInt8] {
        var batcher = TrendRowBatcher()
        for w in windows { batcher.append(w) }
        let sink = MemoryByteSink()
        let writer = try ParquetWriter(schema: schema, options: options, sink: sink)
        if batcher.rowCount > 0 { try writer.write(batcher.columns()) }
        try writer.close(keyValueMetadata: keyValueMetadata)
        return sink.bytes
    }
}

/// Flattens TrendWindows into column buffers in TrendsTable.schema order (one row per top entry;
/// `hashtag` = entry.tag). The per-window columns (window bounds, posts, emitted_at) are kept once per
/// window with the window's row count, and handed to the writer as runs. Reuse it across files with
/// `removeAll()` to keep the buffers' capacity.
public struct TrendRowBatcher: Sendable {
    /// One entry per window with at least one row.
    public private(set) var windowStarts: [Int64] = []
    public private(set) var windowEnds: [Int64] = []
    public private(set) var windowPosts: [Int64] = []
    public private(set) var windowEmittedAt: [Int64] = []
    /// Rows of each window (its top entries).
    public private(set) var windowRows: [Int32] = []
    public private(set) var rank: [Int32] = []
    public private(set) var hashtag = ParquetByteArrays()
    public private(set) var display = ParquetByteArrays()
    public private(set) var count: [Int64] = []
    public private(set) var score: [Double] = []

    public init() {}

    public var rowCount: Int { rank.count }

    /// Per-row forms of the per-window columns (for checks; the writer takes the runs).
    public var windowStart: [Int64] { expand(windowStarts) }
    public var windowEnd: [Int64] { expand(windowEnds) }
    public var posts: [Int64] { expand(windowPosts) }
    public var emittedAt: [Int64] { expand(windowEmittedAt) }

    private func expand(_ perWindow: [Int64]) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(rowCount)
        for (v, n) in zip(perWindow, windowRows) { out.append(contentsOf: repeatElement(v, count: Int(n))) }
        return out
    }

    public mutating func reserve(rows: Int, windows: Int = 0) {
        for k in [\TrendRowBatcher.windowStarts, \.windowEnds, \.windowPosts, \.windowEmittedAt] {
            self[keyPath: k].reserveCapacity(windows)
        }
        windowRows.reserveCapacity(windows)
        rank.reserveCapacity(rows)
        hashtag.reserve(values: rows, bytes: rows * 12)
        display.reserve(values: rows, bytes: rows * 12)
        count.reserveCapacity(rows)
        score.reserveCapacity(rows)
    }

    public mutating func append(_ w: TrendWindow) {
        guard !w.top.isEmpty else { return }
        windowStarts.append(w.windowStartMillis)
        windowEnds.append(w.windowEndMillis)
        windowPosts.append(w.posts)
        windowEmittedAt.append(w.emittedAtMillis)
        windowRows.append(Int32(w.top.count))
        for e in w.top {
            rank.append(e.rank)
            hashtag.append(e.tag)
            display.append(e.display)
            count.append(e.count)
            score.append(e.score)
        }
    }

    /// The buffered rows as a ParquetWriter batch.
    public func columns() -> [ParquetColumnData] {
        [
            ParquetColumnData(.int64(windowStarts), runLengths: windowRows),
            ParquetColumnData(.int64(windowEnds), runLengths: windowRows),
            ParquetColumnData(.int32(rank)), ParquetColumnData(.byteArray(hashtag)),
            ParquetColumnData(.byteArray(display)), ParquetColumnData(.int64(count)),
            ParquetColumnData(.double(score)),
            ParquetColumnData(.int64(windowPosts), runLengths: windowRows),
            ParquetColumnData(.int64(windowEmittedAt), runLengths: windowRows),
        ]
    }

    public mutating func removeAll() {
        windowStarts.removeAll(keepingCapacity: true)
        windowEnds.removeAll(keepingCapacity: true)
        windowPosts.removeAll(keepingCapacity: true)
        windowEmittedAt.removeAll(keepingCapacity: true)
        windowRows.removeAll(keepingCapacity: true)
        rank.removeAll(keepingCapacity: true)
        hashtag.removeAll()
        display.removeAll()
        count.removeAll(keepingCapacity: true)
        score.removeAll(keepingCapacity: true)
    }
}
