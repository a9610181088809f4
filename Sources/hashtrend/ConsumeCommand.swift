import ArgumentParser
import Dispatch
import Foundation
import HashtrendCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct ConsumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print records of a topic, one per line: value, or partition/offset/key/value with --format full.",
        discussion: """
        With --group the consumer joins that group and commits after each printed batch (output is flushed
        before the commit, so what was committed was printed). Without --group it reads all partitions
        from the beginning. Stops on SIGTERM/SIGINT, after --max records, or after --idle-exit without records.
        """)

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "Topic to read.")
    var topic: String

    @Option(help: "Consumer group (commits offsets); without it, read from the beginning, no commits.")
    var group: String?

    @Option(help: "value (the record value) or full (partition, offset, key, value, tab-separated).")
    var format: String = "value"

    @Option(help: "Stop after this many records (then commit and leave the group cleanly).")
    var max: Int?

    @Option(help: "Stop when no record arrived for this long (e.g. 5s).")
    var idleExit: String?

    func validate() throws {
        guard ["value", "full"].contains(format) else { throw ValidationError("--format must be value or full") }
        if let idleExit { _ = try HTDuration(parsing: idleExit) }
    }

    func run() throws {
        var config = try kafka.config()
        let stop = LoopControl()
        let sources = ProcessSignals.handle([SIGTERM, SIGINT]) { _ in stop.requestStop() }
        defer { _ = sources }
        let logger = Logger(label: "hashtrend.consume")
        config["group.id"] = group ?? "hashtrend-consume-\(getpid())"
        let out = OutputWriter.standardOutput
        // Offsets printed but not yet committed (commits happen every 1000 records and when idle). When the
        // group refuses a commit while it rebalances, the offsets are kept: if a partition comes back to
        // this member, reading resumes right after what was printed.
        let pending = Mutex<[TopicPartition: Int64]>([:])
        let owned = Mutex<Set<TopicPartition>>([])
        let holder = ConsumerHolder()
        let commits = group != nil
        let consumer = try KafkaConsumer(config: config, logger: logger) { event in
            guard commits, holder.consumer != nil else { return nil }
            switch event {
            case .revoked(let tps, _):
                // Output is flushed; the pending offsets stay: if the partitions come back to this member,
                // reading resumes right after what was printed (see .assigned). No commit for partitions we
                // do not hold: a synchronous commit during a rebalance blocks the very poll that completes it.
                out.flush()
                owned.withLock { o in for tp in tps { o.remove(tp) } }
                return nil
            case .assigned(let tps):
                let mine = Set(tps)
                owned.withLock { $0.formUnion(mine) }
                return pending.withLock { p in
                    p = p.filter { mine.contains($0.key) }
                    return p
                }
            }
        }
        holder.consumer = consumer
        if group != nil {
            try consumer.subscribe([topic])
        } else {
            guard let n = try consumer.partitionCount(topic: topic, timeout: .seconds(10)) else {
                throw ValidationError("topic \(topic) does not exist")
            }
            try consumer.assign((0..<n).map { PartitionOffset(TopicPartition(topic, Int32($0)), offset: KafkaOffset.beginning) })
        }
        let idle = try idleExit.map { try HTDuration(parsing: $0) }
        var count = 0
        var sinceCommit = 0
        var lastRecord = DispatchTime.now()
        let full = format == "full"
        func commitPending() throws {
            guard out.flush() else { throw ValidationError("standard output closed") }
            guard commits else { return }
            let mine = owned.withLock { $0 }
            let offsets = pending.withLock { p in p.filter { mine.contains($0.key) }.map { PartitionOffset($0.key, offset: $0.value) } }
            guard !offsets.isEmpty else { sinceCommit = 0; return }
            do {
                try consumer.commit(offsets)
                pending.withLock { p in for o in offsets where p[o.topicPartition] == o.offset { p.removeValue(forKey: o.topicPartition) } }
            } catch let e as KafkaError where e.isRebalanceRelated {
                logger.debug("commit deferred until the rebalance completes: \(e)")
            }
            sinceCommit = 0
        }
        while !stop.shouldStop {
            // One message per poll: a rebalance can then never slip between a record and its commit.
            guard let m = consumer.poll(timeoutMillis: 100) else {
                try commitPending()
                if let idle, DispatchTime.now().uptimeNanoseconds - lastRecord.uptimeNanoseconds > UInt64(idle.millis) * 1_000_000 { break }
                continue
            }
            if let e = m.error {
                logger.warning("consumer: \(e)")
                continue
            }
            lastRecord = .now()
            if full {
                out.write("\(m.partition)\t\(m.offset)\t")
                out.write(m.key)
                out.write([9])
            }
            out.write(m.value)
            out.write([10])
            pending.withLock { $0[m.topicPartition] = m.offset + 1 }
            count += 1
            sinceCommit += 1
            if let max, count >= max { break }
            if sinceCommit >= 1000 { try commitPending() }
        }
        try commitPending()
        consumer.close()
        stderrLine("hashtrend consume: \(count) record(s)")
    }
}

/// Lets the rebalance callback reach the consumer it belongs to.
final class ConsumerHolder: @unchecked Sendable {
    var consumer: KafkaConsumer?
}
