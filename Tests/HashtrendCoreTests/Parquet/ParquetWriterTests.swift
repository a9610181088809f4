import Foundation
import Testing
@testable import HashtrendCore

/// Files written by ParquetWriter, read back by pyarrow, DuckDB and fastparquet (tests/parquet/readback.py).
@Suite struct ParquetReadbackTests {
    static let extremesI32: [Int32] = [Int32.min, Int32.max, 0, -1, 1, Int32.min + 1, Int32.max - 1]
    static let extremesI64: [Int64] = [Int64.min, Int64.max, 0, -1, 1, Int64.min + 1, 1 << 53 + 1]
    static let specialDoubles: [Double] = [-0.0, 0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude,
                                           -.greatestFiniteMagnitude, .greatestFiniteMagnitude, 1.5, -2.25]
    static let unicode: [String] = ["", "a", "héllo", "日本語のハッシュタグ", "🚀🔥", "e\u{301}", "Ωmega", "ß", "zzz",
                                    "\u{0}nul", "tab\there", "quote\"back\\slash", "\u{10FFFF}"]

    /// Every type, REQUIRED, with extremes and random values.
    static func allTypes(_ name: String, rows: Int, seed: UInt64) -> ParquetCase {
        var g = SplitMix64(seed: seed)
        var i32: [Int32?] = extremesI32
        var i64: [Int64?] = extremesI64
        var dbl: [Double?] = specialDoubles
        var str: [String?] = unicode
        var ts: [Int64?] = [0, -1, -86_400_000_123, 1_467_000_000_123, 253_402_300_799_999]
        while i32.count < rows { i32.append(Int32(truncatingIfNeeded: Int64(g.next() % 2000) - 1000)) }
        while i64.count < rows { i64.append(Int64(bitPattern: g.next()) >> Int64(g.next() % 64)) }
        while dbl.count < rows { dbl.append(Double(Int64(g.next() % 100_000) - 50_000) / 7.0) }
        while str.count < rows { str.append("#tag" + String(g.next() % 300) + (g.next() % 5 == 0 ? "ü" : "")) }
        while ts.count < rows { ts.append(1_700_000_000_000 + Int64(g.next() % 86_400_000)) }
        return ParquetCase(name: name, columns: [
            (ParquetColumn(name: "i32", type: .int32), .int32(Array(i32.prefix(rows)))),
            (ParquetColumn(name: "i64", type: .int64), .int64(Array(i64.prefix(rows)))),
            (ParquetColumn(name: "dbl", type: .double), .double(Array(dbl.prefix(rows)))),
            (ParquetColumn(name: "str", type: .byteArray, logical: .string), .string(Array(str.prefix(rows)))),
            (ParquetColumn(name: "ts", type: .int64, logical: .timestampMillisUTC), .int64(Array(ts.prefix(rows)))),
        ])
    }

