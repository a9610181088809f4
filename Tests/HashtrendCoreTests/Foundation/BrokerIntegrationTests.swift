import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// Runs `hashtrend broker` and the produce/consume tools as separate processes, as operators do.
@Suite(.serialized) struct BrokerIntegrationTests {
    static let fastGroup = ["--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500"]

    /// `partition \t offset \t key \t value` lines from `hashtrend consume --format full`.
    struct Record: Hashable { let partition: Int; let offset: Int64; let key: String; let value: String }

    static func records(_ text: String) -> [Record] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 4, let p = Int(f[0]), let o = Int64(f[1]) else { return nil }
            return Record(partition: p, offset: o, key: String(f[2]), value: String(f[3]))
        }
    }

    @Test func brokerStartsFastAndServesMetadataAndControlCommands() throws {
        let t0 = Date()
        let broker = try BrokerProcess(nodes: 3, topics: ["tweets:32", "trends:1"])
        let startup = Date().timeIntervalSince(t0)
        defer { broker.stop() }
        #expect(startup < 1.0, "broker took \(startup)s to print its address")
        let topics = try KafkaAdmin.listTopics(config: KafkaConfig(["bootstrap.servers": broker.bootstrap]), timeout: .seconds(10))
        #expect(topics["tweets"] == 32)
        #expect(topics["trends"] == 1)
        #expect(broker.command("down 2") == "ok")
        #expect(broker.command("up 2") == "ok")
        #expect(broker.command("rtt 1 50ms") == "ok")
        #expect(broker.command("errors produce NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT") == "ok")
        #expect(broker.command("clear produce") == "ok")
        #expect(broker.command("topic extra 4") == "ok")
        #expect(broker.command("bootstrap") == "ok \(broker.bootstrap)")
        #expect(broker.command("down 9").contains("broker id '9' is not between 1 and 3"))
        #expect(broker.command("errors produce NO_SUCH_ERROR").hasPrefix("error unknown error name"))
        #expect(broker.command("fly away").hasPrefix("error unknown command"))
        let after = try KafkaAdmin.listTopics(config: KafkaConfig(["bootstrap.servers": broker.bootstrap]), timeout: .seconds(10))
        #expect(after["extra"] == 4)
    }

    @Test func kcatListsTheBrokersTopics() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/kcat") else {
            Issue.record("kcat is not installed (make deps installs it)")
            return
        }
        let dir = TestSupport.tempDir()
        let file = dir.appendingPathComponent("bootstrap").path
        let broker = try ChildProcess(TestSupport.binary("hashtrend"), ["broker", "--topic", "tweets:8", "--bootstrap-file", file])
        defer { broker.signal(SIGTERM); broker.wait(timeout: 10) }
        _ = broker.waitForStdoutLines(1, timeout: 10)
        let addr = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let kcat = try ChildProcess("/usr/bin/kcat", ["-b", addr, "-L"])
        #expect(kcat.wait(timeout: 20) == 0)
        #expect(kcat.stdout.contains("topic \"tweets\" with 8 partitions"))
        broker.signal(SIGTERM)
        #expect(broker.wait(timeout: 10) == 0)
        #expect(!FileManager.default.fileExists(atPath: file), "the bootstrap file is removed on exit")
    }

    /// 100,000 records across 8 partitions; two consumer processes in one group share them; one leaves
    /// mid-stream and the other takes over its partitions: every record seen exactly once.
    @Test(arguments: ["range", "cooperative-sticky"])
    func twoConsumersInOneGroupShareAndTakeOver(strategy: String) throws {
        let broker = try BrokerProcess(topics: ["it:8"])
        defer { broker.stop() }
        let dir = TestSupport.tempDir()
        let ht = TestSupport.binary("hashtrend")
        let common = ["consume", "--brokers", broker.bootstrap, "--topic", "it", "--group", "g", "--format", "full",
                      "--kafka", "partition.assignment.strategy=\(strategy)"] + Self.fastGroup
        let a = try ChildProcess(ht, common + ["--max", "20000", "--idle-exit", "60s"], stdoutFile: dir.appendingPathComponent("a.out"))
        let b = try ChildProcess(ht, common + ["--max", "80000", "--idle-exit", "120s"], stdoutFile: dir.appendingPathComponent("b.out"))
        defer { a.signal(SIGKILL); b.signal(SIGKILL) }
        #expect(a.waitForStderr(containing: "partitions assigned", timeout: 30))
        #expect(b.waitForStderr(containing: "partitions assigned", timeout: 30))

        // First half while both are members; A leaves after 20,000 records.
        func produce(_ range: Range<Int>) throws {
            let input = dir.appendingPathComponent("in-\(range.lowerBound).txt")
            try range.map { "k\($0)\t\($0)" }.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
            let p = try ChildProcess(ht, ["produce", "--brokers", broker.bootstrap, "--topic", "it", "--key-separator", "\t", input.path])
            #expect(p.wait(timeout: 60) == 0, "produce failed: \(p.stderr)")
        }
        let assignedBefore = b.stderr.components(separatedBy: "partitions assigned").count - 1
        try produce(0..<50_000)
        #expect(a.wait(timeout: 60) == 0, "consumer A: \(a.stderr)")
        // B must take over A's partitions before the second half arrives.
        // B is assigned A's partitions (all eight again under eager, the missing four under cooperative).
        #expect(b.waitForStderr(containing: "partitions assigned", count: assignedBefore + 1, timeout: 45), "B never took over: \(b.stderr)")
        #expect(b.stderr.contains("protocol=\(strategy == "range" ? "eager" : "cooperative")"))
        try produce(50_000..<100_000)
        #expect(b.wait(timeout: 120) == 0, "consumer B: \(b.stderr)")
        let bAssignments = b.stderr.components(separatedBy: "partitions assigned").count - 1
        #expect(bAssignments >= 2, "B: \(b.stderr)")

        let ra = Self.records(try String(contentsOf: dir.appendingPathComponent("a.out"), encoding: .utf8))
        let rb = Self.records(try String(contentsOf: dir.appendingPathComponent("b.out"), encoding: .utf8))
        #expect(ra.count == 20_000)
        #expect(Set(ra.map(\.partition)).count < 8, "A held only part of the partitions")
        #expect(!rb.isEmpty)
        let all = ra + rb
        let values = all.map { Int($0.value)! }
        let distinct = Set(values)
        #expect(values.count == 100_000, "seen \(values.count) records")
        #expect(distinct.count == values.count, "\(values.count - distinct.count) duplicated records")
        let lost = Set(0..<100_000).subtracting(distinct).count
        #expect(lost == 0, "lost records")
        // Same key, same partition; offsets strictly increasing per partition within each consumer.
        for r in [ra, rb] {
            var last: [Int: Int64] = [:]
            for rec in r {
                #expect(rec.key == "k\(rec.value)")
                if let l = last[rec.partition] { #expect(rec.offset > l) }
                last[rec.partition] = rec.offset
            }
        }
    }

    /// The only broker goes down mid-production and injects request errors: the idempotent producer
    /// delivers everything once, in order per partition.
    @Test func idempotentProducerSurvivesBrokerDown() throws {
        let broker = try BrokerProcess(topics: ["seq:4"])
        defer { broker.stop() }
        let ht = TestSupport.binary("hashtrend")
        let producer = try ChildProcess(ht, ["produce", "--brokers", broker.bootstrap, "--topic", "seq", "--key-separator", "\t",
                                             "--kafka", "linger.ms=1", "--kafka", "reconnect.backoff.max.ms=500"])
        let total = 30_000
        func feed(_ r: Range<Int>) { producer.write(r.map { "k\($0 % 64)\t\($0)\n" }.joined()) }
        feed(0..<10_000)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(broker.command("errors produce NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT NOT_ENOUGH_REPLICAS") == "ok")
        feed(10_000..<15_000)
        #expect(broker.command("down 1") == "ok")
        feed(15_000..<25_000)
        Thread.sleep(forTimeInterval: 3)
        #expect(broker.command("up 1") == "ok")
        feed(25_000..<total)
        producer.closeStdin()
        #expect(producer.wait(timeout: 120) == 0, "producer: \(producer.stderr)")

        let dir = TestSupport.tempDir()
        let c = try ChildProcess(ht, ["consume", "--brokers", broker.bootstrap, "--topic", "seq", "--format", "full", "--idle-exit", "3s"],
                                 stdoutFile: dir.appendingPathComponent("out"))
        #expect(c.wait(timeout: 60) == 0)
        let recs = Self.records(try String(contentsOf: dir.appendingPathComponent("out"), encoding: .utf8))
        #expect(recs.count == total, "got \(recs.count) records for \(total) produced")
        #expect(Set(recs.map(\.value)).count == total, "duplicates")
        // Per key, values arrive in production order (each key lives in one partition).
        var lastByKey: [String: Int] = [:]
        for r in recs.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            let v = Int(r.value)!
            if let l = lastByKey[r.key] { #expect(v > l, "key \(r.key): \(v) after \(l)") }
            lastByKey[r.key] = v
        }
    }
}
