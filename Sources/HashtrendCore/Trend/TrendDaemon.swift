import Foundation
import Logging
import Synchronization

/// trendd's settings (flags, `HASHTREND_*`, env file; docs/configuration.md).
public enum TrendSettings {
    public static let specs: [SettingSpec] = [
        SettingSpec("input-topic", default: "tweets", help: "Topic of canonical posts to count."),
        SettingSpec("output-topic", default: "trends", help: "Topic the window records are published to (one record per window)."),
        SettingSpec("dlq-topic", default: "tweets.dlq", help: "Dead-letter topic for records that cannot be decoded (reason in the hashtrend.error header)."),
        SettingSpec("group", default: "trendd", help: "Consumer group; its committed metadata holds the rebuild checkpoint."),
        SettingSpec("window", default: "60s", help: "Window size."),
        SettingSpec("slide", default: "10s", help: "How far each window advances; the window size must be a multiple of it."),
        SettingSpec("lateness", default: "5s", help: "Allowed lateness: a post older than its partition's newest event time minus this is dropped (counted in late_dropped)."),
        SettingSpec("idle-timeout", default: "30s", help: "A partition without records for this long stops holding windows open; off to wait forever."),
        SettingSpec("early-every", default: "off", help: "Publish provisional (final:false) updates of open windows at most this often; off for finals only."),
        SettingSpec("top", default: "10", help: "Entries per window record (K)."),
        SettingSpec("rank-by", default: "count", help: "Rank entries by count or by score (velocity against the tag's earlier windows)."),
        SettingSpec("max-tags", default: "0", help: "Bound distinct tags per pane with Space-Saving counters; 0 counts exactly."),
        SettingSpec("commit-interval", default: "1s", help: "How often offsets and the rebuild checkpoint are committed (after the windows they cover are flushed)."),
    ]

    public static let summary = "Counts hashtags of the tweets topic in event-time sliding windows and publishes the top-K trends of every window, exactly once."

    /// Reads and validates the window configuration; problems land in `config.problems`.
    public static func windowConfig(_ c: Configuration) -> WindowConfig {
        let rank = TrendRanking(rawValue: c.oneOf("rank-by", TrendRanking.allCases.map(\.rawValue))) ?? .count
        let maxTags = c.int("max-tags", range: 0...100_000_000)
        let wc = WindowConfig(size: c.duration("window", min: HTDuration(millis: 1)), advance: c.duration("slide", min: HTDuration(millis: 1)),
                              allowedLateness: c.duration("lateness"), topK: c.int("top", range: 1...10_000), rankBy: rank,
                              idleTimeout: c.optionalDuration("idle-timeout"), earlyEvery: c.optionalDuration("early-every"),
                              maxTags: maxTags > 0 ? maxTags : nil)
        if c.problems.isEmpty {
            do { try wc.validate() } catch { c.problem("window", "\(error)") }
        }
        return wc
    }
}

/// Figures for STATUS= and logs.
final class TrendFigures: @unchecked Sendable {
    let lock = NSLock()
    var posts: Int64 = 0
    var deadLettered: Int64 = 0
    var windowsFinal: Int64 = 0
    var windowsEarly: Int64 = 0
    var lastFinalEnd: Int64? = nil
    var lateDropped: Int64 = 0
    var kafkaError: String? = nil
}

/// The trendd loop: consume posts, count, publish windows, commit offsets with the rebuild checkpoint
/// only after the windows they cover are flushed (DESIGN.md, "Exactly once").
///
/// Restart and rebalance: the committed metadata of each input partition holds the engine's checkpoint
/// (per partition the offset to re-read from and the watermark before it, plus the last final window
/// end). On assignment the engine is restored from it and the partitions are read again from those
/// offsets; final windows at or before the last final end are not published again, so the stream of
/// final windows is that of an uninterrupted run.
public final class TrendProcessor: @unchecked Sendable {
    let ctx: DaemonContext
    let windowConfig: WindowConfig
    let inputTopic: String, outputTopic: String, dlqTopic: String
    let commitInterval: HTDuration
    let figures = TrendFigures()
    let kafka: KafkaConfig

    // Counting-thread state (the loop's thread; the feed thread hands rebalances over to it).
    private var engine: WindowEngine?
    private var suppressThrough: Int64? = nil
    private var consumer: KafkaConsumer?
    private var producer: KafkaProducer?
    private var dirty = false
    private var feeder: TrendFeeder?
    /// Input partitions the current engine owns.
    private var assigned = Set<Int32>()
    private let rate = RateMeter()
    /// Set when the committed checkpoint could not be read on assignment: counting without it would
    /// publish windows that contradict ones already published, so the loop stops instead.
    private var rebuildFailure: Error?

