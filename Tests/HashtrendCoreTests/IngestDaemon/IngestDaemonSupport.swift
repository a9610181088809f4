import Foundation
import Logging
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for the tests that run the real `ingestd` binary against the embedded broker.
enum IngestDaemonHarness {
    /// librdkafka settings that keep the outage tests short: reconnect quickly once the broker is back.
    static let fastKafka = ["--kafka", "reconnect.backoff.ms=100", "--kafka", "reconnect.backoff.max.ms=500",
                            "--kafka", "linger.ms=5"]

    /// Starts ingestd with its spool in `dir` unless the arguments name one; stdout is not used.
    static func start(broker: BrokerProcess, _ args: [String], spoolDir: URL) throws -> ChildProcess {
        var a = ["--brokers", broker.bootstrap, "--spool-dir", spoolDir.path, "--log-level", "info"] + fastKafka + args
        if !args.contains("--shutdown-timeout") { a += ["--shutdown-timeout", "30s"] }
        return try ChildProcess(TestSupport.binary("ingestd"), a)
    }

    /// One `partition \t offset \t key \t value` line of `hashtrend consume --format full`.
    struct Record: Hashable {
        let partition: Int
        let offset: Int64
        let key: String
        let value: String
    }

    /// Reads a whole topic with `hashtrend consume --format full` (no group: from the beginning),
    /// stopping after `idle` without records.
    static func consume(_ broker: BrokerProcess, topic: String, idle: String = "3s") throws -> [Record] {
        let dir = TestSupport.tempDir("ingestd-consume")
        let out = dir.appendingPathComponent("out")
        let c = try ChildProcess(TestSupport.binary("hashtrend"),
                                 ["consume", "--brokers", broker.bootstrap, "--topic", topic, "--format", "full", "--idle-exit", idle],
                                 stdoutFile: out)
        let status = c.wait(timeout: 90)
        guard status == 0 else { throw HarnessError("consume \(topic) exited \(String(describing: status)): \(c.stderr)") }
        let text = try String(contentsOf: out, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false)
            guard f.count == 4, let p = Int(f[0]), let o = Int64(f[1]) else { return nil }
            return Record(partition: p, offset: o, key: String(f[2]), value: String(f[3]))
        }
    }

    /// A dead-letter record read in-process, with the headers `hashtrend consume` does not print.
    struct DeadLetter {
        let value: [UInt8]
        let error: String?
        let source: String?
        let truncated: String?
    }

    static func readDeadLetters(_ broker: BrokerProcess, topic: String, idle: TimeInterval = 3) throws -> [DeadLetter] {
        let config = KafkaConfig(["bootstrap.servers": broker.bootstrap, "group.id": "dlq-reader-\(UUID().uuidString.prefix(8))"])
        let consumer = try KafkaConsumer(config: config, logger: Logger(label: "test.dlq"))
        defer { consumer.close() }
        guard let n = try consumer.partitionCount(topic: topic, timeout: .seconds(10)) else { throw HarnessError("no topic \(topic)") }
        try consumer.assign((0..<n).map { PartitionOffset(TopicPartition(topic, Int32($0)), offset: KafkaOffset.beginning) })
        var out: [DeadLetter] = []
        var last = Date()
        while Date().timeIntervalSince(last) < idle {
            guard let m = consumer.poll(timeoutMillis: 100) else { continue }
            if m.error != nil { continue }
            last = Date()
            func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }
            out.append(DeadLetter(value: m.valueBytes, error: text(m.header("hashtrend.error")),
                                  source: text(m.header("hashtrend.source")), truncated: text(m.header("hashtrend.truncated"))))
        }
        return out
    }

    /// `key=value` of ingestd's final line (`ingestd finished delivered=… posts=…`).
    static func finalFigure(_ stderr: String, _ name: String) -> Int? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.contains("ingestd finished") }) else { return nil }
        for field in line.split(separator: " ") where field.hasPrefix(name + "=") {
            return Int(field.dropFirst(name.count + 1))
        }
        return nil
    }

    /// The synthetic generator's emission index is the low 22 bits of its snowflake-style id.
    static func syntheticIndex(_ id: String) -> Int? { UInt64(id).map { Int($0 & 0x3F_FFFF) } }

    /// Bytes in the spool's segment files beyond their 16-byte headers (records written, committed or not).
    static func spoolRecordBytes(_ dir: URL) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".seg") }.reduce(0) { sum, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            return sum + max(0, size - 16)
        }
    }

    static func wait(timeout: TimeInterval, until: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if until() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return until()
    }

    /// The canonical value as a dictionary.
    static func json(_ value: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any]
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
