import Foundation
import Logging
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// Inputs, processes and checks shared by the sink tests.
enum SinkFixture {
    static var checker: String { TestSupport.packageRoot.appendingPathComponent("tests/sink/check_table.py").path }

    /// Runs a binary to completion with stdout into `stdout` (a file) and returns (status, stderr).
    /// `stdinFile` is redirected by a shell (FileHandle.write into a pipe traps on EPIPE/EINTR).
    @discardableResult
    static func run(_ args: [String], binary: String = TestSupport.binary("hashtrend"), stdout: URL? = nil,
                    stdinFile: URL? = nil, timeout: TimeInterval = 120) throws -> (Int32?, String) {
        let p: ChildProcess
        if let stdinFile {
            p = try ChildProcess("/bin/sh", ["-c", "exec \"$0\" \"$@\" < \"$HT_STDIN\"", binary] + args,
                                 environment: ["HT_STDIN": stdinFile.path], stdoutFile: stdout)
        } else {
            p = try ChildProcess(binary, args, stdoutFile: stdout)
        }
        p.closeStdin()
        let status = p.wait(timeout: timeout)
        return (status, p.stderr)
    }

    /// Window records (`hashtrend trends` output) over `hashtrend generate` posts: returns the file.
    static func windowRecords(in dir: URL, posts: Int, rate: Double, window: String, slide: String, top: Int,
                              seed: UInt64 = 7) throws -> URL {
        let postsFile = dir.appendingPathComponent("posts.jsonl")
        let out = dir.appendingPathComponent("windows.jsonl")
        let (s1, e1) = try run(["generate", "--count", "\(posts)", "--seed", "\(seed)", "--rate", "\(rate)",
                                "--start", "2026-03-01T22:40:00Z"], stdout: postsFile)
        guard s1 == 0 else { throw TestFailure("generate failed: \(e1)") }
        let (s2, e2) = try run(["trends", "--window", window, "--slide", slide, "--top", "\(top)", postsFile.path], stdout: out)
        guard s2 == 0 else { throw TestFailure("trends failed: \(e2)") }
        return out
    }

    static func lines(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    struct Report {
        var ok: Bool
        var json: [String: Any]
        var raw: String
        func int(_ k: String) -> Int { json[k] as? Int ?? -1 }
        var mismatches: [String] { json["mismatches"] as? [String] ?? [raw] }
    }

    /// tests/sink/check_table.py: the table under `root` against the final windows of `expected`.
    static func check(root: URL, expected: URL, noTmp: Bool) throws -> Report {
        let p = try ChildProcess("/usr/bin/env", [TestSupport.python, checker, "--root", root.path, "--expected", expected.path]
                                 + (noTmp ? ["--no-tmp"] : []))
        p.closeStdin()
        let status = p.wait(timeout: 120)
        let raw = p.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let json = (try? JSONSerialization.jsonObject(with: Data(raw.utf8))) as? [String: Any] ?? [:]
        return Report(ok: status == 0 && !json.isEmpty, json: json, raw: raw + p.stderr)
    }

    /// Files of a local directory tree (relative path -> size and modification time), to see that a re-run changed nothing.
    static func snapshot(_ root: URL) -> [String: String] {
        var out: [String: String] = [:]
        guard let e = FileManager.default.enumerator(atPath: root.path) else { return out }
        while let rel = e.nextObject() as? String {
            let attrs = try? FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(rel).path)
            guard attrs?[.type] as? FileAttributeType == .typeRegular else { continue }
            out[rel] = "\(attrs?[.size] ?? 0) \((attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return out
    }

    static func temporaryFiles(_ root: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("_tmp").path)) ?? []).sorted()
    }

    /// The records to produce: every final window, and before every 7th an early update with other
    /// counts (the table must hold the final one only). Key = window end.
    static func producerRecords(_ windowLines: [String]) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        for (i, line) in windowLines.enumerated() {
            let w = try TrendWindow(json: Array(line.utf8))
            let key = Array(EventTime.format(millis: w.windowEndMillis).utf8)
            if i % 7 == 3 {
                var early = w
                early.final = false
                early.emittedAtMillis -= 1000
                if !early.top.isEmpty { early.top[0].count += 1 }
                out.append((key, early.json()))
            }
            out.append((key, Array(line.utf8)))
        }
        return out
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Produces window records to the embedded broker and remembers the last offset of each partition.
final class WindowProducer: @unchecked Sendable {
    private let producer: KafkaProducer
    private let lock = NSLock()
    private var last: [Int32: Int64] = [:]
    private var failed = 0
    let topic: String

    init(bootstrap: String, topic: String = "trends") throws {
        self.topic = topic
        let box = Box()
        producer = try KafkaProducer(config: KafkaConfig(["bootstrap.servers": bootstrap]), logger: Logger(label: "test.producer")) { r in
            box.note(r)
        }
        box.owner = self
    }

    private final class Box: @unchecked Sendable {
        weak var owner: WindowProducer?
        func note(_ r: DeliveryReport) { owner?.note(r) }
    }

    private func note(_ r: DeliveryReport) {
        lock.withLock {
            if r.error != nil { failed += 1 } else { last[r.partition] = max(last[r.partition] ?? -1, r.offset) }
        }
    }

    func send<C: Collection>(_ records: C) throws where C.Element == (key: [UInt8], value: [UInt8]) {
        for r in records {
            while true {
                do {
                    try producer.produce(topic: topic, key: r.key, value: r.value)
                    break
                } catch let e as KafkaError where e.isQueueFull {
                    Thread.sleep(forTimeInterval: 0.005)
                }
            }
        }
        try producer.flush(timeout: .seconds(60))
        if failedCount > 0 { throw TestFailure("\(failedCount) record(s) not delivered") }
    }

    var failedCount: Int { lock.withLock { failed } }
    var lastOffsets: [Int32: Int64] { lock.withLock { last } }

    func close() { producer.close(timeout: .seconds(10)) }
}

/// sinkd as a child process.
enum Sinkd {
    static func start(bootstrap: String, root: String, group: String, extra: [String] = []) throws -> ChildProcess {
        let p = try ChildProcess(TestSupport.binary("sinkd"),
                                 ["--brokers", bootstrap, "--root", root, "--group", group, "--flush-rows", "400",
                                  "--rotate-interval", "1s", "--status-interval", "1s", "--log-level", "info",
                                  "--kafka", "session.timeout.ms=6000"] + extra,
                                 environment: ["NOTIFY_SOCKET": "", "HASHTREND_CONFIG": ""])
        p.closeStdin()
        return p
    }

    /// Waits until the committed files of every partition reach the last produced offset.
    static func waitCaughtUp(_ target: any TableTarget, _ last: [Int32: Int64], timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = try? TrendsTableRecovery.recover(target: target, partitions: Set<Int32>()),
               last.allSatisfy({ p, off in (latest(r, p) ?? -1) >= off }) {
                return true
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
        return false
    }

    private static func latest(_ r: TrendsRecovery, _ p: Int32) -> Int64? {
        r.committedFiles.filter { $0.partition == p }.map(\.endOffset).max()
    }
}
