import Foundation
import Logging
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// Shared by the trend process tests: generating input, running `hashtrend trends`, the DuckDB oracle
/// (tests/oracle/trends_oracle.py), reading topics in-process, and comparing windows.
enum TrendTestKit {
    static let ht = TestSupport.binary("hashtrend")
    static let trendd = TestSupport.binary("trendd")
    static let oracleScript = TestSupport.packageRoot.appendingPathComponent("tests/oracle/trends_oracle.py").path

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Window settings passed identically to every tool.
    struct Settings {
        var window = "60s", slide = "10s", lateness = "5s", top = 10
        var args: [String] { ["--window", window, "--slide", slide, "--lateness", lateness, "--top", "\(top)"] }
    }

    /// `hashtrend generate --format canonical ...` into a file.
    static func generate(_ file: URL, count: Int, seed: UInt64, rate: Int, disorder: String, lateFraction: Double = 0, lateBy: String = "0s",
                         start: String = "2026-01-01T00:00:00.000Z") throws {
        let p = try ChildProcess(ht, ["generate", "--format", "canonical", "--count", "\(count)", "--seed", "\(seed)", "--rate", "\(rate)",
                                      "--disorder", disorder, "--late-fraction", "\(lateFraction)", "--late-by", lateBy, "--start", start],
                                 stdoutFile: file)
        guard p.wait(timeout: 120) == 0 else { throw Failure(description: "generate failed: \(p.stderr)") }
    }

    /// `hashtrend trends` on a file: final windows in emission order.
    static func offlineTrends(_ file: URL, _ s: Settings) throws -> [TrendWindow] {
        let out = file.deletingLastPathComponent().appendingPathComponent(file.lastPathComponent + ".trends")
        let p = try ChildProcess(ht, ["trends"] + s.args + [file.path], stdoutFile: out)
        guard p.wait(timeout: 180) == 0 else { throw Failure(description: "hashtrend trends failed: \(p.stderr)") }
        return try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { try TrendWindow(json: Array($0.utf8)) }
    }

    /// One window as the oracle computed it.
    struct OracleWindow {
        var start: Int64, end: Int64, posts: Int64, distinct: Int64, lateDropped: Int64
        var top: [(tag: String, display: String, count: Int64, rank: Int32)]
    }

    /// Runs the DuckDB oracle; returns its windows keyed by window end.
    static func oracle(_ file: URL, _ s: Settings) throws -> [Int64: OracleWindow] {
        let p = try ChildProcess(TestSupport.python, [oracleScript, file.path] + s.args)
        guard p.wait(timeout: 180) == 0 else { throw Failure(description: "oracle failed (\(TestSupport.python)): \(p.stderr)") }
        var out: [Int64: OracleWindow] = [:]
        for line in p.stdout.split(separator: "\n") {
            guard let d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let ws = (d["window_start"] as? NSNumber)?.int64Value, let we = (d["window_end"] as? NSNumber)?.int64Value,
                  let posts = (d["posts"] as? NSNumber)?.int64Value, let distinct = (d["distinct"] as? NSNumber)?.int64Value,
                  let late = (d["late_dropped"] as? NSNumber)?.int64Value, let top = d["top"] as? [[String: Any]]
            else { throw Failure(description: "unreadable oracle line: \(line)") }
            let entries = try top.map { e -> (tag: String, display: String, count: Int64, rank: Int32) in
                guard let tag = e["tag"] as? String, let display = e["display"] as? String,
                      let c = (e["count"] as? NSNumber)?.int64Value, let r = (e["rank"] as? NSNumber)?.int32Value
                else { throw Failure(description: "unreadable oracle entry: \(e)") }
                return (tag, display, c, r)
            }
            out[we] = OracleWindow(start: ws, end: we, posts: posts, distinct: distinct, lateDropped: late, top: entries)
        }
        return out
    }

    /// Differences between engine windows and the oracle's (empty = equal). Engine windows without posts
    /// and late drops must be absent from the oracle; every oracle window must be among the engine's.
    static func compare(_ engine: [TrendWindow], _ oracle: [Int64: OracleWindow], requireAllOracleWindows: Bool = true) -> [String] {
        var problems: [String] = []
        func note(_ s: String) { if problems.count < 20 { problems.append(s) } }
        var seen = Set<Int64>()
        for w in engine {
            let end = EventTime.format(millis: w.windowEndMillis)
            seen.insert(w.windowEndMillis)
            guard let o = oracle[w.windowEndMillis] else {
                if w.posts != 0 || w.lateDropped != 0 || !w.top.isEmpty || w.distinct != 0 {
                    note("\(end): engine has posts=\(w.posts) late=\(w.lateDropped) top=\(w.top.count), oracle has no such window")
                }
                continue
            }
            if w.windowStartMillis != o.start { note("\(end): start \(w.windowStartMillis) vs oracle \(o.start)") }
            if w.posts != o.posts { note("\(end): posts \(w.posts) vs oracle \(o.posts)") }
            if w.distinct != o.distinct { note("\(end): distinct \(w.distinct) vs oracle \(o.distinct)") }
            if w.lateDropped != o.lateDropped { note("\(end): late_dropped \(w.lateDropped) vs oracle \(o.lateDropped)") }
            let et = w.top.map { "\($0.rank):\($0.tag)/\($0.display)=\($0.count)" }
            let ot = o.top.map { "\($0.rank):\($0.tag)/\($0.display)=\($0.count)" }
            if et != ot { note("\(end): top\n  engine \(et)\n  oracle \(ot)") }
        }
        if requireAllOracleWindows {
            let missing = Set(oracle.keys).subtracting(seen).sorted()
            if !missing.isEmpty { note("\(missing.count) oracle window(s) not emitted, first \(EventTime.format(millis: missing[0]))") }
        }
        return problems
    }