    public init(context: DaemonContext) throws {
        ctx = context
        let c = context.configuration
        inputTopic = c.requireString("input-topic")
        outputTopic = c.requireString("output-topic")
        dlqTopic = c.requireString("dlq-topic")
        windowConfig = TrendSettings.windowConfig(c)
        commitInterval = c.duration("commit-interval", min: HTDuration(millis: 10))
        var k = context.kafka
        k["group.id"] = c.requireString("group")
        kafka = k
    }

    public func run(_ control: LoopControl) throws {
        let logger = ctx.logger
        let producer = try KafkaProducer(config: kafka.withDefaults(["linger.ms": "20"]).removingConsumerProperties(), logger: logger)
        self.producer = producer
        // A deeper prefetch per partition (librdkafka's default is 100,000 messages; the byte cap,
        // queued.max.messages.kbytes, still bounds memory): on the embedded broker trendd's steady rate
        // went from 285k-600k to 440k-740k posts/s (docs/performance.md). --kafka overrides it.
        let consumerConfig = kafka.withDefaults(["queued.min.messages": "1000000"])
        let consumer = try KafkaConsumer(config: consumerConfig, logger: logger) { [unowned self] event in
            self.rebalanceArrived(event)
        }
        self.consumer = consumer
        let feeder = TrendFeeder(consumer: consumer)
        self.feeder = feeder
        defer {
            // After an error: the feed thread gives up waiting for this one, then the consumer leaves
            // (its revocation is handled here directly, the feed thread being gone).
            feeder.abandon()
            feeder.join()
            consumer.close()
            producer.close(timeout: .seconds(10))
        }
        // READY once Kafka answers: the input topic's metadata is the proof.
        guard ctx.waitForKafka("topic \(inputTopic)", control: control, probe: {
            try consumer.partitionCount(topic: inputTopic, timeout: .seconds(2)) != nil
        }) else { return }
        try consumer.subscribe([inputTopic])
        ctx.notifier.ready(status: "consuming \(inputTopic)")
        logger.info("trendd started", metadata: ["topic": "\(inputTopic)", "window": "\(windowConfig.size)", "slide": "\(windowConfig.advance)"])

        // Kernel thread names for top -H, perf and bench/trendd_watch.py (this thread counts).
        nameThisThread("trendd-count")
        feeder.start()
        var lastCommit = DispatchTime.now()
        var lastTick = DispatchTime.now()
        var lastStatus = DispatchTime.now()
        var feedTurns = feeder.turns.load(ordering: .relaxed)
        var feedSeen = DispatchTime.now()
        let statusEvery = UInt64(ctx.configuration.duration("status-interval").millis) * 1_000_000
        while !control.shouldStop {
            // Beat only while the feed thread turns as well: a hung feed thread must stop the pings too.
            let turns = feeder.turns.load(ordering: .relaxed)
            if turns != feedTurns {
                feedTurns = turns
                feedSeen = DispatchTime.now()
            }
            if DispatchTime.now().uptimeNanoseconds - feedSeen.uptimeNanoseconds < 10_000_000_000 { ctx.heartbeat.beat() }
            if let e = rebuildFailure { throw e }
            if let item = feeder.queue.take(timeoutMillis: 100) { try handle(item) }
            let now = DispatchTime.now()
            if now.uptimeNanoseconds - lastTick.uptimeNanoseconds > 200_000_000, let engine {
                let closed = engine.tick()
                try publish(closed)
                // Windows closed by idleness move the checkpoint too: commit it, or a crash re-publishes them.
                if !closed.isEmpty { dirty = true }
                lastTick = now
            }
            if dirty && now.uptimeNanoseconds - lastCommit.uptimeNanoseconds > UInt64(commitInterval.millis) * 1_000_000 {
                try commitCheckpoint()
                lastCommit = now
            }
            if now.uptimeNanoseconds - lastStatus.uptimeNanoseconds > statusEvery {
                lastStatus = now
                ctx.notifier.status(statusLine(rate: rate.perSecond()))
            }
        }
        // Clean stop: the feed thread ends first (a rebalance it is waiting on still gets its answer);
        // what was handed over is counted, then what is emitted is flushed and committed.
        feeder.requestStop()
        while feeder.running.load(ordering: .acquiring) {
            ctx.heartbeat.beat()
            if let item = feeder.queue.take(timeoutMillis: 100) { try handle(item) }
        }
        feeder.join()
        ctx.notifier.status("stopping: flushing \(producer.outstanding) record(s)")
        try? commitCheckpoint()
        logger.info("trendd stopped", metadata: ["posts": "\(figures.posts)", "windows_final": "\(figures.windowsFinal)",
                                                 "feed_batches": "\(feeder.batchesHandedOver)", "feed_records": "\(feeder.recordsHandedOver)"])
    }

