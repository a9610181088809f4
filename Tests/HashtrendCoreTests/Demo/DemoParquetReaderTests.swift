import Foundation
import Testing
@testable import HashtrendCore

/// Windows with known contents: `count` windows ending every 5 s from `startMillis`, each with up to
/// `k` entries drawn from a rotating vocabulary (so dictionaries see repeats and new values).
func demoWindows(count: Int, k: Int = 5, startMillis: Int64 = 1_767_225_600_000, vocabulary: Int = 12,
                 seed: UInt64 = 7) -> [TrendWindow] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { i in
        let end = startMillis + Int64(i) * 5_000
        var entries: [TrendEntry] = []
        var used = Set<Int>()
        for r in 0..<k {
            var t = (i + r * 3 + rng.below(vocabulary)) % vocabulary
            while used.contains(t) { t = (t + 1) % vocabulary }
            used.insert(t)
            let count = Int64(100 - r * 10 + rng.below(9))
            entries.append(TrendEntry(tag: "tag\(t)", display: t % 2 == 0 ? "Tag\(t)" : "tag\(t)", count: count,
                                      rank: Int32(r + 1), score: Double(rng.below(1000)) / 100 - 3))
        }
        return TrendWindow(windowStartMillis: end - 60_000, windowEndMillis: end, final: true,
                           emittedAtMillis: end + 1_234, posts: Int64(500 + i), distinct: 40, lateDropped: 0, top: entries)
    }
}

/// The rows TrendRowBatcher makes of these windows, as TrendRow values.
func demoExpectedRows(_ windows: [TrendWindow]) -> [TrendRow] {
    windows.flatMap { w in
        w.top.map {
            TrendRow(windowStartMillis: w.windowStartMillis, windowEndMillis: w.windowEndMillis, rank: $0.rank,
                     hashtag: $0.tag, display: $0.display, count: $0.count, score: $0.score, posts: w.posts,
                     emittedAtMillis: w.emittedAtMillis)
        }
    }
}

@Suite("Demo: Parquet reader")
struct DemoParquetReaderTests {
    /// Writes the windows in several row groups (one flush per slice) with the given options.
    private func write(_ windows: [TrendWindow], options: ParquetWriterOptions, groups: Int) throws -> [UInt8] {
        let sink = MemoryByteSink()
        let writer = try ParquetWriter(schema: TrendsTable.schema, options: options, sink: sink)
        let per = (windows.count + groups - 1) / groups
        for g in 0..<groups {
            var b = TrendRowBatcher()
            for w in windows[min(windows.count, g * per)..<min(windows.count, (g + 1) * per)] { b.append(w) }
            if b.rowCount > 0 {
                try writer.write(b.columns())
                try writer.flushRowGroup()
            }
        }
        _ = try writer.close()
        return sink.bytes
    }

    @Test("decodes what the writer wrote: several row groups, ZSTD and uncompressed, dictionary and PLAIN")
    func roundTrip() throws {
        let windows = demoWindows(count: 400)
        let expected = demoExpectedRows(windows)
        let variants: [(String, ParquetWriterOptions)] = [
            ("trends default (zstd, dictionary)", TrendsTable.defaultWriterOptions),
            ("uncompressed, dictionary", ParquetWriterOptions(compression: .uncompressed)),
            ("zstd, plain", ParquetWriterOptions(dictionary: false)),
            ("small pages", ParquetWriterOptions(pageTargetBytes: 256)),
        ]
        for (name, options) in variants {
            let bytes = try write(windows, options: options, groups: 3)
            let reader = try ParquetFileReader(bytes: bytes)
            #expect(reader.metadata.rowGroups.count == 3, "\(name)")
            let rows = try TrendsTableReader.rows(bytes: bytes)
            #expect(rows.count == expected.count, "\(name)")
            #expect(rows == expected, "\(name)")
            // Each row group on its own holds its slice.
            guard case .int64(let ends) = try reader.column(at: 1, rowGroup: 2) else { Issue.record("window_end type"); continue }
            #expect(ends == Array(expected.map(\.windowEndMillis).suffix(ends.count)), "\(name)")
        }
    }

    @Test("dictionary fallback: a chunk that switches from dictionary to PLAIN pages decodes in order")
    func dictionaryFallback() throws {
        // Many distinct strings and a tiny dictionary limit force the writer to fall back mid-chunk.
        var windows = demoWindows(count: 300, vocabulary: 400)
        for i in windows.indices {
            for j in windows[i].top.indices { windows[i].top[j].display = "Display-\(i)-\(j)-\(windows[i].top[j].tag)" }
        }
        let options = ParquetWriterOptions(dictionaryPageLimitBytes: 512, pageTargetBytes: 1024)
        let bytes = try write(windows, options: options, groups: 2)
        let reader = try ParquetFileReader(bytes: bytes)
        let display = reader.metadata.rowGroups[0].columns[4]
        // Both kinds of data page are present in the chunk (the fallback really happened).
        #expect(display.encodingStats.contains { $0.pageType == 0 && $0.encoding == 0 })
        #expect(display.encodingStats.contains { $0.pageType == 0 && $0.encoding == 8 })
        #expect(try TrendsTableReader.rows(bytes: bytes) == demoExpectedRows(windows))
    }

    @Test("hybrid RLE/bit-packed indices decode for every bit width")
    func indices() throws {
        for width in [1, 3, 8, 13] {
            var rng = SeededRandom(seed: UInt64(width))
            var values: [UInt32] = (0..<1000).map { _ in UInt32(rng.below(1 << width)) }
            values += Array(repeating: 1, count: 50)  // an RLE run
            var body: [UInt8] = [UInt8(width)]
            values.withUnsafeBufferPointer { RLEHybrid.encode($0, bitWidth: width, into: &body) }
            #expect(try ParquetFileReader.decodeIndices(body, count: values.count) == values, "width \(width)")
        }
    }

    @Test("refuses what it does not read: OPTIONAL columns, truncated files")
    func refusals() throws {
        let sink = MemoryByteSink()
        let w = try ParquetWriter(schema: ParquetSchema([ParquetColumn(name: "x", type: .int64, repetition: .optional)]), sink: sink)
        try w.write([ParquetColumnData(.int64([1]), validity: [true, false])])
        _ = try w.close()
        let r = try ParquetFileReader(bytes: sink.bytes)
        #expect(throws: ParquetFormatError.self) { try r.column("x") }
        let good = try TrendsTable.encode(demoWindows(count: 3))
        #expect(throws: (any Error).self) { try ParquetFileReader(bytes: Array(good.prefix(good.count - 3))) }
    }
}