    static func cases() -> [ParquetCase] {
        var out: [ParquetCase] = []

        var c = allTypes("all_types_zstd", rows: 3000, seed: 1)
        c.extraJSON["dictionary"] = #"{"i32":"all","str":"all","ts":"all"}"#
        c.keyValueMetadata = ["hashtrend.test": "all types", "ünïcode.key": "välue"]
        out.append(c)

        c = allTypes("all_types_uncompressed_plain", rows: 3000, seed: 2)
        c.options = ParquetWriterOptions(compression: .uncompressed, dictionary: false)
        c.extraJSON["dictionary"] = #"{"i32":"none","i64":"none","dbl":"none","str":"none","ts":"none"}"#
        out.append(c)

        c = allTypes("one_row", rows: 1, seed: 3)
        c.extraJSON["num_row_groups"] = "1"
        out.append(c)

        c = allTypes("zero_rows", rows: 0, seed: 4)
        c.extraJSON["num_row_groups"] = "0"
        out.append(c)

        // Small targets: many pages and row groups, several write calls with odd sizes.
        c = allTypes("many_row_groups", rows: 60_000, seed: 5)
        c.options = ParquetWriterOptions(pageTargetBytes: 2048, rowGroupTargetBytes: 48 * 1024)
        c.batchRows = 7_777
        c.extraJSON["min_row_groups"] = "4"
        out.append(c)

        out.append(optionalNulls("optional_nulls", ParquetWriterOptions(pageTargetBytes: 1024)))

        // Data page v2: compressed, uncompressed, with nulls, with dictionary fallback.
        c = allTypes("all_types_v2", rows: 20_000, seed: 13)
        c.options = ParquetWriterOptions(pageTargetBytes: 4096, dataPageVersion: .v2)
        out.append(c)
        out.append(optionalNulls("optional_nulls_v2_onepage", ParquetWriterOptions(dataPageVersion: .v2)))
        // fastparquet (2026.9) cannot read OPTIONAL columns spread over several v2 pages (pyarrow's files
        // neither): these are checked with pyarrow and DuckDB only.
        for (name, options) in [
            ("optional_nulls_v2", ParquetWriterOptions(pageTargetBytes: 1024, dataPageVersion: .v2)),
            ("optional_nulls_v2_plain", ParquetWriterOptions(compression: .uncompressed, dictionary: false,
                                                             pageTargetBytes: 1024, dataPageVersion: .v2)),
            ("optional_nulls_v2_fallback", ParquetWriterOptions(dictionaryPageLimitBytes: 64, pageTargetBytes: 1024,
                                                                dataPageVersion: .v2)),
        ] {
            c = optionalNulls(name, options)
            c.extraJSON["skip_readers"] = #"["fastparquet"]"#
            out.append(c)
        }

        // Same, uncompressed, dictionary off, and OPTIONAL columns without any null.
        out.append(ParquetCase(name: "optional_plain_no_nulls", columns: [
            (ParquetColumn(name: "oi32", type: .int32, repetition: .optional), .int32((0..<500).map { Int32($0) })),
            (ParquetColumn(name: "os", type: .byteArray, repetition: .optional, logical: .string),
             .string((0..<500).map { "s\($0 % 7)" })),
        ], options: ParquetWriterOptions(compression: .uncompressed, dictionary: false)))

        // Long strings (100 KB) and a dictionary limit that forces a fallback to PLAIN mid-chunk.
        var long: [String?] = []
        for k in 0..<40 {
            long.append(k % 4 == 0 ? String(repeating: "ä" + String(k), count: 100_000 / 3) : "short\(k % 3)")
        }
        c = ParquetCase(name: "long_strings_fallback", columns: [
            (ParquetColumn(name: "s", type: .byteArray, logical: .string), .string(long)),
            (ParquetColumn(name: "k", type: .int32), .int32((0..<40).map { Int32($0) })),
        ], options: ParquetWriterOptions(dictionaryPageLimitBytes: 250_000))
        c.extraJSON["dictionary"] = #"{"s":"fallback"}"#
        c.extraJSON["fastparquet_unreadable"] = #"["s"]"#
        out.append(c)
        return out + moreCases()
    }

