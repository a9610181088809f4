import CRdKafka
import Foundation
import Logging
import Synchronization

/// A topic and partition: the unit of ordering, assignment and commits.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public init(_ topic: String, _ partition: Int32) { self.topic = topic; self.partition = partition }
    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)[\(partition)]" }
}

/// An offset with the metadata string Kafka keeps beside a committed offset.
public struct PartitionOffset: Hashable, Sendable {
    public var topicPartition: TopicPartition
    /// The next offset to read; negative values are librdkafka's logical offsets (e.g. -1001: none).
    public var offset: Int64
    public var metadata: String?
    public init(_ tp: TopicPartition, offset: Int64, metadata: String? = nil) {
        self.topicPartition = tp
        self.offset = offset
        self.metadata = metadata
    }
}

public enum KafkaOffset {
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
    public static let end = Int64(RD_KAFKA_OFFSET_END)
    public static let stored = Int64(RD_KAFKA_OFFSET_STORED)
    public static let invalid = Int64(RD_KAFKA_OFFSET_INVALID)
}

/// What librdkafka reports through callbacks, handed to Swift through the handle's opaque pointer.
final class KafkaClientContext: @unchecked Sendable {
    let logger: Logger
    let onDelivery: (@Sendable (DeliveryReport) -> Void)?
    /// Successful deliveries of tagged records, when set: only the tag, no `DeliveryReport` built.
    var onAcknowledged: (@Sendable (UInt64) -> Void)?
    var rebalance: (@Sendable (RebalanceEvent) -> [TopicPartition: Int64]?)?
    weak var consumer: KafkaConsumer?
    /// Last error librdkafka reported through error_cb (e.g. all brokers down), for STATUS= lines.
    let lastError = Mutex<KafkaError?>(nil)
    /// Set when librdkafka reports the brokers unreachable; cleared by the next successful delivery.
    let degraded = Atomic<Bool>(false)
    let delivered = Atomic<Int64>(0)
    let failed = Atomic<Int64>(0)

    init(logger: Logger, onDelivery: (@Sendable (DeliveryReport) -> Void)? = nil) {
        self.logger = logger
        self.onDelivery = onDelivery
    }
}

private func contextOf(_ opaque: UnsafeMutableRawPointer?) -> KafkaClientContext? {
    guard let opaque else { return nil }
    return Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
}

/// librdkafka's log lines, routed into swift-log (and so to journald) instead of raw stderr.
func hashtrendKafkaLog(_ rk: OpaquePointer?, _ level: Int32, _ fac: UnsafePointer<CChar>?, _ buf: UnsafePointer<CChar>?) {
    guard let rk, let ctx = contextOf(rd_kafka_opaque(rk)) else { return }
    let facility = fac.map { String(cString: $0) } ?? ""
    let message = buf.map { String(cString: $0) } ?? ""
    let lvl: Logger.Level = level <= 3 ? .error : level <= 4 ? .warning : level <= 6 ? .info : .debug
    ctx.logger.log(level: lvl, "\(message)", metadata: ["kafka_facility": .string(facility)])
}

func hashtrendKafkaError(_ rk: OpaquePointer?, _ err: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let ctx = contextOf(opaque) else { return }
    let error = KafkaError(code: err, message: reason.map { String(cString: $0) })
    ctx.lastError.withLock { $0 = error }
    // Transport errors are routine while a broker restarts; librdkafka retries them itself.
    let routine = err == RD_KAFKA_RESP_ERR__TRANSPORT.rawValue || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
    if err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue { ctx.degraded.store(true, ordering: .relaxed) }
    ctx.logger.log(level: routine ? .warning : .error, "kafka: \(error)", metadata: ["error_kind": .string(error.name)])
}

/// Wires the shared callbacks into a conf and returns the retained context pointer.
func installCallbacks(_ conf: OpaquePointer, context: KafkaClientContext) -> Unmanaged<KafkaClientContext> {
    let unmanaged = Unmanaged.passRetained(context)
    rd_kafka_conf_set_opaque(conf, unmanaged.toOpaque())
    rd_kafka_conf_set_log_cb(conf, hashtrendKafkaLog)
    rd_kafka_conf_set_error_cb(conf, hashtrendKafkaError)
    return unmanaged
}

/// `rd_kafka_new`; on failure the conf and the callback context are released and librdkafka's reason thrown.
func makeClientHandle(_ type: rd_kafka_type_t, conf: OpaquePointer, context: Unmanaged<KafkaClientContext>) throws -> OpaquePointer {
    var errbuf = [CChar](repeating: 0, count: 512)
    guard let h = rd_kafka_new(type, conf, &errbuf, errbuf.count) else {
        rd_kafka_conf_destroy(conf)
        context.release()
        throw KafkaError.configuration(errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }
    return h
}

/// Partition list conversions (the list is freed by the caller with rd_kafka_topic_partition_list_destroy).
func makePartitionList(_ offsets: [PartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(max(offsets.count, 1)))!
    for o in offsets {
        let p = rd_kafka_topic_partition_list_add(list, o.topicPartition.topic, o.topicPartition.partition)!
        p.pointee.offset = o.offset
        if let meta = o.metadata {
            // librdkafka frees metadata with free() when the list is destroyed.
            let bytes = Array(meta.utf8)
            let mem = malloc(max(bytes.count, 1))!
            bytes.withUnsafeBytes { mem.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            p.pointee.metadata = mem
            p.pointee.metadata_size = bytes.count
        }
    }
    return list
}

func readPartitionList(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [PartitionOffset] {
    var out: [PartitionOffset] = []
    let n = Int(list.pointee.cnt)
    out.reserveCapacity(n)
    for i in 0..<n {
        let e = list.pointee.elems[i]
        var meta: String? = nil
        if let m = e.metadata, e.metadata_size > 0 {
            meta = String(decoding: UnsafeRawBufferPointer(start: m, count: e.metadata_size), as: UTF8.self)
        }
        out.append(PartitionOffset(TopicPartition(String(cString: e.topic), e.partition), offset: e.offset, metadata: meta))
    }
    return out
}

/// Runs a blocking body on its own OS thread, so blocking librdkafka calls never occupy Swift's
/// cooperative pool; `join()` waits for it to end.
final class BlockingThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let thread: Thread

    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let done = self.done
        thread = Thread {
            body()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    func join() { done.wait() }
}

/// Carries a C handle into a thread body; the owner guarantees the handle outlives the thread.
struct SendableHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A one-way flag shared between a controlling thread and a loop thread.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