    /// Windows compared on every field but emitted_at.
    static func sameButEmittedAt(_ a: TrendWindow, _ b: TrendWindow) -> Bool {
        var a = a, b = b
        a.emittedAtMillis = 0; b.emittedAtMillis = 0
        return a.json() == b.json()
    }

    /// A record read back from a topic.
    struct Record { let partition: Int32; let offset: Int64; let key: [UInt8]; let value: [UInt8]; let headers: [String: [UInt8]] }

    /// Reads a whole topic (every partition, from the beginning up to the high watermarks at the time of the call).
    static func readTopic(_ bootstrap: String, _ topic: String, partitions: Int32, headerNames: [String] = []) throws -> [Record] {
        let consumer = try KafkaConsumer(config: KafkaConfig(["bootstrap.servers": bootstrap, "group.id": "reader-\(UUID().uuidString.prefix(8))"]),
                                         logger: Logger(label: "test.reader"))
        defer { consumer.close() }
        var highs: [Int32: Int64] = [:]
        for p in 0..<partitions { highs[p] = try consumer.watermarks(TopicPartition(topic, p), timeout: .seconds(10)).high }
        try consumer.assign((0..<partitions).map { PartitionOffset(TopicPartition(topic, $0), offset: KafkaOffset.beginning) })
        var out: [Record] = []
        var next: [Int32: Int64] = [:]
        func done() -> Bool { highs.allSatisfy { p, h in (next[p] ?? 0) >= h } }
        let deadline = Date().addingTimeInterval(60)
        while !done() && Date() < deadline {
            guard let m = consumer.poll(timeoutMillis: 200) else { continue }
            if let e = m.error { if e.isFatal { throw e }; continue }
            var h: [String: [UInt8]] = [:]
            for n in headerNames { if let v = m.header(n) { h[n] = v } }
            out.append(Record(partition: m.partition, offset: m.offset, key: m.keyBytes, value: m.valueBytes, headers: h))
            next[m.partition] = m.offset + 1
        }
        guard done() else { throw Failure(description: "could not read \(topic) to its end: \(next) of \(highs)") }
        return out
    }

    /// Final windows from a trends topic, deduplicated by window end; repeats that differ (beyond
    /// emitted_at) are reported in `conflicts`.
    static func finals(_ records: [Record]) throws -> (windows: [Int64: TrendWindow], repeats: Int, conflicts: [String]) {
        var windows: [Int64: TrendWindow] = [:]
        var repeats = 0
        var conflicts: [String] = []
        for r in records {
            let w = try TrendWindow(json: r.value)
            guard w.final else { continue }
            if let first = windows[w.windowEndMillis] {
                repeats += 1
                if !sameButEmittedAt(first, w) {
                    conflicts.append("\(EventTime.format(millis: w.windowEndMillis)): first \(String(decoding: first.json(), as: UTF8.self))\n  then \(String(decoding: w.json(), as: UTF8.self))")
                }
            } else {
                windows[w.windowEndMillis] = w
            }
        }
        return (windows, repeats, conflicts)
    }

    /// Turns a canonical posts file into `id<TAB>json` lines for `hashtrend produce --key-separator`,
    /// and returns the largest event time.
    static func keyedLines(_ file: URL, to out: URL) throws -> (lines: Int, maxEventMillis: Int64, bytes: [Int]) {
        let data = try Data(contentsOf: file)
        var result = Data(capacity: data.count + data.count / 10)
        var maxT = Int64.min
        var n = 0
        var sizes: [Int] = []
        var decoder = PostDecoder(defaultSource: "replay")
        var posts: [Post] = []
        for line in data.split(separator: 10) {
            posts.removeAll(keepingCapacity: true)
            let bytes = Array(line)
            try bytes.withUnsafeBufferPointer { try decoder.decode(line: $0, into: &posts) }
            guard let p = posts.first else { throw Failure(description: "line without a post") }
            maxT = max(maxT, p.createdAtMillis)
            result.append(contentsOf: Array(p.id.utf8))
            result.append(9)
            result.append(contentsOf: bytes)
            result.append(10)
            sizes.append(bytes.count)
            n += 1
        }
        try result.write(to: out)
        return (n, maxT, sizes)
    }

    static func produce(_ bootstrap: String, topic: String, file: URL, extra: [String] = []) throws {
        let p = try ChildProcess(ht, ["produce", "--brokers", bootstrap, "--topic", topic, "--key-separator", "\t"] + extra + [file.path])
        guard p.wait(timeout: 180) == 0 else { throw Failure(description: "produce failed: \(p.stderr)") }
    }

    /// trendd against the embedded broker, with fast group settings.
    static func startTrendd(_ bootstrap: String, group: String, output: String, _ s: Settings, extra: [String] = []) throws -> ChildProcess {
        try ChildProcess(trendd, ["--brokers", bootstrap, "--group", group, "--output-topic", output,
                                  "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500",
                                  "--idle-timeout", "5s"] + s.args + extra,
                         environment: ["HASHTREND_LOG_LEVEL": "info"])
    }

    /// librdkafka's default partitioner for keyed records (consistent_random): CRC-32 of the key.
    static func partition(ofKey key: [UInt8], partitions: Int) -> Int {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in key {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return Int((crc ^ 0xFFFF_FFFF) % UInt32(partitions))
    }
}