    private func handle(_ item: TrendFeedItem) throws {
        switch item {
        case .batch(let b): try count(b)
        case .rebalance(let event, let reply): reply.answer(rebalance(event))
        }
    }

    /// Counts one batch from the feed thread, in order; dead letters and consumer errors in their place.
    private func count(_ b: TrendFeedBatch) throws {
        var next = 0
        var counted = 0
        // A batch holds runs of one partition: look the assignment up once per run, not per post.
        var known: Int32 = -1
        try b.bytes.withUnsafeBufferPointer { bytes in
            for i in b.posts.indices {
                while next < b.events.count && b.events[next].at == i {
                    try handle(b.events[next].event)
                    next += 1
                    known = -1
                }
                // Between a revocation and the next assignment nothing is owned; a record of a partition
                // not assigned to this engine is never counted (and so never covered by a commit).
                guard let engine else { continue }
                let partition = b.posts[i].partition
                if partition != known {
                    guard assigned.contains(partition) else { continue }
                    known = partition
                }
                try publish(b.process(i, in: bytes, engine: engine))
                counted += 1
            }
        }
        while next < b.events.count {
            try handle(b.events[next].event)
            next += 1
        }
        if engine != nil && b.records > 0 {
            figures.lock.withLock { figures.posts += Int64(counted) }
            rate.add(counted)
            dirty = true
        }
    }

    private func handle(_ event: TrendFeedEvent) throws {
        switch event {
        case .consumerError(let e):
            figures.lock.withLock { figures.kafkaError = e.description }
            if e.isFatal { throw e }
            ctx.logger.warning("consumer: \(e)", metadata: ["error_kind": "\(e.name)"])
        case .deadLetter(let m, let reason):
            guard engine != nil, assigned.contains(m.partition) else { return }
            try deadLetter(m, reason: reason)
        }
    }

    private func statusLine(rate: Double) -> String {
        figures.lock.withLock {
            var s = String(format: "%.0f posts/s, %lld posts, %lld windows final", rate, figures.posts, figures.windowsFinal)
            if let e = figures.lastFinalEnd { s += ", last window end \(EventTime.format(millis: e))" }
            s += ", \(figures.lateDropped) late, \(figures.deadLettered) dead-lettered"
            if let k = producer?.lastError ?? consumer?.lastError { s += "; kafka: \(k.name)" }
            return s
        }
    }

    private func publish(_ windows: [TrendWindow]) throws {
        guard !windows.isEmpty, let producer else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for var w in windows {
            if w.final, let s = suppressThrough, w.windowEndMillis <= s { continue }
            w.emittedAtMillis = now
            try produceRetrying(producer, topic: outputTopic, key: Array(EventTime.format(millis: w.windowEndMillis).utf8), value: w.json())
            figures.lock.withLock {
                if w.final {
                    figures.windowsFinal += 1
                    figures.lastFinalEnd = w.windowEndMillis
                    figures.lateDropped += w.lateDropped
                } else { figures.windowsEarly += 1 }
            }
            if w.final {
                ctx.logger.debug("window final", metadata: ["window_end": "\(EventTime.format(millis: w.windowEndMillis))", "posts": "\(w.posts)"])
            }
        }
    }

    private func deadLetter(_ m: KafkaMessage, reason: String) throws {
        guard let producer else { return }
        // Keep dead letters small enough for any broker; the header says how large the original was.
        let limit = 256 * 1024
        let value = m.value.count > limit ? Array(m.value.prefix(limit)) : m.valueBytes
        var headers: [(String, [UInt8])] = [("hashtrend.error", Array(reason.utf8)),
                                             ("hashtrend.source", Array("\(m.topic)/\(m.partition)/\(m.offset)".utf8))]
        if m.value.count > limit { headers.append(("hashtrend.truncated", Array("\(m.value.count)".utf8))) }
        try produceRetrying(producer, topic: dlqTopic, key: m.keyBytes, value: value, headers: headers)
        figures.lock.withLock { figures.deadLettered += 1 }
        ctx.logger.warning("record dead-lettered", metadata: ["topic": "\(m.topic)", "partition": "\(m.partition)",
                                                              "offset": "\(m.offset)", "error_kind": "\(reason)"])
    }

