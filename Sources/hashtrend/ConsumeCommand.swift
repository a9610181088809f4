import ArgumentParser
import Dispatch
import Foundation
import HashtrendCore
import Logging
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
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.requestStop() }
            s.resume()
            sources.append(s)
        }
        defer { _ = sources }
        let logger = Logger(label: "hashtrend.consume")
        config["group.id"] = group ?? "hashtrend-consume-\(getpid())"
        let consumer = try KafkaConsumer(config: config, logger: logger)
        if group != nil {
            try consumer.subscribe([topic])
        } else {
            guard let n = try consumer.partitionCount(topic: topic, timeout: .seconds(10)) else {
                throw ValidationError("topic \(topic) does not exist")
            }
            try consumer.assign((0..<n).map { PartitionOffset(TopicPartition(topic, Int32($0)), offset: KafkaOffset.beginning) })
        }
        let idle = try idleExit.map { try HTDuration(parsing: $0) }
        let out = OutputWriter.standardOutput
        var count = 0
        var lastRecord = DispatchTime.now()
        let full = format == "full"
        loop: while !stop.shouldStop {
            let batch = consumer.pollBatch(max: Swift.min(1000, max.map { $0 - count } ?? 1000), timeoutMillis: 200)
            var next: [TopicPartition: Int64] = [:]
            for m in batch {
                if let e = m.error {
                    logger.warning("consumer: \(e)")
                    continue
                }
                if full {
                    out.write("\(m.partition)\t\(m.offset)\t")
                    out.write(m.key)
                    out.write([9])
                }
                out.write(m.value)
                out.write([10])
                next[m.topicPartition] = m.offset + 1
                count += 1
            }
            if !batch.isEmpty { lastRecord = .now() }
            guard out.flush() else { break loop }
            if group != nil && !next.isEmpty {
                try consumer.commit(next.map { PartitionOffset($0.key, offset: $0.value) })
            }
            if let max, count >= max { break }
            if let idle, DispatchTime.now().uptimeNanoseconds - lastRecord.uptimeNanoseconds > UInt64(idle.millis) * 1_000_000 { break }
        }
        consumer.close()
        stderrLine("hashtrend consume: \(count) record(s)")
    }
}