    /// OPTIONAL columns: random nulls, a column of only nulls, a double column of only NaN.
    static func optionalNulls(_ name: String, _ options: ParquetWriterOptions,
                              fastparquetUnreadable: [String] = []) -> ParquetCase {
        var g = SplitMix64(seed: 6)
        let n = 5000
        func maybe<T>(_ v: T, _ p: UInt64) -> T? { g.next() % 100 < p ? nil : v }
        var oi32: [Int32?] = [], oi64: [Int64?] = [], od: [Double?] = [], os: [String?] = [], ots: [Int64?] = []
        var allNull: [Int64?] = [], nanOnly: [Double?] = []
        for k in 0..<n {
            oi32.append(maybe(Int32(k % 97) - 48, 30))
            oi64.append(maybe(Int64(k) * 1_000_003, 50))
            od.append(maybe(k % 11 == 0 ? .nan : Double(k) - 2500.5, 20))
            os.append(maybe(unicode[k % unicode.count], 40))
            ots.append(maybe(1_700_000_000_000 + Int64(k) * 60_000, 10))
            allNull.append(nil)
            nanOnly.append(maybe(.nan, 50))
        }
        var c = ParquetCase(name: name, columns: [
            (ParquetColumn(name: "oi32", type: .int32, repetition: .optional), .int32(oi32)),
            (ParquetColumn(name: "oi64", type: .int64, repetition: .optional), .int64(oi64)),
            (ParquetColumn(name: "od", type: .double, repetition: .optional), .double(od)),
            (ParquetColumn(name: "os", type: .byteArray, repetition: .optional, logical: .string), .string(os)),
            (ParquetColumn(name: "ots", type: .int64, repetition: .optional, logical: .timestampMillisUTC), .int64(ots)),
            (ParquetColumn(name: "all_null", type: .int64, repetition: .optional), .int64(allNull)),
            (ParquetColumn(name: "nan_only", type: .double, repetition: .optional), .double(nanOnly)),
        ], options: options, batchRows: 999)
        if !fastparquetUnreadable.isEmpty {
            c.extraJSON["fastparquet_unreadable"] = "[" + fastparquetUnreadable.map(jsonString).joined(separator: ",") + "]"
        }
        return c
    }

    static func moreCases() -> [ParquetCase] {
        var out: [ParquetCase] = []
        var c: ParquetCase

        // Many distinct values: fallback for every type, with NaN/-0.0 in the PLAIN part.
        var fi: [Int64?] = [], fd: [Double?] = [], fs: [String?] = [], f32: [Int32?] = []
        for k in 0..<20_000 {
            fi.append(Int64(k) * (k % 2 == 0 ? 1 : -1) * 1_000_000_007)
            fd.append(k == 15_000 ? -0.0 : k == 15_001 ? .nan : Double(k) * 0.5 - 7000)
            fs.append("distinct-\(k)-" + String(repeating: "x", count: k % 13))
            f32.append(Int32(k) - 10_000)
        }
        c = ParquetCase(name: "dictionary_fallback", columns: [
            (ParquetColumn(name: "fi", type: .int64), .int64(fi)),
            (ParquetColumn(name: "fd", type: .double), .double(fd)),
            (ParquetColumn(name: "fs", type: .byteArray, logical: .string), .string(fs)),
            (ParquetColumn(name: "f32", type: .int32), .int32(f32)),
        ], options: ParquetWriterOptions(dictionaryPageLimitBytes: 16 * 1024, pageTargetBytes: 8 * 1024))
        c.extraJSON["dictionary"] = #"{"fi":"fallback","fd":"fallback","fs":"fallback","f32":"fallback"}"#
        c.extraJSON["fastparquet_unreadable"] = #"["fs"]"#
        out.append(c)

        // Trends table as sinkd writes it.
        out.append(trendsCase())
        out.append(contentsOf: runCases())
        return out
    }

