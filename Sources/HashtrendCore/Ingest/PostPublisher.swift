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
public final class PostPublisher: @unchecked Sendable {
    public let topic: String
    public let rawTopic: String?
    public let dlqTopic: String
    let producer: KafkaProducer
    let logger: Logger
    private let lock = NSLock()
    private var recent: RecentIDs
    private var figures = PublisherFigures()
    private let failed = FailedRecords()

    public init(kafka: KafkaConfig, topic: String, rawTopic: String?, dlqTopic: String, dedupeCapacity: Int, logger: Logger) throws {
        self.topic = topic
        self.rawTopic = rawTopic
        self.dlqTopic = dlqTopic
        self.logger = logger
        recent = RecentIDs(capacity: max(1, dedupeCapacity))
        let failed = self.failed
        producer = try KafkaProducer(config: kafka.withDefaults(["message.timeout.ms": "30000"]), logger: logger) { report in
            // What Kafka did not take after all retries is kept, never dropped: re-sent by `retryFailed`.
            if report.error != nil, let v = report.value {
                failed.add(report.key, v, report.topic)
            }
        }
    }

    /// Publishes one post (a duplicate id within the recent horizon is dropped and counted).
    public func publish(_ post: Post, raw: [UInt8]? = nil) {
        let fresh = lock.withLock { () -> Bool in
            let f = recent.insert(post.id)
            if f { figures.posts += 1 } else { figures.duplicates += 1 }
            return f
        }
        guard fresh else { return }
        let key = Array(post.id.utf8)
        send(topic: topic, key: key, value: post.canonicalJSON())
        if let rawTopic, let raw { send(topic: rawTopic, key: key, value: raw) }
    }

    public func deadLetter(reason: String, bytes: [UInt8], origin: String) {
        let limit = 256 * 1024
        var headers: [(String, [UInt8])] = [("hashtrend.error", Array(reason.utf8)), ("hashtrend.source", Array(origin.utf8))]
        if bytes.count > limit { headers.append(("hashtrend.truncated", Array("\(bytes.count)".utf8))) }
        send(topic: dlqTopic, key: nil, value: bytes.count > limit ? Array(bytes.prefix(limit)) : bytes, headers: headers)
        lock.withLock { figures.deadLettered += 1 }
        logger.warning("line dead-lettered: \(reason)", metadata: ["error_kind": "\(reason.split(separator: ":").first ?? "")", "origin": "\(origin)"])
    }

    /// Enqueues, waiting while librdkafka's queue is full (the source slows down; nothing is dropped).
    private func send(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) {
        while true {
            do {
                try producer.produce(topic: topic, key: key, value: value, headers: headers)
                return
            } catch let e as KafkaError where e.isQueueFull {
                Thread.sleep(forTimeInterval: 0.002)
            } catch {
                logger.error("produce to \(topic) failed: \(error); retrying", metadata: ["error_kind": "produce"])
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// Re-sends records whose delivery failed (broker outage beyond message.timeout.ms).
    public func retryFailed() {
        let batch = failed.takeAll()
        if !batch.isEmpty { logger.warning("re-sending \(batch.count) record(s) whose delivery failed") }
        for r in batch { send(topic: r.topic, key: r.key, value: r.value) }
    }

    public var outstanding: Int { producer.outstanding + failed.count }

    public func snapshot() -> PublisherFigures {
        var f = lock.withLock { figures }
        f.delivered = producer.deliveredCount
        return f
    }

    public var kafkaError: KafkaError? { producer.lastError }

    /// Waits until every record is acknowledged (re-sending failures), bounded by `timeout`.
    public func drain(timeout: HTDuration, heartbeat: Heartbeat? = nil) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(Int(timeout.millis))
        while DispatchTime.now() < deadline {
            heartbeat?.beat()
            retryFailed()
            if outstanding == 0 { return true }
            try? producer.flush(timeout: HTDuration(millis: 200))
        }
        return outstanding == 0
    }

    public func close(timeout: HTDuration) {
        _ = drain(timeout: timeout)
        producer.close(timeout: HTDuration(millis: 100))
    }
}

/// Records Kafka refused after all retries, waiting to be sent again.
final class FailedRecords: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(key: [UInt8]?, value: [UInt8], topic: String)] = []
    func add(_ key: [UInt8]?, _ value: [UInt8], _ topic: String) { lock.withLock { items.append((key, value, topic)) } }
    func takeAll() -> [(key: [UInt8]?, value: [UInt8], topic: String)] { lock.withLock { defer { items.removeAll() }; return items } }
    var count: Int { lock.withLock { items.count } }
}
