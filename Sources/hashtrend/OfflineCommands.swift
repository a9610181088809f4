import ArgumentParser
import Foundation
import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// Progress on the terminal for long offline jobs (only when stderr is a terminal).
final class Progress {
    private let label: String
    private var last = DispatchTime.now()
    private let enabled = isatty(2) == 1
    init(_ label: String) { self.label = label }
    func tick(lines: Int, bytes: Int64) {
        guard enabled, lines & 0xFFF == 0 else { return }
        let now = DispatchTime.now()
        guard now.uptimeNanoseconds - last.uptimeNanoseconds > 1_000_000_000 else { return }
        last = now
        FileHandle.standardError.write(Data("\r\(label): \(lines) lines, \(bytes >> 20) MiB".utf8))
    }
    func done() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Reads posts line by line from a file or stdin; malformed lines are counted and reported, never fatal.
struct PostLines {
    let path: String
    var maxReports = 5

    /// Calls `body(post, lineNumber)` for every decoded post; returns (lines, bad lines).
    func forEach(_ body: (Post, Int) throws -> Void) throws -> (lines: Int, bad: Int) {
        var posts: [Post] = []
        return try forEachLine { decoder, line, n throws(PostDecodeError) in
            posts.removeAll(keepingCapacity: true)
            try decoder.decode(line: line, into: &posts)
        } then: { n in
            for p in posts { try body(p, n) }
        }
    }

    /// Lends every decoded post as a `PostView` (no Strings built: the hot path of `trends`) with its line
    /// number; returns (lines, bad lines).
    func forEachView(_ body: (PostView, Int) -> Void) throws -> (lines: Int, bad: Int) {
        try forEachLine { decoder, line, n throws(PostDecodeError) in
            _ = try decoder.decode(line: line) { body($0, n) }
        } then: { _ in }
    }

    /// The loop both share: `decode` sees each line (valid only during the call), `then` runs after a line
    /// decoded without error; failures are reported and counted, and progress shows on a terminal.
    private func forEachLine(
        _ decode: (inout PostDecoder, UnsafeBufferPointer<UInt8>, Int) throws(PostDecodeError) -> Void,
        then: (Int) throws -> Void
    ) throws -> (lines: Int, bad: Int) {
        let reader = try LineReader(path: path, mapped: true)
        var decoder = PostDecoder(defaultSource: "replay")
        var n = 0, bad = 0
        let progress = Progress(path == "-" ? "stdin" : path)
        while let failure = try reader.nextLine({ line -> String? in
            n += 1
            if reader.lastLineTruncated { return "line \(n): longer than \(reader.maxLineBytes) bytes" }
            do throws(PostDecodeError) { try decode(&decoder, line, n) } catch { return "line \(n): \(error.reason)" }
            return nil
        }) {
            if let failure {
                bad += 1
                if bad <= maxReports { stderrLine("skipped \(failure)") }
            } else {
                try then(n)
            }
            progress.tick(lines: n, bytes: reader.bytesRead)
        }
        progress.done()
        if bad > maxReports { stderrLine("skipped \(bad) malformed line(s) in all") }
        return (n, bad)
    }
}

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Print each post's hashtags: one line per post, {\"id\":...,\"hashtags\":[...]}.",
        discussion: """
        Hashtags are as written, without '#', in order of appearance: the source's own (X entities, Mastodon
        tags) when the post carries them, otherwise extracted from the text by twitter-text's rules
        (--from-text always extracts). Input: any shape in docs/input-formats.md, one per line.
        """)

    @Flag(help: "Extract from the text even when the source supplied hashtags.")
    var fromText = false

    @Argument(help: "Input file; - or nothing for standard input.")
    var file: String = "-"

    func run() throws {
        let out = OutputWriter.standardOutput
        _ = try PostLines(path: file).forEach { post, _ in
            var w = JSONWriter(capacity: 128)
            w.raw("{\"id\":")
            w.string(post.id)
            w.raw(",\"hashtags\":")
            w.stringArray(PostTags.written(in: post, preferSource: !fromText))
            w.raw("}\n")
            out.write(w.bytes)
        }
        out.flush()
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write deterministic, realistic posts (the synthetic source) as JSON lines.",
        discussion: """
        The same --seed gives the same bytes. Event times advance at --rate posts per second of event time
        from --start (lines are written as fast as possible); --disorder shuffles event times within that bound;
        --late-fraction posts arrive --late-by behind (beyond a lateness of that size they are dropped as late).
        """)

    @Option(help: "How many posts.")
    var count: Int

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(help: "x2 (X API v2 stream lines), x1 (v1.1 statuses) or canonical (the tweets topic's records).")
    var format: String = "x2"

    @Option(help: "Posts per second of event time.")
    var rate: Double = 100

    @Option(help: "Bounded disorder of event times, e.g. 5s.")
    var disorder: String = "0s"

    @Option(help: "Fraction of posts that arrive late.")
    var lateFraction: Double = 0

    @Option(help: "How far behind late posts arrive, e.g. 2m.")
    var lateBy: String = "0s"

    @Option(help: "Event time of the first post (RFC 3339).")
    var start: String = "2026-01-01T00:00:00.000Z"

    func validate() throws {
        guard PostFormat(rawValue: format) != nil else { throw ValidationError("--format must be x2, x1 or canonical") }
        guard count >= 0 else { throw ValidationError("--count must not be negative") }
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard (0...1).contains(lateFraction) else { throw ValidationError("--late-fraction must be between 0 and 1") }
        guard EventTime.parse(start) != nil else { throw ValidationError("--start must be RFC 3339, e.g. 2026-01-01T00:00:00Z") }
        _ = try HTDuration(parsing: disorder)
        _ = try HTDuration(parsing: lateBy)
    }

    func run() throws {
        let fmt = PostFormat(rawValue: format)!
        var gen = PostGenerator(seed: seed, startMillis: EventTime.parse(start)!, ratePerSecond: rate,
                                disorderMillis: try HTDuration(parsing: disorder).millis,
                                lateFraction: lateFraction, lateByMillis: try HTDuration(parsing: lateBy).millis)
        let out = OutputWriter.standardOutput
        for _ in 0..<count {
            out.write(PostGenerator.encode(gen.next(), format: fmt))
            out.write([10])
        }
        out.flush()
    }
}