    /// A full producer queue means Kafka is slow or away: wait (the loop still beats) rather than drop.
    private func produceRetrying(_ p: KafkaProducer, topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) throws {
        while true {
            do {
                try p.produce(topic: topic, key: key, value: value, headers: headers)
                return
            } catch let e as KafkaError where e.isQueueFull {
                ctx.heartbeat.beat()
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    /// Flush what was published, then commit each partition's rebuild offset with the checkpoint.
    private func commitCheckpoint() throws {
        guard let engine, let consumer, let producer else { return }
        while true {
            do {
                try producer.flush(timeout: .seconds(5))
                break
            } catch let e as KafkaError where e.isTimedOut {
                // Kafka is away: keep beating (this is an outage, not a hang) and keep waiting.
                ctx.heartbeat.beat()
                ctx.notifier.status("waiting for Kafka to acknowledge \(producer.outstanding) record(s)")
            }
        }
        let cp = engine.checkpoint()
        let meta = cp.encoded()
        let offsets = cp.partitions.compactMap { p -> PartitionOffset? in
            guard let o = p.resumeOffset else { return nil }
            return PartitionOffset(TopicPartition(inputTopic, p.partition), offset: o, metadata: meta)
        }
        do {
            try consumer.commit(offsets)
            dirty = false
        } catch let e as KafkaError where !e.isFatal {
            // Rebalance, timeout, transport, no coordinator during an outage (_WAIT_COORD): the offsets stay
            // pending (dirty) and go with the next commit; an outage must not stop the daemon.
            ctx.logger.info("commit deferred: \(e)")
        }
    }

    /// librdkafka's rebalance callback. Inside the feed thread's `poll` it is handed to the counting
    /// thread (after the records polled before it); during `close` (feed thread gone) it runs here.
    private func rebalanceArrived(_ event: RebalanceEvent) -> [TopicPartition: Int64]? {
        if let feeder, feeder.isFeedThread { return feeder.rebalance(event) }
        return rebalance(event)
    }

    /// On the counting thread: commit what is counted on revocation; rebuild the engine from the
    /// committed checkpoint for a new assignment.
    private func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64]? {
        switch event {
        case .revoked(let tps, let lost):
            if !lost { try? commitCheckpoint() }
            engine = nil
            assigned.subtract(tps.map(\.partition))
            ctx.logger.info("partitions revoked; window state dropped", metadata: ["partitions": "\(tps.count)"])
            return nil
        case .assigned(let tps):
            guard let consumer else { return nil }
            var committed: [TopicPartition: PartitionOffset]? = nil
            var lastError: Error?
            for attempt in 0..<30 {
                do { committed = try consumer.committed(tps, timeout: .seconds(5)); break } catch {
                    lastError = error
                    ctx.logger.warning("reading committed offsets (attempt \(attempt + 1)): \(error)")
                    Thread.sleep(forTimeInterval: 0.5)
                }
            }
            // Without the checkpoint the consumer would resume at the committed offsets with an empty
            // engine and publish partial windows: stop (and be restarted) rather than count wrongly.
            guard let committed else {
                engine = nil
                rebuildFailure = lastError ?? KafkaError.configuration("committed offsets unreadable")
                ctx.logger.error("cannot read the committed checkpoint; stopping: \(rebuildFailure!)")
                return nil
            }
            // Every partition's metadata carries the whole checkpoint; after a partial commit they can
            // differ, and the oldest one is the safe place to rebuild from (it re-emits identical windows).
            let checkpoints = committed.values.compactMap { $0.metadata }.compactMap { try? WindowCheckpoint(encoded: $0) }
            let cp = checkpoints.min { ($0.lastFinalEndMillis ?? .min) < ($1.lastFinalEndMillis ?? .min) }
            do {
                if let cp {
                    engine = try WindowEngine(config: windowConfig, restoring: cp)
                    suppressThrough = cp.lastFinalEndMillis
                } else {
                    engine = try WindowEngine(config: windowConfig)
                    suppressThrough = nil
                }
            } catch {
                ctx.logger.error("checkpoint does not fit this configuration (\(error)); rebuilding from scratch")
                engine = try? WindowEngine(config: windowConfig)
                suppressThrough = cp?.lastFinalEndMillis
            }
            engine?.assign(partitions: tps.map(\.partition))
            assigned = Set(tps.map(\.partition))
            var starts: [TopicPartition: Int64] = [:]
            for tp in tps {
                if let p = cp?.partitions.first(where: { $0.partition == tp.partition }), let o = p.resumeOffset {
                    starts[tp] = o
                } else if cp != nil {
                    starts[tp] = KafkaOffset.beginning
                }
            }
            ctx.logger.info("window state rebuilt from checkpoint", metadata: [
                "partitions": "\(tps.count)",
                "last_final_end": "\(cp?.lastFinalEndMillis.map { EventTime.format(millis: $0) } ?? "none")"])
            return starts
        }
    }
}
