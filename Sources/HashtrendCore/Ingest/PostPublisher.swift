import Foundation
import Logging
import Synchronization

/// Figures of the publishing side, for STATUS= and logs.
public struct PublisherFigures: Sendable {
    public var posts: Int64 = 0
    public var delivered: Int64 = 0
    public var duplicates: Int64 = 0
    public var deadLettered: Int64 = 0
    public var spooled: Int64 = 0
    public var spoolBytes: Int64 = 0
    public var spoolFull: Int64 = 0
}

/// Turns posts into `tweets` records: canonical JSON keyed by post id on the idempotent producer,
/// optional raw mirror, dead letters with their reason. Thread-safe: stream sources call it from
/// their own threads.
///
/// Nothing is dropped when Kafka is away: while the brokers are unreachable (or a delivery failed, or
/// the producer queue stays full) posts go to the disk spool, in order, and new posts keep going
/// there until the spool is drained back to Kafka (`drainSpool`, also at start-up).
public final class PostPublisher: @unchecked Sendable {
    public let topic: String
    public let rawTopic: String?
    public let dlqTopic: String
    let producer: KafkaProducer
    let logger: Logger
    let spool: Spool
    private let lock = NSLock()
    private var recent: RecentIDs
    private var figures = PublisherFigures()
    /// Posts go to the spool rather than to Kafka (outage, or a backlog still to drain).
    private var spooling = false
    private var pendingSpool: [(key: [UInt8], value: [UInt8])] = []