/// Window settings shared by `hashtrend trends` and trendd's flags.
struct WindowOptions: ParsableArguments {
    @Option(help: "Window size.") var window: String = "60s"
    @Option(help: "How far each window advances (the window size must be a multiple of it).") var slide: String = "10s"
    @Option(help: "Allowed lateness: posts older than the partition's newest minus this are dropped as late.") var lateness: String = "5s"
    @Option(help: "Entries per window.") var top: Int = 10
    @Option(help: "Rank by count or score.") var rankBy: String = "count"
    @Option(help: "Bound the distinct tags per pane (Space-Saving counters); 0 for exact counting.") var maxTags: Int = 0

    func config() throws -> WindowConfig {
        guard let rank = TrendRanking(rawValue: rankBy) else { throw ValidationError("--rank-by must be count or score") }
        let c = WindowConfig(size: try HTDuration(parsing: window), advance: try HTDuration(parsing: slide),
                             allowedLateness: try HTDuration(parsing: lateness), topK: top, rankBy: rank,
                             maxTags: maxTags > 0 ? maxTags : nil)
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        return c
    }
}

struct TrendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trends",
        abstract: "Compute the final trend windows of a file of posts, as JSON lines (the trends topic's records).",
        discussion: """
        The same engine as trendd, on one partition in file order: at the end of input every open window
        closes. For input whose disorder stays within --lateness, the records equal what trendd publishes
        (all fields but emitted_at).
        """)

    @OptionGroup var windows: WindowOptions

    @Argument(help: "Input file; - or nothing for standard input.")
    var file: String = "-"

    func run() throws {
        let engine = try WindowEngine(config: try windows.config())
        let out = OutputWriter.standardOutput
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func emit(_ ws: [TrendWindow]) {
            for var w in ws where w.final {
                w.emittedAtMillis = now
                out.write(w.json())
                out.write([10])
            }
        }
        let (_, _) = try PostLines(path: file).forEachView { post, line in
            emit(engine.process(post, partition: 0, offset: Int64(line)))
        }
        emit(engine.flush())
        out.flush()
    }
}
