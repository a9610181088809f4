import Foundation
import Logging
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// The real `ingestd` while the embedded broker goes away: posts go to the disk spool and come back.
@Suite("IngestDaemon: broker outage and spool", .serialized)
struct IngestDaemonOutageTests {
    /// Reads every record of a spool directory (its owner must be gone: the spool is flock'd).
    static func spooled(_ dir: URL) throws -> (count: Int, keys: [String]) {
        let spool = try Spool(directory: dir.path, maxBytes: 1 << 30)
        defer { try? spool.close() }
        var keys: [String] = []
        var after: UInt64? = nil
        while true {
            let batch = try spool.peek(max: 5000, after: after)
            guard let last = batch.last else { break }
            keys += batch.map { String(decoding: $0.key, as: UTF8.self) }
            after = last.seq
        }
        return (spool.count, keys)
    }

    @Test("broker down for 30 s during a synthetic run: posts spooled, then drained; every generated post exactly once")
    func outageSpoolsAndDrains() throws {
        let t0 = Date()
        // 200 posts/s: 3 s before the outage, 30 s down, 3 s after (the issue's 30 s outage; a lower rate
        // than the shorter tests keeps the post count, and so the drain, small).
        let rate = 200, outage: TimeInterval = 30
        let total = rate * 36
        let broker = try BrokerProcess(topics: ["tweets:4", "tweets.dlq:1"])
        defer { broker.stop() }
        let spoolDir = TestSupport.tempDir("ingestd-spool")
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "synthetic", "--rate", "\(rate)", "--count", "\(total)", "--seed", "7",
        ], spoolDir: spoolDir)
        defer { if ingestd.isRunning { ingestd.signal(SIGKILL) } }
        #expect(ingestd.waitForStderr(containing: "ingestd started", timeout: 20), "\(ingestd.stderr)")
        Thread.sleep(forTimeInterval: 3)
        #expect(broker.command("down 1") == "ok")
        let downAt = Date()
        let spooling = IngestDaemonHarness.wait(timeout: 10) { IngestDaemonHarness.spoolRecordBytes(spoolDir) > 0 }
        #expect(spooling, "nothing reached the spool while the broker was down: \(ingestd.stderr)")
        Thread.sleep(forTimeInterval: max(0, outage - Date().timeIntervalSince(downAt)))
        let spooledBytesAtUp = IngestDaemonHarness.spoolRecordBytes(spoolDir)
        #expect(broker.command("up 1") == "ok")
        let status = ingestd.wait(timeout: 120)
        #expect(status == 0, "ingestd exit \(String(describing: status)): \(ingestd.stderr)")
        let err = ingestd.stderr
        #expect(err.contains("Kafka unreachable: spooling posts to disk"), "\(err)")
        #expect(err.contains("spool drained; producing directly again"), "\(err)")
        #expect(IngestDaemonHarness.finalFigure(err, "posts") == total, "\(err)")
        #expect(!err.contains("not acknowledged at shutdown"))

        let records = try IngestDaemonHarness.consume(broker, topic: "tweets")
        let ids = records.map(\.key)
        let distinct = Set(ids)
        let indices = Set(ids.compactMap(IngestDaemonHarness.syntheticIndex))
        #expect(records.count == total, "\(records.count) records for \(total) posts")
        #expect(distinct.count == ids.count, "\(ids.count - distinct.count) duplicated post ids")
        #expect(indices == Set(0..<total), "missing indices: \(Set(0..<total).subtracting(indices).sorted().prefix(20))")
        for r in records.prefix(50) {
            let obj = IngestDaemonHarness.json(r.value)
            #expect(obj?["id"] as? String == r.key)
            #expect(obj?["source"] as? String == "synthetic")
        }
        let after = try Self.spooled(spoolDir)
        #expect(after.count == 0, "spool not empty after the drain")
        let drainedLines = err.split(separator: "\n").filter { $0.contains("drained ") && $0.contains("spooled post(s)") }
        let drained = drainedLines.compactMap { line -> Int? in
            guard let r = line.range(of: "drained ") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }.reduce(0, +)
        // 30 s down at 200 posts/s: the source keeps producing (to the spool) through the outage, rather
        // than stalling in the drain probe and catching up afterwards (it did: 822 of ~3000 before the fix).
        #expect(drained >= Int(outage) * rate * 2 / 3, "only \(drained) posts spooled during a \(Int(outage)) s outage at \(rate) posts/s")
        for line in err.split(separator: "\n") where line.contains("spool") || line.contains("unreachable") || line.contains("finished") {
            print("  ingestd: \(line)")
        }
        print("outage test (\(Int(outage)) s): broker down at \(EventTime.format(millis: Int64(downAt.timeIntervalSince1970 * 1000))), \(total) posts, \(drained) spooled and drained (\(spooledBytesAtUp) spool bytes at up), \(records.count) in Kafka, \(distinct.count) distinct, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }

    /// What a killed ingestd had accepted, read from its files: the spool and the in-flight journal.
    static func accepted(_ dir: URL) throws -> (spooled: [String], inFlight: [String]) {
        let spooledKeys = try spooled(dir).keys
        let journal = try InflightJournal(directory: dir.appendingPathComponent("inflight").path)
        return (spooledKeys, journal.recovered.map { String(decoding: $0.key, as: UTF8.self) })
    }

    /// Restarts ingestd on the spool with nothing new to send, and waits until it drained everything.
    static func restartAndDrain(_ broker: BrokerProcess, spoolDir: URL, expectSpooled n: Int, inFlight j: Int) throws {
        let empty = TestSupport.tempDir("ingestd-replay").appendingPathComponent("empty.jsonl")
        try Data().write(to: empty)
        let second = try IngestDaemonHarness.start(broker: broker, ["--source", "replay", "--file", empty.path], spoolDir: spoolDir)
        defer { if second.isRunning { second.signal(SIGKILL) } }
        let status = second.wait(timeout: 60)
        #expect(status == 0, "restart exit \(String(describing: status)): \(second.stderr)")
        if j > 0 {
            #expect(second.stderr.contains("in-flight journal: \(j) post(s) an earlier run handed to Kafka without an acknowledgement"), "\(second.stderr)")
        }
        if n + j > 0 {
            #expect(second.stderr.contains("spool holds \(n + j) post(s) from an earlier run"), "\(second.stderr)")
            #expect(second.stderr.contains("spool drained; producing directly again"), "\(second.stderr)")
        }
        let after = try spooled(spoolDir)
        #expect(after.count == 0, "spool not empty after the restart drained it")
        let again = try InflightJournal(directory: spoolDir.appendingPathComponent("inflight").path)
        #expect(again.recovered.isEmpty, "the journal still holds \(again.recovered.count) unacknowledged post(s) after a clean stop")
    }

    @Test("SIGKILL while spooling, broker back, restart on the same spool: no accepted post lost, duplicates only from the journal")
    func sigkillWhileSpooling() throws {
        let t0 = Date()
        let broker = try BrokerProcess(topics: ["tweets:4", "tweets.dlq:1"])
        defer { broker.stop() }
        let spoolDir = TestSupport.tempDir("ingestd-spool")
        let first = try IngestDaemonHarness.start(broker: broker, [
            "--source", "synthetic", "--rate", "300", "--seed", "11",
        ], spoolDir: spoolDir)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        #expect(first.waitForStderr(containing: "ingestd started", timeout: 20), "\(first.stderr)")
        Thread.sleep(forTimeInterval: 2)
        #expect(broker.command("down 1") == "ok")
        let spooling = IngestDaemonHarness.wait(timeout: 15) { IngestDaemonHarness.spoolRecordBytes(spoolDir) > 0 }
        try #require(spooling, "nothing reached the spool: \(first.stderr)")
        Thread.sleep(forTimeInterval: 2.5)
        let killedAt = Date()
        first.signal(SIGKILL)
        #expect(first.wait(timeout: 10) == nil || first.process.terminationReason == .uncaughtSignal)

        // What the killed ingestd had accepted: written to the spool, or to the journal before librdkafka.
        let before = try Self.accepted(spoolDir)
        try #require(!before.spooled.isEmpty)
        #expect(Set(before.spooled).count == before.spooled.count, "the spool holds each post once")

        #expect(broker.command("up 1") == "ok")
        try Self.restartAndDrain(broker, spoolDir: spoolDir, expectSpooled: before.spooled.count, inFlight: before.inFlight.count)

        let records = try IngestDaemonHarness.consume(broker, topic: "tweets")
        let ids = records.map(\.key)
        let inKafka = Set(ids)
        let missing = Set(before.spooled + before.inFlight).subtracting(inKafka)
        #expect(missing.isEmpty, "\(missing.count) accepted post(s) never reached Kafka")
        // The source emits in order and every post is written before anything later is: every index up to
        // the last one accepted must be in Kafka (before the journal, the posts librdkafka held when the
        // broker went away were lost here).
        let kafkaIdx = Set(ids.compactMap(IngestDaemonHarness.syntheticIndex))
        let acceptedIdx = (before.spooled + before.inFlight).compactMap(IngestDaemonHarness.syntheticIndex) + Array(kafkaIdx)
        let maxAccepted = acceptedIdx.max() ?? -1
        let lost = (0...max(0, maxAccepted)).filter { !kafkaIdx.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) post(s) below the last accepted index \(maxAccepted) lost: \(lost.prefix(10))")
        // Only posts re-sent from the journal can be duplicates (delivered just before the kill).
        let duplicates = ids.count - inKafka.count
        #expect(duplicates <= before.inFlight.count, "\(duplicates) duplicated post ids, more than the \(before.inFlight.count) re-sent from the journal")
        // Posts generated after the last accepted one were still in the source's hands: estimated from the
        // pacing (post i is due i/300 s after the source started).
        let startedLine = first.stderr.split(separator: "\n").first { $0.contains("ingestd started") }
        let startedMillis = startedLine.flatMap { EventTime.parse(String($0.prefix { $0 != " " })) }
        let generated = startedMillis.map { Int((killedAt.timeIntervalSince1970 * 1000 - Double($0)) * 300 / 1000) } ?? -1
        print("SIGKILL while spooling: about \(generated) posts generated before the kill, last accepted index \(maxAccepted); spooled \(before.spooled.count), in flight (journal) \(before.inFlight.count), in Kafka \(ids.count), duplicates \(duplicates), lost \(lost.count), \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }

    @Test("SIGKILL while producing at full speed (no outage): posts librdkafka held come back from the journal, none lost")
    func sigkillWhileProducing() throws {
        let t0 = Date()
        let broker = try BrokerProcess(topics: ["tweets:4", "tweets.dlq:1"])
        defer { broker.stop() }
        let spoolDir = TestSupport.tempDir("ingestd-spool")
        // Far above what ingestd can do here: batches fill and go out back to back, so librdkafka always
        // holds posts not yet acknowledged.
        let first = try IngestDaemonHarness.start(broker: broker, [
            "--source", "synthetic", "--rate", "1000000", "--seed", "13",
        ], spoolDir: spoolDir)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        #expect(first.waitForStderr(containing: "ingestd started", timeout: 20), "\(first.stderr)")
        Thread.sleep(forTimeInterval: 3)
        first.signal(SIGKILL)
        #expect(first.wait(timeout: 10) == nil || first.process.terminationReason == .uncaughtSignal)

        let before = try Self.accepted(spoolDir)
        #expect(before.spooled.isEmpty, "no outage: nothing spooled")
        try Self.restartAndDrain(broker, spoolDir: spoolDir, expectSpooled: before.spooled.count, inFlight: before.inFlight.count)

        let records = try IngestDaemonHarness.consume(broker, topic: "tweets")
        let ids = records.map(\.key)
        let inKafka = Set(ids)
        #expect(Set(before.inFlight).subtracting(inKafka).isEmpty, "posts of the journal never reached Kafka")
        let kafkaIdx = Set(ids.compactMap(IngestDaemonHarness.syntheticIndex))
        let maxAccepted = kafkaIdx.max() ?? -1
        #expect(maxAccepted > 1000, "the source produced only \(maxAccepted + 1) posts")
        let lost = (0...max(0, maxAccepted)).filter { !kafkaIdx.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) post(s) below the last accepted index \(maxAccepted) lost: \(lost.prefix(10))")
        let duplicates = ids.count - inKafka.count
        #expect(duplicates <= before.inFlight.count, "\(duplicates) duplicated post ids, more than the \(before.inFlight.count) re-sent from the journal")
        print("SIGKILL while producing: \(maxAccepted + 1) posts accepted, \(before.inFlight.count) unacknowledged in the journal at the kill (re-sent), in Kafka \(ids.count), duplicates \(duplicates), lost \(lost.count), \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }
}