    public init(kafka: KafkaConfig, topic: String, rawTopic: String?, dlqTopic: String, dedupeCapacity: Int,
                spoolDirectory: String, spoolMaxBytes: Int64, logger: Logger) throws {
        self.topic = topic
        self.rawTopic = rawTopic
        self.dlqTopic = dlqTopic
        self.logger = logger
        recent = RecentIDs(capacity: max(1, dedupeCapacity))
        try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true)
        let spool = try Spool(directory: spoolDirectory, maxBytes: spoolMaxBytes)
        self.spool = spool
        let failures = FailedRecords()
        let deadLetters = DeadLetterLedger()
        producer = try KafkaProducer(config: kafka.withDefaults(["message.timeout.ms": "30000"]), logger: logger) { report in
            // What Kafka did not take after all retries is kept, never dropped: posts are spooled by
            // `housekeeping`, dead letters held (with their headers) and sent again once Kafka answers.
            guard report.error != nil, let v = report.value, report.topic != "" else { return }
            if report.topic == dlqTopic { deadLetters.failed(v) } else { failures.add(report.key, v, report.topic) }
        }
        self.failures = failures
        self.deadLetters = deadLetters
        if spool.count > 0 {
            spooling = true
            logger.warning("spool holds \(spool.count) post(s) from an earlier run; draining them first", metadata: ["spool_bytes": "\(spool.bytes)"])
        }
    }

    private let failures: FailedRecords
    private let deadLetters: DeadLetterLedger

    /// Publishes one post (a duplicate id within the recent horizon is dropped and counted).
    public func publish(_ post: Post, raw: [UInt8]? = nil) {
        let key = Array(post.id.utf8)
        let value = post.canonicalJSON()
        let toSpool = lock.withLock { () -> Bool? in
            guard recent.insert(post.id) else { figures.duplicates += 1; return nil }
            figures.posts += 1
            if !spooling && producer.brokersUnreachable {
                spooling = true
                logger.warning("Kafka unreachable: spooling posts to disk", metadata: ["error_kind": "kafka_unreachable"])
            }
            if spooling { pendingSpool.append((key, value)) }
            return spooling
        }
        guard let toSpool else { return }
        if toSpool {
            if lock.withLock({ pendingSpool.count }) >= 1000 { syncSpool() }
        } else if !send(topic: topic, key: key, value: value) {
            lock.withLock { spooling = true; pendingSpool.append((key, value)) }
        }
        if let rawTopic, let raw { _ = send(topic: rawTopic, key: key, value: raw) }
    }

    public func deadLetter(reason: String, bytes: [UInt8], origin: String) {
        let limit = 256 * 1024
        var headers: [(String, [UInt8])] = [("hashtrend.error", Array(reason.utf8)), ("hashtrend.source", Array(origin.utf8))]
        if bytes.count > limit { headers.append(("hashtrend.truncated", Array("\(bytes.count)".utf8))) }
        let value = bytes.count > limit ? Array(bytes.prefix(limit)) : bytes
        // While Kafka is away a dead letter would only time out in librdkafka's queue: hold it instead.
        if lock.withLock({ spooling }) || producer.brokersUnreachable {
            deadLetters.hold(value, headers)
        } else {
            deadLetters.remember(value, headers)
            _ = send(topic: dlqTopic, key: nil, value: value, headers: headers, wait: true)
        }
        lock.withLock { figures.deadLettered += 1 }
        logger.warning("line dead-lettered: \(reason)", metadata: ["error_kind": "\(reason.split(separator: ":").first ?? "")", "origin": "\(origin)"])
    }

    /// Enqueues; a queue that stays full for 2 s means Kafka is not keeping up: the caller spools.
    private func send(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = [], wait: Bool = false) -> Bool {
        let deadline = DispatchTime.now() + .seconds(2)
        while true {
            do {
                try producer.produce(topic: topic, key: key, value: value, headers: headers)
                return true
            } catch let e as KafkaError where e.isQueueFull {
                if !wait && DispatchTime.now() > deadline { return false }
                Thread.sleep(forTimeInterval: 0.002)
            } catch {
                logger.error("produce to \(topic) failed: \(error)", metadata: ["error_kind": "produce"])
                if !wait { return false }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// Makes the posts waiting for the spool durable (and failed deliveries with them).
    public func syncSpool() {
        let failed = failures.takeAll().filter { $0.topic == topic }
        let batch: [(key: [UInt8], value: [UInt8])] = lock.withLock {
            defer { pendingSpool.removeAll(keepingCapacity: true) }
            if !failed.isEmpty { spooling = true }
            return failed.map { ($0.key ?? [], $0.value) } + pendingSpool
        }
        guard !batch.isEmpty else { return }
        do {
            try spool.append(batch: batch)
            lock.withLock { figures.spooled += Int64(batch.count) }
        } catch {
            // A full spool is loud and counted; the posts stay in memory and are retried.
            lock.withLock {
                figures.spoolFull += Int64(batch.count)
                pendingSpool.insert(contentsOf: batch, at: 0)
            }
            logger.critical("cannot spool \(batch.count) post(s): \(error)", metadata: ["error_kind": "spool_full"])
        }
    }

    /// While spooling: when Kafka answers again, sends the spool's oldest posts and commits them once
    /// acknowledged; leaves spooling mode when the spool is empty. Returns true while there is a backlog.
    @discardableResult
    public func drainSpool(heartbeat: Heartbeat? = nil) -> Bool {
        syncSpool()
        // A batch another thread spooled just after the last drain found the spool empty: back to
        // spooling, so it is drained now rather than at the next start (and new posts stay behind it).
        lock.withLock { if !spooling && spool.count > 0 { spooling = true } }
        guard lock.withLock({ spooling }) else {
            if deadLetters.heldCount > 0, (try? producer.partitionCount(topic: dlqTopic, timeout: HTDuration(millis: 250))) != nil {
                sendHeldDeadLetters()
            }
            return false
        }
        // Probe: Kafka must answer a metadata request before a batch is taken from the spool. Short: the
        // replay and synthetic sources call this from their producing loop, which it blocks while Kafka is away.
        guard (try? producer.partitionCount(topic: topic, timeout: HTDuration(millis: 250))) != nil else { return true }
        // Batches for up to half a second per call, so the caller's loop keeps turning.
        let until = DispatchTime.now() + .milliseconds(500)
        do {
            while spool.count > 0 && DispatchTime.now() < until {
                let records = try spool.peek(max: 5000)
                guard let last = records.last else { break }
                for r in records {
                    heartbeat?.beat()
                    guard send(topic: topic, key: r.key, value: r.value) else { return true }
                }
                try producer.flush(timeout: .seconds(10))
                guard failures.count == 0 else { return true }
                try spool.commit(upTo: last.seq)
                logger.info("drained \(records.count) spooled post(s)", metadata: ["spool_remaining": "\(spool.count)"])
            }
        } catch {
            logger.warning("spool drain paused: \(error)")
            return true
        }
        // Spool empty: the posts that arrived meanwhile go straight to Kafka, and so do new ones.
        let leftovers: [(key: [UInt8], value: [UInt8])]? = lock.withLock {
            guard spool.count == 0 else { return nil }
            spooling = false
            defer { pendingSpool.removeAll() }
            return pendingSpool
        }
        guard let leftovers else { return true }
        for (i, r) in leftovers.enumerated() where !send(topic: topic, key: r.key, value: r.value) {
            lock.withLock {
                spooling = true
                pendingSpool.insert(contentsOf: leftovers[i...], at: 0)
            }
            return true
        }
        logger.info("spool drained; producing directly again")
        sendHeldDeadLetters()
        return false
    }

    public var outstanding: Int { producer.outstanding + failures.count + deadLetters.heldCount }

    /// Sends the dead letters held during an outage (or returned by a failed delivery), oldest first.
    private func sendHeldDeadLetters() {
        let held = deadLetters.takeHeld()
        for (i, d) in held.enumerated() {
            deadLetters.remember(d.value, d.headers)
            if !send(topic: dlqTopic, key: nil, value: d.value, headers: d.headers) {
                deadLetters.putBack(Array(held[(i + 1)...]))
                return
            }
        }
        if !held.isEmpty { logger.info("sent \(held.count) dead letter(s) held while Kafka was away") }
    }

    public func snapshot() -> PublisherFigures {
        var f = lock.withLock { figures }
        f.delivered = producer.deliveredCount
        f.spoolBytes = spool.bytes
        return f
    }

    public var kafkaError: KafkaError? { producer.lastError }
    public var isSpooling: Bool { lock.withLock { spooling } }

    /// Waits until every record is acknowledged or spooled, bounded by `timeout`.
    public func drain(timeout: HTDuration, heartbeat: Heartbeat? = nil) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(Int(timeout.millis))
        while DispatchTime.now() < deadline {
            heartbeat?.beat()
            syncSpool()
            if deadLetters.heldCount > 0 && !isSpooling { sendHeldDeadLetters() }
            if producer.outstanding == 0 && failures.count == 0 && deadLetters.heldCount == 0 { break }
            try? producer.flush(timeout: HTDuration(millis: 200))
        }
        syncSpool()
        return producer.outstanding == 0 && deadLetters.heldCount == 0
    }

    /// Flushes what Kafka can take within `timeout`; everything else is already in the spool, or is
    /// left in librdkafka's queue (reported).
    public func close(timeout: HTDuration) {
        _ = drain(timeout: timeout)
        if deadLetters.heldCount > 0 {
            logger.error("\(deadLetters.heldCount) dead letter(s) not delivered: Kafka did not answer before shutdown", metadata: ["error_kind": "undelivered"])
        }
        producer.close(timeout: HTDuration(millis: 100))
        try? spool.close()
    }
}

/// Records Kafka refused after all retries, waiting to be spooled.
final class FailedRecords: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(key: [UInt8]?, value: [UInt8], topic: String)] = []
    func add(_ key: [UInt8]?, _ value: [UInt8], _ topic: String) { lock.withLock { items.append((key, value, topic)) } }
    func takeAll() -> [(key: [UInt8]?, value: [UInt8], topic: String)] { lock.withLock { defer { items.removeAll() }; return items } }
    var count: Int { lock.withLock { items.count } }
}