    /// Run-length input (ParquetColumnData.runLengths): runs of 0, 1, 7, 8 and thousands of rows (longer
    /// than one page and than the writer's row steps), every type, split over several write calls, beside
    /// a per-row column; once with dictionaries, once with a dictionary limit that falls back to PLAIN
    /// in the middle of the runs, once PLAIN and uncompressed.
    static func runCases() -> [ParquetCase] {
        var g = SplitMix64(seed: 17)
        var runs: [Int32] = [0, 1, 7, 8, 9, 3000, 0, 50, 1, 20_000]
        while runs.count < 2000 { runs.append(Int32(g.next() % 60)) }
        runs.append(0)
        let rows = runs.reduce(0) { $0 + Int($1) }
        var i32: [Int32?] = [], i64: [Int64?] = [], dbl: [Double?] = [], str: [String?] = [], ts: [Int64?] = []
        for (k, n) in runs.enumerated() {
            let d: Double = k % 97 == 5 ? .nan : k == 8 ? -0.0 : Double(k) * 0.25 - 100
            let text = k % 50 == 3 ? "" : k % 70 == 4 ? String(repeating: "ü", count: 40) + String(k)
                : unicode[k % unicode.count] + String(k % 300)
            for _ in 0..<n {
                i32.append(Int32(k % 500) - 250)
                i64.append(Int64(k) * 1_000_000_007 - 5)
                dbl.append(d)
                str.append(text)
                ts.append(1_764_000_000_000 + Int64(k) * 10_000)
            }
        }
        var out: [ParquetCase] = []
        for (name, options) in [
            ("runs_dictionary", ParquetWriterOptions(pageTargetBytes: 4096)),
            ("runs_fallback", ParquetWriterOptions(dictionaryPageLimitBytes: 2048, pageTargetBytes: 4096)),
            ("runs_plain", ParquetWriterOptions(compression: .uncompressed, dictionary: false, pageTargetBytes: 8192)),
        ] {
            var c = ParquetCase(name: name, columns: [
                (ParquetColumn(name: "i32", type: .int32), .int32(i32)),
                (ParquetColumn(name: "i64", type: .int64), .int64(i64)),
                (ParquetColumn(name: "dbl", type: .double), .double(dbl)),
                (ParquetColumn(name: "str", type: .byteArray, logical: .string), .string(str)),
                (ParquetColumn(name: "ts", type: .int64, logical: .timestampMillisUTC), .int64(ts)),
                (ParquetColumn(name: "flat", type: .int64), .int64((0..<rows).map { Int64($0 % 1234) })),
            ], options: options, batchRows: 11_111)
            c.runColumns = ["i32", "i64", "dbl", "str", "ts"]
            c.runs = runs
            if name == "runs_fallback" {
                c.extraJSON["dictionary"] = #"{"i64":"fallback","str":"fallback","ts":"fallback"}"#
                c.extraJSON["fastparquet_unreadable"] = #"["str"]"#
            }
            out.append(c)
        }
        return out
    }

    static func sampleWindows(count: Int, perWindow: Int, seed: UInt64) -> [TrendWindow] {
        var g = SplitMix64(seed: seed)
        var windows: [TrendWindow] = []
        let base: Int64 = 1_764_000_000_000
        for w in 0..<count {
            let start = base + Int64(w) * 60_000
            var top: [TrendEntry] = []
            for r in 0..<perWindow {
                let tag = "tag\(g.next() % 500)" + (r % 7 == 0 ? "日本" : "")
                top.append(TrendEntry(tag: tag, display: r % 3 == 0 ? tag.uppercased() : tag, count: Int64(perWindow - r) * 3,
                                      rank: Int32(r + 1), score: Double(perWindow - r) / 7.0))
            }
            windows.append(TrendWindow(windowStartMillis: start, windowEndMillis: start + 300_000, final: true,
                                       emittedAtMillis: start + 300_000 + Int64(g.next() % 5000), posts: Int64(1000 + w),
                                       distinct: 700, lateDropped: 0, top: top))
        }
        return windows
    }

    static func trendsCase() -> ParquetCase {
        let windows = sampleWindows(count: 30, perWindow: 50, seed: 7)
        var b = TrendRowBatcher()
        for w in windows { b.append(w) }
        let cols = TrendsTable.schema.columns
        var c = ParquetCase(name: "trends", columns: [
            (cols[0], .int64(b.windowStart.map { $0 })), (cols[1], .int64(b.windowEnd.map { $0 })),
            (cols[2], .int32(b.rank.map { $0 })),
            (cols[3], .string((0..<b.hashtag.count).map { String(decoding: b.hashtag[$0], as: UTF8.self) })),
            (cols[4], .string((0..<b.display.count).map { String(decoding: b.display[$0], as: UTF8.self) })),
            (cols[5], .int64(b.count.map { $0 })), (cols[6], .double(b.score.map { $0 })),
            (cols[7], .int64(b.posts.map { $0 })), (cols[8], .int64(b.emittedAt.map { $0 })),
        ])
        c.extraJSON["dictionary"] = #"{"window_start":"all","hashtag":"all","display":"all","rank":"all"}"#
        return c
    }

