import ArgumentParser
import Foundation
import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

// Hidden subcommands that bench/run calls: they time the library in-process, without output, so the
// figures measure the code and not the pipe to the terminal. Each prints one JSON object per line.

/// Wall and CPU time (user + system, this process, all threads) since `init`.
struct BenchClock {
    private let wall0 = DispatchTime.now().uptimeNanoseconds
    private let cpu0 = BenchClock.cpuSeconds()

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(u.ru_utime) + s(u.ru_stime)
    }

    var wall: Double { Double(DispatchTime.now().uptimeNanoseconds - wall0) / 1e9 }
    var cpu: Double { BenchClock.cpuSeconds() - cpu0 }
}

/// One JSON object per line, numbers unquoted; `fields` keep their order.
func benchLine(_ fields: [(String, Any)]) {
    let body = fields.map { (k, v) -> String in
        switch v {
        case let d as Double: return "\"\(k)\":\(String(format: "%.6g", d))"
        case let i as Int: return "\"\(k)\":\(i)"
        case let i as Int64: return "\"\(k)\":\(i)"
        default: return "\"\(k)\":\"\(v)\""
        }
    }
    print("{" + body.joined(separator: ",") + "}")
}

struct BenchHotpathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-hotpath", abstract: "Time decode, decode+extract and decode+extract+count of a file (no output).",
        shouldDisplay: false)

    @OptionGroup var windows: WindowOptions

    @Option(help: """
        Stages to time, in order: decode, extract, count (the hot path: borrowed post views, no Strings; \
        default all three), or post-decode, post-count (Post values and WindowInput, as trendd and `trends` feed \
        the engine), or validate (the JSON syntax check alone: the scanner's two passes, no fields). Repeatable.
        """)
    var stage: [String] = []

    @Argument(help: "Input file of posts (JSON lines).")
    var file: String

    static let stages = ["decode", "extract", "count", "post-decode", "post-count", "validate"]

    func run() throws {
        let stages = stage.isEmpty ? ["decode", "extract", "count"] : stage
        for s in stages where !Self.stages.contains(s) {
            throw ValidationError("--stage must be one of \(Self.stages.joined(separator: ", ")), not \(s)")
        }
        let config = try windows.config()
        for s in stages {
            // Each stage reads the file again (from the page cache) with a fresh decoder and engine.
            let engine = s.hasSuffix("count") ? try WindowEngine(config: config) : nil
            let clock = BenchClock()
            let reader = try LineReader(path: file, mapped: true)
            var decoder = PostDecoder(defaultSource: "replay")
            var posts: [Post] = []
            let structure = JSONStructuralIndex()
            var n = 0, bad = 0, postCount = 0, tags = 0, windowsFinal = 0
            var checksum: Int64 = 0
            func collect(_ windows: [TrendWindow]) {
                for w in windows where w.final {
                    windowsFinal += 1
                    checksum &+= w.top.first?.count ?? 0
                }
            }
            while try reader.nextLine({ line -> Bool in
                n += 1
                do throws(PostDecodeError) {
                    switch s {
                    case "decode":
                        postCount += try decoder.decode(line: line) { checksum &+= $0.createdAtMillis }
                    case "extract":
                        postCount += try decoder.decode(line: line) { post in
                            post.forEachHashtag { tag in
                                HashtagKey.withKey(utf8: tag) { key in
                                    tags += 1
                                    checksum &+= Int64(key.count)
                                }
                            }
                        }
                    case "count":
                        postCount += try decoder.decode(line: line) { post in
                            collect(engine!.process(post, partition: 0, offset: Int64(n)))
                        }
                    case "validate":
                        structure.build(line, checkUTF8: true)
                        var scanner = JSONScanner(line, index: structure)
                        do throws(JSONScanError) {
                            try scanner.skipValue()
                            try scanner.finish()
                            postCount += structure.firstInvalidUTF8 == nil ? 1 : 0
                        } catch {
                            bad += 1
                        }
                    case "post-decode":
                        posts.removeAll(keepingCapacity: true)
                        try decoder.decode(line: line, into: &posts)
                        postCount += posts.count
                        for p in posts { checksum &+= p.createdAtMillis }
                    default:
                        posts.removeAll(keepingCapacity: true)
                        try decoder.decode(line: line, into: &posts)
                        postCount += posts.count
                        for p in posts { collect(engine!.process(WindowInput(post: p, partition: 0, offset: Int64(n)))) }
                    }
                } catch {
                    bad += 1
                }
                return true
            }) != nil {}
            if let engine { collect(engine.flush()) }
            let cpu = clock.cpu, wall = clock.wall
            let bytes = Double(reader.bytesRead)
            benchLine([("stage", s), ("lines", n), ("bad", bad), ("posts", postCount), ("tags", tags),
                       ("windows_final", windowsFinal), ("bytes", reader.bytesRead), ("cpu_s", cpu), ("wall_s", wall),
                       ("posts_per_cpu_s", Double(postCount) / cpu), ("mb_per_cpu_s", bytes / 1e6 / cpu),
                       ("checksum", checksum)])
        }
    }
}