/// Dead letters Kafka has not taken: held while it is away, or returned by a failed delivery. A failed
/// delivery report carries the value but not the headers, so the headers of recent dead letters are
/// remembered by the value's hash (bounded; dead letters are rare).
final class DeadLetterLedger: @unchecked Sendable {
    typealias Letter = (value: [UInt8], headers: [(String, [UInt8])])
    private let lock = NSLock()
    private var recent: [Int: [(String, [UInt8])]] = [:]
    private var order: [Int] = []
    private var held: [Letter] = []
    private let capacity = 10_000

    func remember(_ value: [UInt8], _ headers: [(String, [UInt8])]) {
        let h = value.hashValue
        lock.withLock {
            if recent.updateValue(headers, forKey: h) == nil { order.append(h) }
            if order.count > capacity { recent.removeValue(forKey: order.removeFirst()) }
        }
    }

    func failed(_ value: [UInt8]) {
        lock.withLock {
            let headers = recent[value.hashValue] ?? [("hashtrend.error", Array("unknown: a failed delivery lost the reason".utf8))]
            held.append((value, headers))
        }
    }

    func hold(_ value: [UInt8], _ headers: [(String, [UInt8])]) { lock.withLock { held.append((value, headers)) } }
    func takeHeld() -> [Letter] { lock.withLock { defer { held.removeAll() }; return held } }
    func putBack(_ letters: [Letter]) { lock.withLock { held.insert(contentsOf: letters, at: 0) } }
    var heldCount: Int { lock.withLock { held.count } }
}