    @Test func readersAgreeWithWriter() throws {
        let dir = try ParquetTestEnv.tempDir("parquet-readback")
        defer { ParquetTestEnv.cleanup(dir) }
        for c in Self.cases() { try c.write(to: dir) }
        let result = try ParquetTestEnv.readback([dir.path])
        #expect(result.mismatches == [], "stderr: \(result.stderr.suffix(2000))")
        #expect(result.status == 0)
        #expect(result.checks > 1000, "too few checks ran: \(result.checks)")
    }

    /// The readback script itself must notice a wrong expectation (otherwise a green run means nothing).
    @Test func readbackDetectsMismatch() throws {
        let dir = try ParquetTestEnv.tempDir("parquet-negative")
        defer { ParquetTestEnv.cleanup(dir) }
        let c = Self.allTypes("tampered", rows: 50, seed: 9)
        try c.write(to: dir)
        // Same file, expectations with Int64.max (the i64 maximum) replaced by 5: values and max differ.
        var other = c
        other.columns[1].1 = .int64([Int64.min, 5] + Self.extremesI64.dropFirst(2).map { $0 } + {
            if case .int64(let v) = c.columns[1].1 { return Array(v.dropFirst(Self.extremesI64.count)) }
            return []
        }())
        try other.expectedJSON().write(to: dir.appendingPathComponent("tampered.expected.json"), atomically: true, encoding: .utf8)
        let result = try ParquetTestEnv.readback([dir.path])
        #expect(result.status == 1)
        #expect(result.mismatches.contains { $0.contains("[pyarrow]") })
        #expect(result.mismatches.contains { $0.contains("[duckdb]") })
        #expect(result.mismatches.contains { $0.contains("[fastparquet]") })
        #expect(result.mismatches.contains { $0.contains("i64: max") })
    }
}

/// Checks on our own side: footer round trip, page structure, input validation.
@Suite struct ParquetWriterUnitTests {
    @Test func footerRoundTripsThroughOwnReader() throws {
        let c = ParquetReadbackTests.allTypes("rt", rows: 1234, seed: 11)
        let sink = MemoryByteSink()
        let w = try ParquetWriter(schema: ParquetSchema(c.columns.map { $0.0 }), sink: sink)
        try w.write(c.columns.map { $0.1.columnData(0..<1234, optional: false) })
        let written = try w.close(keyValueMetadata: ["b": "2", "a": "1"])
        let read = try ParquetFooter.read(fileTail: sink.bytes)
        #expect(read == written)
        #expect(read.numRows == 1234)
        #expect(read.keyValueMetadata.map(\.key) == ["a", "b"])
        #expect(read[metadata: "b"] == "2")
        #expect(read.columnNames == ["i32", "i64", "dbl", "str", "ts"])
        #expect(read.createdBy == ParquetWriterOptions.defaultCreatedBy)
        #expect(Array(sink.bytes.prefix(4)) == Array("PAR1".utf8))
        // Footer parse from just the tail, as the storage target reads it.
        let tail = Array(sink.bytes.suffix(8 + Int(read.rowGroups.count) * 0 + 4096))
        #expect(try ParquetFooter.read(fileTail: tail).numRows == 1234)
    }

