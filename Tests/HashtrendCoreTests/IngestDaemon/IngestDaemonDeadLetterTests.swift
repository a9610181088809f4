import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// The real `ingestd --source replay` with lines it cannot use: each goes to the dead-letter topic with
/// its reason in the `hashtrend.error` header; good lines around them still reach `tweets`.
@Suite("IngestDaemon: dead letters", .serialized)
struct IngestDaemonDeadLetterTests {
    static func canonical(_ id: String, _ text: String) -> String {
        #"{"v":1,"id":"\#(id)","created_at":"2026-11-25T10:00:00.000Z","text":"\#(text)","lang":"en","author_id":"9","is_repost":false}"#
    }

    @Test("malformed JSON, invalid UTF-8, a line over --max-line-bytes, a missing field: each dead-lettered with its reason")
    func badLinesGoToTheDeadLetterTopic() throws {
        let t0 = Date()
        let malformed = Array(#"{"v":1,"id":"b2","created_at":"2026-11-25T10:00:00.000Z","text":"unterminated"#.utf8)
        var invalidUTF8 = Array(#"{"v":1,"id":"b3","created_at":"2026-11-25T10:00:00.000Z","text":"bad "#.utf8)
        invalidUTF8 += [0xFF, 0xFE, 0xC3]
        invalidUTF8 += Array(#" bytes"}"#.utf8)
        let long = Array(Self.canonical("b4", String(repeating: "a", count: 6000)).utf8)
        let missing = Array(#"{"v":1,"id":"b6","text":"no time"}"#.utf8)
        // Longer than the reader's 1 MiB block too: the reader skips it to its end instead of buffering it.
        let huge = Array(Self.canonical("b8", String(repeating: "z", count: 1_200_000)).utf8)
        let lines: [[UInt8]] = [
            Array(Self.canonical("b1", "first good #ok").utf8), malformed, invalidUTF8, long,
            Array(Self.canonical("b5", "second good").utf8), missing, huge, Array(Self.canonical("b7", "third good").utf8),
        ]
        let file = TestSupport.tempDir("ingestd-replay").appendingPathComponent("bad.jsonl")
        try Data(lines.map { $0 + [10] }.joined()).write(to: file)

        let broker = try BrokerProcess(topics: ["tweets:2", "tweets.dlq:1"])
        defer { broker.stop() }
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "replay", "--file", file.path, "--max-line-bytes", "4KiB",
        ], spoolDir: TestSupport.tempDir("ingestd-spool"))
        defer { if ingestd.isRunning { ingestd.signal(SIGKILL) } }
        let status = ingestd.wait(timeout: 60)
        #expect(status == 0, "exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "posts") == 3, "\(ingestd.stderr)")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "dead_lettered") == 5, "\(ingestd.stderr)")

        let good = try IngestDaemonHarness.consume(broker, topic: "tweets", idle: "2s")
        #expect(good.map(\.key).sorted() == ["b1", "b5", "b7"])
        for r in good { #expect(IngestDaemonHarness.json(r.value)?["source"] as? String == "replay") }

        let dead = try IngestDaemonHarness.readDeadLetters(broker, topic: "tweets.dlq", idle: 2)
        try #require(dead.count == 5, "dead letters: \(dead.map { $0.error ?? "-" })")
        let reasons = dead.map { $0.error ?? "" }
        #expect(reasons[0].hasPrefix("malformed_json"), "\(reasons[0])")
        #expect(reasons[1].hasPrefix("invalid_utf8"), "\(reasons[1])")
        #expect(reasons[2].hasPrefix("too_large"), "\(reasons[2])")
        #expect(reasons[2].contains("\(long.count)"), "the reason names the length: \(reasons[2])")
        #expect(reasons[3].hasPrefix("missing_field"), "\(reasons[3])")
        #expect(reasons[3].contains("created_at"), "\(reasons[3])")
        // The bytes themselves, exactly as read (invalid UTF-8 included), for the lines that fit.
        #expect(dead[0].value == malformed)
        #expect(dead[1].value == invalidUTF8)
        #expect(dead[3].value == missing)
        #expect(dead[2].value == long, "a long line that fits the reader's block is kept whole (\(dead[2].value.count) bytes)")
        #expect(reasons[4].hasPrefix("too_large"), "\(reasons[4])")
        #expect(reasons[4].contains("4096"), "the reason names the limit: \(reasons[4])")
        #expect(dead[4].value.count <= 4096, "a line past the reader's block is not buffered whole (\(dead[4].value.count) bytes)")
        // Where each came from: file and line number.
        #expect(dead.map { $0.source ?? "" } == [2, 3, 4, 6, 7].map { "\(file.path):\($0)" })
        print("dead-letter test: \(good.count) posts, \(dead.count) dead letters (\(reasons.map { $0.prefix(while: { $0 != ":" }) })), too_large values \(dead[2].value.count) and \(dead[4].value.count) bytes, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }

    @Test("dead letters produced while the broker is down longer than message.timeout.ms still reach the dead-letter topic")
    func deadLettersSurviveAnOutage() throws {
        let t0 = Date()
        var lines: [String] = []
        for i in 1...20 { lines.append(Self.canonical("g\(i)", "good \(i)")) }
        for i in 1...10 { lines.append(#"{"v":1,"id":"bad\#(i)","created_at":"#) }
        for i in 21...40 { lines.append(Self.canonical("g\(i)", "good \(i)")) }
        let file = TestSupport.tempDir("ingestd-replay").appendingPathComponent("outage.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let broker = try BrokerProcess(topics: ["tweets:2", "tweets.dlq:1"])
        defer { broker.stop() }
        // 10 lines a second: the bad lines come 2-3 s after the broker went down; deliveries time out after 3 s.
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "replay", "--file", file.path, "--rate", "10", "--kafka", "message.timeout.ms=3000",
        ], spoolDir: TestSupport.tempDir("ingestd-spool"))
        defer { if ingestd.isRunning { ingestd.signal(SIGKILL) } }
        #expect(ingestd.waitForStderr(containing: "ingestd started", timeout: 20), "\(ingestd.stderr)")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(broker.command("down 1") == "ok")
        Thread.sleep(forTimeInterval: 9)
        #expect(broker.command("up 1") == "ok")
        let status = ingestd.wait(timeout: 60)
        #expect(status == 0, "exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "dead_lettered") == 10, "\(ingestd.stderr)")
        let good = try IngestDaemonHarness.consume(broker, topic: "tweets", idle: "2s")
        #expect(good.map(\.key).sorted() == (1...40).map { "g\($0)" }.sorted(), "\(good.count) posts")
        let dead = try IngestDaemonHarness.readDeadLetters(broker, topic: "tweets.dlq", idle: 2)
        #expect(dead.count == 10, "\(dead.count) of 10 dead letters reached tweets.dlq")
        #expect(dead.allSatisfy { ($0.error ?? "").hasPrefix("malformed_json") })
        print("dead letters through an outage: \(good.count) posts, \(dead.count) dead letters, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }
}
