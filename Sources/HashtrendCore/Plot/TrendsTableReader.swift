import Foundation

/// One row of the trends table (TrendsTable.schema): one top entry of one window.
public struct TrendRow: Sendable, Equatable {
    public var windowStartMillis: Int64
    public var windowEndMillis: Int64
    public var rank: Int32
    /// The counting key (NFC, lower-cased).
    public var hashtag: String
    public var display: String
    public var count: Int64
    public var score: Double
    public var posts: Int64
    public var emittedAtMillis: Int64

    public init(windowStartMillis: Int64, windowEndMillis: Int64, rank: Int32, hashtag: String, display: String,
                count: Int64, score: Double, posts: Int64, emittedAtMillis: Int64) {
        self.windowStartMillis = windowStartMillis
        self.windowEndMillis = windowEndMillis
        self.rank = rank
        self.hashtag = hashtag
        self.display = display
        self.count = count
        self.score = score
        self.posts = posts
        self.emittedAtMillis = emittedAtMillis
    }
}

/// Reads the local trends table (`<root>/trends/**/*.parquet`) with ParquetFileReader.
public enum TrendsTableReader {
    /// The committed files under `<root>/trends/`, sorted by path. Hidden and `_`-prefixed entries
    /// (temporary or foreign files) are skipped, as Hive-style readers do.
    public static func files(root: String) -> [String] {
        let base = URL(fileURLWithPath: root).appendingPathComponent("trends").path
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            let parts = rel.split(separator: "/")
            if parts.contains(where: { $0.hasPrefix(".") || $0.hasPrefix("_") }) { continue }
            if rel.hasSuffix(".parquet") { out.append(base + "/" + rel) }
        }
        return out.sorted()
    }

    public static func rows(file: String) throws -> [TrendRow] {
        try rows(ParquetFileReader(path: file), origin: file)
    }

    public static func rows(bytes: [UInt8]) throws -> [TrendRow] {
        try rows(ParquetFileReader(bytes: bytes), origin: "<memory>")
    }

    /// Every row of every file under the root.
    public static func rows(root: String) throws -> [TrendRow] {
        var all: [TrendRow] = []
        for f in files(root: root) { all.append(contentsOf: try rows(file: f)) }
        return all
    }

    private static func rows(_ r: ParquetFileReader, origin: String) throws -> [TrendRow] {
        func int64(_ name: String) throws -> [Int64] {
            guard case .int64(let v) = try r.column(name) else { throw ParquetFormatError("\(origin): \(name) is not INT64") }
            return v
        }
        func strings(_ name: String) throws -> [String] {
            guard case .byteArray(let v) = try r.column(name) else { throw ParquetFormatError("\(origin): \(name) is not a string") }
            return (0..<v.count).map { String(decoding: v[$0], as: UTF8.self) }
        }
        let starts = try int64("window_start"), ends = try int64("window_end")
        guard case .int32(let ranks) = try r.column("rank") else { throw ParquetFormatError("\(origin): rank is not INT32") }
        let tags = try strings("hashtag"), displays = try strings("display")
        let counts = try int64("count")
        guard case .double(let scores) = try r.column("score") else { throw ParquetFormatError("\(origin): score is not DOUBLE") }
        let posts = try int64("posts"), emitted = try int64("emitted_at")
        let n = Int(r.metadata.numRows)
        for c in [starts.count, ends.count, ranks.count, tags.count, displays.count, counts.count, scores.count,
                  posts.count, emitted.count] where c != n {
            throw ParquetFormatError("\(origin): a column has \(c) values for \(n) rows")
        }
        return (0..<n).map {
            TrendRow(windowStartMillis: starts[$0], windowEndMillis: ends[$0], rank: ranks[$0], hashtag: tags[$0],
                     display: displays[$0], count: counts[$0], score: scores[$0], posts: posts[$0],
                     emittedAtMillis: emitted[$0])
        }
    }
}