    @Test func pagesFollowByteTargets() throws {
        let c = ParquetReadbackTests.allTypes("pages", rows: 50_000, seed: 12)
        let sink = MemoryByteSink()
        let opts = ParquetWriterOptions(pageTargetBytes: 4096, rowGroupTargetBytes: 64 * 1024)
        let w = try ParquetWriter(schema: ParquetSchema(c.columns.map { $0.0 }), options: opts, sink: sink)
        try w.write(c.columns.map { $0.1.columnData(0..<50_000, optional: false) })
        let md = try w.close()
        #expect(md.rowGroups.count >= 3)
        #expect(md.rowGroups.reduce(0) { $0 + $1.numRows } == 50_000)
        var totalPages = 0
        for rg in md.rowGroups {
            for chunk in rg.columns {
                let walk = try PageWalk(file: sink.bytes, chunk: chunk)
                #expect(walk.values == rg.numRows)
                #expect(walk.dictionaryPages == (chunk.dictionaryPageOffset == nil ? 0 : 1))
                totalPages += walk.dataPages
            }
        }
        #expect(totalPages > 50)
    }

    @Test func fallbackKeepsDictionaryPagesThenPlain() throws {
        let n = 10_000
        let values = (0..<n).map { Int64($0) * 7919 }
        let sink = MemoryByteSink()
        let w = try ParquetWriter(schema: ParquetSchema([ParquetColumn(name: "v", type: .int64)]),
                                  options: ParquetWriterOptions(dictionaryPageLimitBytes: 8 * 1024, pageTargetBytes: 4096),
                                  sink: sink)
        try w.write([ParquetColumnData(.int64(values))])
        let md = try w.close()
        let chunk = md.rowGroups[0].columns[0]
        let walk = try PageWalk(file: sink.bytes, chunk: chunk)
        #expect(walk.encodings == [0, 8])
        #expect(chunk.encodings.contains(8) && chunk.encodings.contains(0))
        #expect(chunk.statistics?.min == withUnsafeBytes(of: Int64(0).littleEndian, Array.init))
        #expect(chunk.statistics?.max == withUnsafeBytes(of: (Int64(n - 1) * 7919).littleEndian, Array.init))
    }

