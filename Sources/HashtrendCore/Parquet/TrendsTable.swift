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
/// `hashtag` = entry.tag). Reuse it across files with `removeAll()` to keep the buffers' capacity.
public struct TrendRowBatcher: Sendable {
    public private(set) var windowStart: [Int64] = []
    public private(set) var windowEnd: [Int64] = []
    public private(set) var rank: [Int32] = []
    public private(set) var hashtag = ParquetByteArrays()
    public private(set) var display = ParquetByteArrays()
    public private(set) var count: [Int64] = []
    public private(set) var score: [Double] = []
    public private(set) var posts: [Int64] = []
    public private(set) var emittedAt: [Int64] = []

    public init() {}

    public var rowCount: Int { rank.count }

    public mutating func reserve(rows: Int) {
        windowStart.reserveCapacity(rows)
        windowEnd.reserveCapacity(rows)
        rank.reserveCapacity(rows)
        hashtag.reserve(values: rows, bytes: rows * 12)
        display.reserve(values: rows, bytes: rows * 12)
        count.reserveCapacity(rows)
        score.reserveCapacity(rows)
        posts.reserveCapacity(rows)
        emittedAt.reserveCapacity(rows)
    }

    public mutating func append(_ w: TrendWindow) {
        for e in w.top {
            windowStart.append(w.windowStartMillis)
            windowEnd.append(w.windowEndMillis)
            rank.append(e.rank)
            hashtag.append(e.tag)
            display.append(e.display)
            count.append(e.count)
            score.append(e.score)
            posts.append(w.posts)
            emittedAt.append(w.emittedAtMillis)
        }
    }

    /// The buffered rows as a ParquetWriter batch.
    public func columns() -> [ParquetColumnData] {
        [
            ParquetColumnData(.int64(windowStart)), ParquetColumnData(.int64(windowEnd)),
            ParquetColumnData(.int32(rank)), ParquetColumnData(.byteArray(hashtag)),
            ParquetColumnData(.byteArray(display)), ParquetColumnData(.int64(count)),
            ParquetColumnData(.double(score)), ParquetColumnData(.int64(posts)),
            ParquetColumnData(.int64(emittedAt)),
        ]
    }

    public mutating func removeAll() {
        windowStart.removeAll(keepingCapacity: true)
        windowEnd.removeAll(keepingCapacity: true)
        rank.removeAll(keepingCapacity: true)
        hashtag.removeAll()
        display.removeAll()
        count.removeAll(keepingCapacity: true)
        score.removeAll(keepingCapacity: true)
        posts.removeAll(keepingCapacity: true)
        emittedAt.removeAll(keepingCapacity: true)
    }
}
