import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// Bad records mixed with good posts through the broker: trendd keeps counting, and every bad record
/// lands on tweets.dlq with its reason in the hashtrend.error header.
@Suite(.serialized) struct TrendDeadLetterTests {
    @Test func badRecordsAreDeadLetteredAndGoodPostsCounted() throws {
        let t0 = Date()
        let settings = TrendTestKit.Settings()
        let dir = TestSupport.tempDir("trend-dlq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.jsonl")
        // One input partition, so the oracle's file order is trendd's order (late drops included).
        try TrendTestKit.generate(good, count: 6_000, seed: 99, rate: 50, disorder: "3s", lateFraction: 0.01, lateBy: "5s")
        let goodLines = try String(contentsOf: good, encoding: .utf8).split(separator: "\n").map(String.init)
        let (_, maxEvent, _) = try TrendTestKit.keyedLines(good, to: dir.appendingPathComponent("unused.tsv"))

        // Bad records: key, value bytes, the reason prefix expected in the header.
        let createdAt = "2026-01-01T00:00:30.000Z"
        let bad: [(key: String, value: [UInt8], reason: String)] = [
            ("bad-json", Array(##"{"v":1,"id":"1","created_at":"\##(createdAt)","text":"#broken"##.utf8), "malformed_json"),
            ("bad-utf8", Array(##"{"v":1,"id":"2","created_at":"\##(createdAt)","text":"caf"##.utf8) + [0xC3, 0x28, 0xFF] + Array(##" #x","hashtags":["x"]}"##.utf8), "invalid_utf8"),
            ("no-time", Array(##"{"v":1,"id":"3","text":"#notime","lang":"en","author_id":"1","source":"synthetic","is_repost":false,"hashtags":["notime"]}"##.utf8), "missing_field: created_at"),
            ("bad-time", Array(##"{"v":1,"id":"4","created_at":"yesterday","text":"#t","hashtags":["t"]}"##.utf8), "bad_timestamp"),
        ]
        // Lines for `produce --key-separator`: bad records spread through the good ones, in two files
        // around the 10 MB record, which needs its own producer settings.
        func keyed(_ lines: ArraySlice<String>) -> [UInt8] {
            var out: [UInt8] = []
            for l in lines {
                let id = l.range(of: #""id":""#).map { l[$0.upperBound...].prefix { $0 != "\"" } } ?? ""
                out += Array(id.utf8) + [9] + Array(l.utf8) + [10]
            }
            return out
        }
        var first = keyed(goodLines[0..<1500])
        first += Array(bad[0].key.utf8) + [9] + bad[0].value + [10]
        first += keyed(goodLines[1500..<2500])
        first += Array(bad[1].key.utf8) + [9] + bad[1].value + [10]
        first += keyed(goodLines[2500..<3000])
        var second = keyed(goodLines[3000..<4000])
        second += Array(bad[2].key.utf8) + [9] + bad[2].value + [10]
        second += keyed(goodLines[4000..<5000])
        second += Array(bad[3].key.utf8) + [9] + bad[3].value + [10]
        second += keyed(goodLines[5000...])
        let f1 = dir.appendingPathComponent("first.tsv"), f2 = dir.appendingPathComponent("second.tsv"), big = dir.appendingPathComponent("big.tsv")
        try Data(first).write(to: f1)
        try Data(second).write(to: f2)
        // A 10 MB post: valid JSON, a text of 10,000,000 bytes.
        var huge = Array("huge\t".utf8) + Array(##"{"v":1,"id":"5","created_at":"\##(createdAt)","text":""##.utf8)
        huge += [UInt8](repeating: UInt8(ascii: "a"), count: 10_000_000)
        huge += Array(##" #huge","hashtags":["huge"]}"##.utf8) + [10]
        try Data(huge).write(to: big)

        let broker = try BrokerProcess(topics: ["tweets:1", "trends:1", "tweets.dlq:1"])
        defer { broker.stop() }
        try TrendTestKit.produce(broker.bootstrap, topic: "tweets", file: f1)
        let bigProducer = try ChildProcess(TrendTestKit.ht, ["produce", "--brokers", broker.bootstrap, "--topic", "tweets", "--key-separator", "\t",
                                                             "--kafka", "message.max.bytes=20000000", big.path])
        let bigStatus = bigProducer.wait(timeout: 120)
        let bigAccepted = bigStatus == 0
        if !bigAccepted {
            // The broker refused it: the producer must say so and fail, not hang or crash.
            #expect(bigStatus == 1 || bigStatus == 64, "produce of the 10 MB record ended with \(String(describing: bigStatus)): \(bigProducer.stderr.suffix(1000))")
            #expect(bigProducer.stderr.contains("failed"), "no reason given: \(bigProducer.stderr.suffix(1000))")
        }
        try TrendTestKit.produce(broker.bootstrap, topic: "tweets", file: f2)

        let trendd = try TrendTestKit.startTrendd(broker.bootstrap, group: "dlq-test", output: "trends", settings)

        defer { if trendd.isRunning { trendd.signal(SIGKILL); trendd.wait(timeout: 10) } }
        let lastEnd = (maxEvent - 5_000) / 10_000 * 10_000
        let done = try TrendDaemonCrashTests.waitForFinal(broker.bootstrap, "trends", end: lastEnd, timeout: 90, while: trendd)
        trendd.signal(SIGTERM)
        let status = trendd.wait(timeout: 20)
        #expect(done, "trendd never published \(EventTime.format(millis: lastEnd)): \(trendd.stderr.suffix(2000))")
        #expect(status == 0, "trendd: \(trendd.stderr.suffix(2000))")

        // Dead letters: one per bad record, reason in the header, the original key, and the source position.
        let dlq = try TrendTestKit.readTopic(broker.bootstrap, "tweets.dlq", partitions: 1,
                                             headerNames: ["hashtrend.error", "hashtrend.source", "hashtrend.truncated"])
        var expected = bad.map { ($0.key, $0.reason) }
        if bigAccepted { expected.append(("huge", "too_large")) }
        #expect(dlq.count == expected.count, "dead letters: \(dlq.map { String(decoding: $0.key, as: UTF8.self) })")
        for (key, reason) in expected {
            guard let r = dlq.first(where: { String(decoding: $0.key, as: UTF8.self) == key }) else {
                Issue.record("no dead letter for \(key)")
                continue
            }
            let header = r.headers["hashtrend.error"].map { String(decoding: $0, as: UTF8.self) } ?? "<none>"
            #expect(header.hasPrefix(reason), "\(key): hashtrend.error = \(header)")
            #expect(r.headers["hashtrend.source"].map { String(decoding: $0, as: UTF8.self).hasPrefix("tweets/0/") } == true)
            if key == "huge" {
                #expect(r.value.count <= 256 * 1024, "the dead letter of a 10 MB record is \(r.value.count) bytes")
                #expect(r.headers["hashtrend.truncated"].map { String(decoding: $0, as: UTF8.self) } == "\(huge.count - 6)")
            } else {
                #expect(r.value == bad.first { $0.key == key }!.value, "\(key): the dead letter is not the original bytes")
            }
        }

        // Good posts are all counted: windows equal the oracle over the good posts alone.
        let f = try TrendTestKit.finals(TrendTestKit.readTopic(broker.bootstrap, "trends", partitions: 1))
        #expect(f.conflicts.isEmpty)
        let oracle = try TrendTestKit.oracle(good, settings)
        let windows = f.windows.values.sorted { $0.windowEndMillis < $1.windowEndMillis }
        let problems = TrendTestKit.compare(windows, oracle.filter { $0.key <= lastEnd })
        #expect(problems.isEmpty, "\(problems.count) difference(s) from the oracle:\n\(problems.joined(separator: "\n"))")
        #expect(windows.count >= 10)
        print("trendd dead letters: \(goodLines.count) good posts, \(dlq.count) dead letters (10 MB record \(bigAccepted ? "accepted by the broker" : "refused by the broker")), \(windows.count) windows, \(String(format: "%.1f", Date().timeIntervalSince(t0)))s")
    }
}
