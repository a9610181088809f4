import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// The real `ingestd` replaying a file: what lands in `tweets` is exactly the canonical encoding of what
/// the decoder reads (the replay path encodes straight from the line's bytes, without building Posts).
@Suite("IngestDaemon: replay", .serialized)
struct IngestDaemonReplayTests {
    @Test("replay of v2, v1.1 (escaped) and canonical lines: one record per post, value = the decoded post's canonical JSON")
    func replayValuesAreCanonical() throws {
        var gen = PostGenerator(seed: 21, startMillis: 1_764_000_000_000, ratePerSecond: 20)
        var lines: [[UInt8]] = []
        for i in 0..<600 { lines.append(PostGenerator.encode(gen.next(), format: PostFormat.allCases[i % 3])) }
        // A repeated line: the second copy is a duplicate id, dropped and counted.
        lines.append(lines[5])
        var expected: [String: String] = [:]
        var decoder = PostDecoder(defaultSource: "replay")
        for line in lines.dropLast() {
            let posts = try decoder.decode(line)
            for p in posts { expected[p.id] = String(decoding: p.canonicalJSON(), as: UTF8.self) }
        }
        #expect(expected.count == 600)
        let file = TestSupport.tempDir("ingestd-replay").appendingPathComponent("mixed.jsonl")
        try Data(lines.map { $0 + [10] }.joined()).write(to: file)

        let broker = try BrokerProcess(topics: ["tweets:4", "tweets.dlq:1"])
        defer { broker.stop() }
        let spoolDir = TestSupport.tempDir("ingestd-spool")
        let ingestd = try IngestDaemonHarness.start(broker: broker, ["--source", "replay", "--file", file.path], spoolDir: spoolDir)
        defer { if ingestd.isRunning { ingestd.signal(SIGKILL) } }
        let status = ingestd.wait(timeout: 60)
        #expect(status == 0, "exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "posts") == 600, "\(ingestd.stderr)")

        let records = try IngestDaemonHarness.consume(broker, topic: "tweets", idle: "2s")
        #expect(records.count == 600)
        #expect(Set(records.map(\.key)) == Set(expected.keys))
        var mismatches = 0
        for r in records where expected[r.key] != r.value {
            mismatches += 1
            if mismatches <= 3 { Issue.record("\(r.key): \(r.value) != \(expected[r.key] ?? "nothing")") }
        }
        #expect(mismatches == 0)
        // The journal is empty after a clean stop: every post was acknowledged.
        let journal = try InflightJournal(directory: spoolDir.appendingPathComponent("inflight").path)
        #expect(journal.recovered.isEmpty)
    }
}
