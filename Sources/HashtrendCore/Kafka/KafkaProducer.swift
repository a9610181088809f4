import CRdKafka
import Foundation
import Logging
import Synchronization

/// The outcome of one produced record. `key` and `value` are handed back only for failures, so the
/// caller can spool what Kafka did not take (ingestd never drops a post).
public struct DeliveryReport: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var error: KafkaError?
    public var key: [UInt8]?
    public var value: [UInt8]?
    /// The caller's tag of a record produced with `produce(_:key:value:tag:)`.
    public var tag: UInt64? = nil
}

/// Per-message state for `send(...) async`: the continuation rides in librdkafka's message opaque.
private final class DeliveryWaiter {
    let continuation: CheckedContinuation<DeliveryReport, Error>
    init(_ c: CheckedContinuation<DeliveryReport, Error>) { continuation = c }
}

func hashtrendDeliveryReport(_ rk: OpaquePointer?, _ msg: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let msg, let opaque else { return }
    let ctx = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let m = msg.pointee
    let ok = m.err == RD_KAFKA_RESP_ERR_NO_ERROR
    if ok {
        ctx.delivered.add(1, ordering: .relaxed)
        if ctx.degraded.load(ordering: .relaxed) { ctx.degraded.store(false, ordering: .relaxed) }
    } else { ctx.failed.add(1, ordering: .relaxed) }
    // The opaque is a `DeliveryWaiter` (an object pointer: even) or a tag (odd: `tag << 1 | 1`).
    let bits = UInt(bitPattern: m._private)
    let tag: UInt64? = bits & 1 == 1 ? UInt64(bits >> 1) : nil
    // The common case at full speed (one call per record): a tagged record delivered.
    if ok, let tag, let acked = ctx.onAcknowledged { acked(tag); return }
    let waiter = bits != 0 && bits & 1 == 0 ? m._private.map { Unmanaged<DeliveryWaiter>.fromOpaque($0).takeRetainedValue() } : nil
    guard ctx.onDelivery != nil || waiter != nil else { return }
    var report = DeliveryReport(
        topic: m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
        partition: m.partition, offset: m.offset,
        error: ok ? nil : KafkaError(m.err), key: nil, value: nil, tag: tag)
    if !ok {
        if let k = m.key { report.key = Array(UnsafeRawBufferPointer(start: k, count: m.key_len)) }
        if let v = m.payload { report.value = Array(UnsafeRawBufferPointer(start: v, count: m.len)) }
    }
    ctx.onDelivery?(report)
    if let waiter {
        if let e = report.error { waiter.continuation.resume(throwing: e) } else { waiter.continuation.resume(returning: report) }
    }
}