    @Test func trendsTableEncodesWindows() throws {
        let windows = ParquetReadbackTests.sampleWindows(count: 12, perWindow: 50, seed: 21)
        let bytes = try TrendsTable.encode(windows, keyValueMetadata: ["k": "v"])
        let md = try ParquetFooter.read(fileTail: bytes)
        #expect(md.columnNames == ["window_start", "window_end", "rank", "hashtag", "display", "count", "score", "posts", "emitted_at"])
        #expect(md.numRows == 600)
        #expect(md[metadata: "k"] == "v")
        let chunks = md.rowGroups[0].columns
        #expect(chunks.allSatisfy { $0.encodings.contains(8) && $0.codec == 6 })  // RLE_DICTIONARY, ZSTD
        let ends = windows.map(\.windowEndMillis)
        func le(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        #expect(chunks[1].statistics?.min == le(ends.min()!))
        #expect(chunks[1].statistics?.max == le(ends.max()!))
        let tags = windows.flatMap { $0.top.map { Array($0.tag.utf8) } }
        #expect(chunks[3].statistics?.min == tags.min { $0.lexicographicallyPrecedes($1) })
        #expect(chunks[3].statistics?.max == tags.max { $0.lexicographicallyPrecedes($1) })
        #expect(chunks[2].statistics?.min == withUnsafeBytes(of: Int32(1).littleEndian, Array.init))
        #expect(chunks[2].statistics?.max == withUnsafeBytes(of: Int32(50).littleEndian, Array.init))
        #expect(try TrendsTable.encode([]).count > 12)  // an empty file is still a valid file
    }

    @Test func rejectsMalformedBatches() throws {
        let schema = ParquetSchema([ParquetColumn(name: "a", type: .int32), ParquetColumn(name: "b", type: .int64)])
        let w = try ParquetWriter(schema: schema, sink: MemoryByteSink())
        #expect(throws: ParquetWriterError.self) { try w.write([ParquetColumnData(.int32([1]))]) }
        #expect(throws: ParquetWriterError.self) {
            try w.write([ParquetColumnData(.int32([1])), ParquetColumnData(.int32([1]))])
        }
        #expect(throws: ParquetWriterError.self) {
            try w.write([ParquetColumnData(.int32([1, 2])), ParquetColumnData(.int64([1]))])
        }
        #expect(throws: ParquetWriterError.self) {
            try w.write([ParquetColumnData(.int32([1]), validity: [true]), ParquetColumnData(.int64([1]))])
        }
        #expect(throws: ParquetWriterError.self) {
            try ParquetWriter(schema: ParquetSchema([ParquetColumn(name: "t", type: .int32, logical: .string)]), sink: MemoryByteSink())
        }
        // Run-length input: one length per value, none negative, rows agreeing with the other columns.
        #expect(throws: ParquetWriterError.self) {
            try w.write([ParquetColumnData(.int32([1, 2]), runLengths: [3]), ParquetColumnData(.int64([1, 2, 3]))])
        }
        #expect(throws: ParquetWriterError.self) {
            try w.write([ParquetColumnData(.int32([1, 2]), runLengths: [4, -1]), ParquetColumnData(.int64([1, 2, 3]))])
        }
        #expect(throws: ParquetWriterError.self) {
            try w.write([ParquetColumnData(.int32([1, 2]), runLengths: [2, 2]), ParquetColumnData(.int64([1, 2, 3]))])
        }
        try w.write([ParquetColumnData(.int32([1, 2]), runLengths: [2, 1]), ParquetColumnData(.int64([1, 2, 3]))])
        try w.close()
        #expect(throws: ParquetWriterError.self) { try w.close() }
    }

    /// The batcher's run-length columns hold the same rows as its per-row accessors, and the file it
    /// feeds decodes to them (own reader; the readback suite checks the same with pyarrow/DuckDB).
    @Test func trendRowBatcherRunsMatchRows() throws {
        var windows = ParquetReadbackTests.sampleWindows(count: 40, perWindow: 50, seed: 23)
        windows[3].top = []  // a window without entries adds no rows and no run
        windows[7].top = Array(windows[7].top.prefix(1))
        var b = TrendRowBatcher()
        for w in windows { b.append(w) }
        let rows = windows.reduce(0) { $0 + $1.top.count }
        #expect(b.rowCount == rows)
        #expect(b.windowRows.count == windows.count - 1)
        var expectedStarts: [Int64] = [], expectedEmitted: [Int64] = []
        for w in windows {
            for _ in w.top {
                expectedStarts.append(w.windowStartMillis)
                expectedEmitted.append(w.emittedAtMillis)
            }
        }
        #expect(b.windowStart == expectedStarts)
        #expect(b.emittedAt == expectedEmitted)
        let sink = MemoryByteSink()
        let w = try ParquetWriter(schema: TrendsTable.schema, options: ParquetWriterOptions(pageTargetBytes: 512), sink: sink)
        try w.write(b.columns())
        try w.close()
        let r = try ParquetFileReader(bytes: sink.bytes)
        guard case .int64(let starts) = try r.column("window_start"), case .int64(let emitted) = try r.column("emitted_at"),
              case .int64(let posts) = try r.column("posts"), case .int32(let ranks) = try r.column("rank")
        else { Issue.record("unexpected column types"); return }
        #expect(starts == expectedStarts)
        #expect(emitted == expectedEmitted)
        #expect(posts == b.posts)
        #expect(ranks == b.rank)
        b.removeAll()
        #expect(b.rowCount == 0 && b.windowRows.isEmpty && b.windowStart.isEmpty)
    }

    /// The dictionaries against Swift's own Dictionary: every value gets one dense index, in first-seen
    /// order, across table growth. Values share 16-byte prefixes and lengths (decided past the slot's
    /// prefix), cover every length 0...40 at every offset of the input buffer; the fixed-width keys
    /// include 0 (an empty slot's bit pattern) and small keys inside and outside the direct table.
    @Test func dictionariesAssignDenseIndicesLikeASwiftDictionary() {
        var g = SplitMix64(seed: 31)
        var strings: [[UInt8]] = []
        for n in 0...40 {
            for k in 0..<30 { strings.append((0..<n).map { UInt8(truncatingIfNeeded: ($0 * 7 + k * (n > 16 ? 0 : 1)) % 251) }) }
        }
        for k in 0..<3000 {  // shared 16-byte prefix and length; only the tail differs
            strings.append(Array("#same-prefix-16b".utf8) + Array(String(k).utf8) + [UInt8(k % 7)])
        }
        var input = ParquetByteArrays()
        var order: [[UInt8]] = []
        for _ in 0..<30_000 {
            let v = strings[Int(g.next() % UInt64(strings.count))]
            input.append(contentsOf: v)
            order.append(v)
        }
        var dict = BytesDictionary(capacity: 4)
        var reference: [[UInt8]: UInt32] = [:]
        input.bytes.withUnsafeBytes { all in
            let base = all.baseAddress!
            for i in 0..<input.count {
                let s = input.start(i), n = input.ends[i] - s
                var inserted = false
                let idx = i % 2 == 0 ? dict.index(of: base + s, count: n, inserted: &inserted)
                    : dict.index(of: base + s, count: n, key: BytesDictionary.key(base + s, n, readable: all.count - s),
                                 inserted: &inserted)
                let expected = reference[order[i]] ?? UInt32(reference.count)
                #expect(inserted == (reference[order[i]] == nil))
                reference[order[i]] = expected
                #expect(idx == expected)
            }
        }
        #expect(dict.count == reference.count)
        for (v, i) in reference { #expect(Array(dict.values[Int(i)]) == v) }

        var fixed = FixedDictionary(capacity: 4)
        var fixedRef: [UInt64: UInt32] = [:]
        for k in 0..<50_000 {
            // 0, small keys on both sides of the direct table's limit, keys differing only in high bits.
            let key = k % 3 == 0 ? g.next() % 5_000 : k % 3 == 1 ? 0 : g.next() % 20_000 &* 0x1_0000_0000
            var inserted = false
            let idx = fixed.index(of: key, inserted: &inserted)
            let expected = fixedRef[key] ?? UInt32(fixedRef.count)
            #expect(inserted == (fixedRef[key] == nil))
            fixedRef[key] = expected
            #expect(idx == expected)
        }
        #expect(fixed.keys.count == fixedRef.count)
    }

    @Test func rleHybridMatchesSpecExample() {
        // Encodings.md: 0..7 with bit width 3 bit-packed -> 0x88 0xC6 0xFA after the header (1 group).
        var out: [UInt8] = []
        let v: [UInt32] = [0, 1, 2, 3, 4, 5, 6, 7]
        v.withUnsafeBufferPointer { RLEHybrid.encode($0, bitWidth: 3, into: &out) }
        #expect(out == [0x03, 0x88, 0xC6, 0xFA])
        out = []
        let run = [UInt32](repeating: 5, count: 300)
        run.withUnsafeBufferPointer { RLEHybrid.encode($0, bitWidth: 3, into: &out) }
        #expect(out == [0xD8, 0x04, 0x05])  // varint(300 << 1) then one byte value
    }

    @Test func thriftRoundTripsFieldIdsAndTypes() throws {
        var w = ThriftCompactWriter()
        w.i32(1, -5)
        w.i64(20, Int64.min)  // long delta: explicit field id
        w.string(21, "héllo")
        w.bool(22, true)
        w.bool(23, false)
        w.listI32(24, Array(0..<20))
        w.beginStruct(25)
        w.emptyStruct(1)
        w.endStruct()
        w.finish()
        var r = ThriftCompactReader(w.out)
        let v = try r.readStruct()
        #expect(v[1]?.int == -5)
        #expect(v[20]?.int == Int64.min)
        #expect(v[21]?.string == "héllo")
        #expect(v[22]?.bool == true)
        #expect(v[23]?.bool == false)
        #expect(v[24]?.list.compactMap(\.int) == (0..<20).map(Int64.init))
        #expect(v[25]?[1] == .structure([:]))
        #expect(r.position == w.out.count)
    }
}