struct BenchParquetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-parquet", abstract: "Encode realistic trend rows to a Parquet file and time the writer.",
        shouldDisplay: false)

    @Option(help: "Rows to write.") var rows: Int = 10_000_000
    @Option(help: "Rows (top entries) per window.") var perWindow: Int = 50
    @Option(help: "Distinct hashtags.") var tags: Int = 20_000
    @Option(help: "Windows per ParquetWriter.write call.") var batchWindows: Int = 2_000
    @Option(help: "Random seed.") var seed: UInt64 = 7
    @Option(help: "Output file (must not exist).") var out: String

    func validate() throws {
        guard rows > 0, perWindow > 0, tags >= perWindow, batchWindows > 0 else {
            throw ValidationError("--rows, --per-window, --batch-windows must be positive and --tags >= --per-window")
        }
    }

    /// SplitMix64: deterministic, fast, good enough for realistic-looking rows.
    struct Rng {
        var s: UInt64
        mutating func next() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    }

    func run() throws {
        // Option values copied once: reading a property wrapper per row costs a generic metadata lookup.
        let rows = self.rows, perWindow = self.perWindow, tags = self.tags, batchWindows = self.batchWindows
        // A vocabulary of `tags` hashtags; each window's top entries are drawn with a Zipf-like skew, so a
        // few tags trend in most windows and the long tail shows up now and then (as in real trends).
        var rng = Rng(s: seed)
        let syllables = ["ai", "news", "fc", "live", "tech", "vote", "game", "music", "art", "day", "world",
                         "cup", "love", "tv", "crypto", "x", "now", "fan", "de", "la"]
        var vocab: [(tag: String, display: String)] = []
        vocab.reserveCapacity(tags)
        for i in 0..<tags {
            var t = ""
            for _ in 0..<(1 + Int(rng.next() % 3)) { t += syllables[Int(rng.next() % UInt64(syllables.count))] }
            t += String(i, radix: 36)
            let display = rng.next() % 4 == 0 ? t.prefix(1).uppercased() + t.dropFirst() : t
            vocab.append((t, display))
        }
        let startMillis: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
        var batcher = TrendRowBatcher()
        batcher.reserve(rows: min(rows, batchWindows * perWindow), windows: batchWindows)
        let sink = try FileByteSink(path: out)
        let writer = try ParquetWriter(schema: TrendsTable.schema, options: ParquetWriterOptions(), sink: sink)
        var encodeCPU = 0.0, encodeWall = 0.0
        var written = 0, window = 0
        let total = BenchClock()
        while written < rows {
            batcher.removeAll()
            var w = 0
            while w < batchWindows && written < rows {
                let k = min(perWindow, rows - written)
                let end = startMillis + Int64(window + 6) * 10_000
                let posts = Int64(20_000 + rng.next() % 5_000)
                var picked = Set<Int>()
                var entries: [TrendEntry] = []
                var count = Int64(300 + rng.next() % 200)
                while entries.count < k {
                    let i = Int(Double(tags) * pow(rng.unit(), 3))  // skewed towards the head
                    guard picked.insert(i).inserted else { continue }
                    count = max(1, count - Int64(rng.next() % 8))
                    entries.append(TrendEntry(tag: vocab[i].tag, display: vocab[i].display, count: count,
                                              rank: Int32(entries.count + 1), score: Double(count) / Double(posts) * 1000))
                }
                batcher.append(TrendWindow(windowStartMillis: end - 60_000, windowEndMillis: end, final: true,
                                           emittedAtMillis: end + 5_000 + Int64(rng.next() % 300), posts: posts,
                                           distinct: Int64(3_000 + rng.next() % 1_000), lateDropped: 0, top: entries))
                written += k
                window += 1
                w += 1
            }
            let clock = BenchClock()
            try writer.write(batcher.columns())
            encodeCPU += clock.cpu
            encodeWall += clock.wall
        }
        let clock = BenchClock()
        let meta = try writer.close()
        try sink.close(sync: false)
        encodeCPU += clock.cpu
        encodeWall += clock.wall
        var st = stat()
        stat(out, &st)
        benchLine([("rows", written), ("windows", window), ("row_groups", meta.rowGroups.count),
                   ("first_row_group_rows", Int(meta.rowGroups.first?.numRows ?? 0)), ("bytes", Int(st.st_size)),
                   ("encode_cpu_s", encodeCPU), ("encode_wall_s", encodeWall), ("total_wall_s", total.wall),
                   ("rows_per_s", Double(written) / encodeWall), ("rows_per_cpu_s", Double(written) / encodeCPU)])
    }
}