/// An idempotent Kafka producer (acks=all by default). A dedicated thread serves librdkafka's
/// callbacks; `produce` only enqueues and never blocks.
public final class KafkaProducer: @unchecked Sendable {
    public static let defaults: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": "5",
        // Retries are librdkafka's job until the message times out; the caller spools after that.
        "message.timeout.ms": "300000",
    ]

    let handle: OpaquePointer
    private let context: Unmanaged<KafkaClientContext>
    /// Swift's own reference: counters stay readable after close() dropped librdkafka's.
    private let ctx: KafkaClientContext
    private let stopping = StopFlag()
    private var poller: BlockingThread?
    private let closed = Mutex<Bool>(false)
    public let logger: Logger

    /// - Parameters:
    ///   - onDelivery: called on the producer's callback thread for every record.
    ///   - reportPause: while reports keep coming, the callback thread waits this long between rounds and
    ///     serves what gathered meanwhile in one go, instead of waking for every produce response (a few
    ///     thousand wake-ups a second at full speed). Reports arrive that much later; 0: at once.
    ///   - onAcknowledged: when given, successful deliveries of records produced with a tag come here
    ///     (the tag only) instead of to `onDelivery`.
    public init(config: KafkaConfig, logger: Logger, reportPause: HTDuration = HTDuration(millis: 0),
                onDelivery: (@Sendable (DeliveryReport) -> Void)? = nil,
                onAcknowledged: (@Sendable (UInt64) -> Void)? = nil) throws {
        self.logger = logger
        let conf = try config.withDefaults(Self.defaults).makeConf()
        let ctx = KafkaClientContext(logger: logger, onDelivery: onDelivery)
        ctx.onAcknowledged = onAcknowledged
        self.ctx = ctx
        context = installCallbacks(conf, context: ctx)
        rd_kafka_conf_set_dr_msg_cb(conf, hashtrendDeliveryReport)
        let h = try makeClientHandle(RD_KAFKA_PRODUCER, conf: conf, context: context)
        handle = h
        let stopping = self.stopping
        let sendable = SendableHandle(pointer: h)
        let pauseMicros = UInt32(clamping: max(0, reportPause.millis) * 1000)
        poller = BlockingThread(name: "kafka-producer-poll") {
            while !stopping.isSet {
                // Blocks while idle; once busy, pauses between rounds (`reportPause`).
                if rd_kafka_poll(sendable.pointer, 100) > 0 && pauseMicros > 0 { usleep(pauseMicros) }
            }
        }
    }

    deinit { close(timeout: .seconds(0)) }

    private let topics = Mutex<[String: ProducerTopic]>([:])

    /// A handle on `name` for the fast `produce(_:key:value:tag:)` (one per topic, kept until close).
    public func topic(_ name: String) throws -> ProducerTopic {
        try topics.withLock { t in
            if let h = t[name] { return h }
            guard let rkt = rd_kafka_topic_new(handle, name, nil) else {
                throw KafkaError(rd_kafka_last_error(), message: "topic handle for \(name)")
            }
            let h = ProducerTopic(handle: rkt, name: name)
            t[name] = h
            return h
        }
    }

    /// Enqueues one record, librdkafka copying key and value from the caller's memory (no Swift
    /// allocation). `tag` (< 2^63) comes back in the `DeliveryReport`. Throws `_QUEUE_FULL` when
    /// librdkafka's queue is full.
    @inline(__always)
    public func produce(_ topic: ProducerTopic, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, tag: UInt64?) throws(KafkaError) {
        let opaque = tag.map { UnsafeMutableRawPointer(bitPattern: UInt($0) << 1 | 1) } ?? nil
        let rc = rd_kafka_produce(topic.handle, -1 /* unassigned: the partitioner picks */, RD_KAFKA_MSG_F_COPY,
                                  UnsafeMutableRawPointer(mutating: value.baseAddress), value.count,
                                  key?.baseAddress, key?.count ?? 0, opaque)
        if rc != 0 {
            let err = rd_kafka_last_error()
            throw KafkaError(err, message: "produce to \(topic.name): \(String(cString: rd_kafka_err2str(err)))")
        }
    }

    /// Enqueues one record. Throws `KafkaError` (`_QUEUE_FULL` when librdkafka's queue is full:
    /// the caller decides to wait or to spool).
    public func produce(topic: String, key: [UInt8]?, value: [UInt8], partition: Int32 = -1,
                        headers: [(String, [UInt8])] = []) throws {
        try enqueue(topic: topic, key: key, value: value, partition: partition, headers: headers, opaque: nil)
    }

    /// Produces one record and waits for its delivery report.
    @discardableResult
    public func send(topic: String, key: [UInt8]?, value: [UInt8], partition: Int32 = -1,
                     headers: [(String, [UInt8])] = []) async throws -> DeliveryReport {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<DeliveryReport, Error>) in
            let waiter = Unmanaged.passRetained(DeliveryWaiter(c))
            do {
                try enqueue(topic: topic, key: key, value: value, partition: partition, headers: headers, opaque: waiter.toOpaque())
            } catch {
                waiter.release()
                c.resume(throwing: error)
            }
        }
    }

    private func enqueue(topic: String, key: [UInt8]?, value: [UInt8], partition: Int32,
                         headers: [(String, [UInt8])], opaque: UnsafeMutableRawPointer?) throws {
        var hdrs: OpaquePointer? = nil
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for (name, v) in headers {
                _ = v.withUnsafeBytes { rd_kafka_header_add(hdrs, name, -1, $0.baseAddress, $0.count) }
            }
        }
        let err: rd_kafka_resp_err_t = value.withUnsafeBytes { vb in
            if let key {
                return key.withUnsafeBytes { kb in
                    hashtrend_produce(handle, topic, partition, kb.baseAddress, kb.count, vb.baseAddress, vb.count, hdrs, opaque)
                }
            }
            return hashtrend_produce(handle, topic, partition, nil, 0, vb.baseAddress, vb.count, hdrs, opaque)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if let hdrs { rd_kafka_headers_destroy(hdrs) }
            throw KafkaError(err, message: "produce to \(topic): \(String(cString: rd_kafka_err2str(err)))")
        }
    }

    /// Records not yet acknowledged (queued, in flight, or awaiting a delivery report).
    public var outstanding: Int { Int(rd_kafka_outq_len(handle)) }
    public var deliveredCount: Int64 { ctx.delivered.load(ordering: .relaxed) }
    public var failedCount: Int64 { ctx.failed.load(ordering: .relaxed) }
    public var lastError: KafkaError? { ctx.lastError.withLock { $0 } }
    /// True from an all-brokers-down report until a record is delivered again.
    public var brokersUnreachable: Bool { ctx.degraded.load(ordering: .relaxed) }

    /// Waits until every enqueued record has a delivery report; throws `_TIMED_OUT` otherwise.
    public func flush(timeout: HTDuration) throws {
        try KafkaError.check(rd_kafka_flush(handle, Int32(clamping: timeout.millis)), "flush")
    }

    /// Flushes (bounded by `timeout`) then releases librdkafka. Safe to call twice.
    public func close(timeout: HTDuration) {
        let already = closed.withLock { c -> Bool in defer { c = true }; return c }
        if already { return }
        let err = rd_kafka_flush(handle, Int32(clamping: timeout.millis))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("producer closed with \(outstanding) record(s) undelivered", metadata: ["error_kind": "\(KafkaError(err).name)"])
        }
        stopping.set()
        // Wakes the callback thread out of rd_kafka_poll's 100 ms wait: closing took up to 100 ms for nothing.
        rd_kafka_yield(handle)
        poller?.join()
        poller = nil
        topics.withLock { t in
            for h in t.values { rd_kafka_topic_destroy(h.handle) }
            t.removeAll()
        }
        rd_kafka_destroy(handle)
        context.release()
    }

    /// Topic metadata (partition count), or nil when the topic does not exist.
    public func partitionCount(topic: String, timeout: HTDuration) throws -> Int? {
        try KafkaAdmin.partitionCount(handle: handle, topic: topic, timeout: timeout)
    }
}

/// A librdkafka topic handle owned by a `KafkaProducer` (valid until the producer is closed).
public final class ProducerTopic: @unchecked Sendable {
    let handle: OpaquePointer
    public let name: String
    init(handle: OpaquePointer, name: String) { self.handle = handle; self.name = name }
}
