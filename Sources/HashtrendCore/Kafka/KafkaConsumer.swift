import CRdKafka
import Foundation
import Logging

/// One consumed record. It owns librdkafka's message; `key`/`value` point into it and stay valid while
/// the message lives, so the hot path reads bytes without copying.
public final class KafkaMessage: @unchecked Sendable {
    let raw: UnsafeMutablePointer<rd_kafka_message_t>

    init(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) { self.raw = raw }
    deinit { rd_kafka_message_destroy(raw) }

    public var topic: String { raw.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "" }
    public var partition: Int32 { raw.pointee.partition }
    public var offset: Int64 { raw.pointee.offset }
    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    /// Non-nil for consumer errors delivered as messages (e.g. `_PARTITION_EOF`, `UNKNOWN_TOPIC_OR_PART`).
    public var error: KafkaError? {
        raw.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(raw.pointee.err, message: errorText)
    }
    private var errorText: String? {
        guard let p = raw.pointee.payload, raw.pointee.len > 0 else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: raw.pointee.len), as: UTF8.self)
    }
    public var key: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: raw.pointee.key, count: raw.pointee.key_len) }
    public var value: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: raw.pointee.payload, count: raw.pointee.len) }
    public var keyBytes: [UInt8] { Array(key) }
    public var valueBytes: [UInt8] { Array(value) }
    /// Milliseconds since the epoch (the record's CreateTime or LogAppendTime), or nil.
    public var timestampMillis: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(raw, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts
    }
    public func header(_ name: String) -> [UInt8]? {
        var hdrs: OpaquePointer? = nil
        guard rd_kafka_message_headers(raw, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs else { return nil }
        var value: UnsafeRawPointer? = nil
        var size = 0
        guard rd_kafka_header_get_last(hdrs, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        guard let value else { return [] }
        return Array(UnsafeRawBufferPointer(start: value, count: size))
    }
}

/// What a rebalance did to this consumer. `assigned` may be answered with start offsets (e.g. to
/// rebuild state from an earlier offset than the committed one); nil keeps the committed offsets.
public enum RebalanceEvent: Sendable {
    case assigned([TopicPartition])
    case revoked([TopicPartition], lost: Bool)
}

func hashtrendRebalance(_ rk: OpaquePointer?, _ err: rd_kafka_resp_err_t,
                        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
                        _ opaque: UnsafeMutableRawPointer?) {
    guard let rk, let partitions, let opaque else { return }
    let ctx = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    let tps = readPartitionList(partitions).map(\.topicPartition)
    if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
        if let starts = ctx.rebalance?(.assigned(tps)) {
            for i in 0..<Int(partitions.pointee.cnt) {
                let e = partitions.pointee.elems[i]
                if let o = starts[TopicPartition(String(cString: e.topic), e.partition)] {
                    partitions.pointee.elems[i].offset = o
                }
            }
        }
        ctx.logger.info("partitions assigned", metadata: ["partitions": "\(tps.map(\.description).joined(separator: ","))",
                                                          "protocol": "\(cooperative ? "cooperative" : "eager")"])
        if cooperative {
            if let e = rd_kafka_incremental_assign(rk, partitions) { ctx.logger.error("incremental assign: \(KafkaError(consuming: e))") }
        } else {
            let e = rd_kafka_assign(rk, partitions)
            if e != RD_KAFKA_RESP_ERR_NO_ERROR { ctx.logger.error("assign: \(KafkaError(e))") }
        }
    } else {
        let lost = rd_kafka_assignment_lost(rk) != 0
        _ = ctx.rebalance?(.revoked(tps, lost: lost))
        ctx.logger.info("partitions revoked", metadata: ["partitions": "\(tps.map(\.description).joined(separator: ","))", "lost": "\(lost)"])
        if cooperative {
            if let e = rd_kafka_incremental_unassign(rk, partitions) { ctx.logger.error("incremental unassign: \(KafkaError(consuming: e))") }
        } else {
            _ = rd_kafka_assign(rk, nil)
        }
    }
}

/// A consumer-group member with manual commits. All calls block and belong on a dedicated thread
/// (the daemon's loop), never on Swift's cooperative pool.
public final class KafkaConsumer: @unchecked Sendable {
    public static let defaults: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
    ]

    let handle: OpaquePointer
    private let queue: OpaquePointer
    private let context: Unmanaged<KafkaClientContext>
    /// Swift's own reference: counters stay readable after close() dropped librdkafka's.
    private let ctx: KafkaClientContext
    private var isClosed = false
    public let logger: Logger

    /// - Parameter rebalance: called from inside `poll` when partitions are assigned or revoked.
    public init(config: KafkaConfig, logger: Logger,
                rebalance: (@Sendable (RebalanceEvent) -> [TopicPartition: Int64]?)? = nil) throws {
        self.logger = logger
        guard config["group.id"] != nil else { throw KafkaError.configuration("a consumer needs group.id") }
        let conf = try config.withDefaults(Self.defaults).makeConf()
        let ctx = KafkaClientContext(logger: logger)
        ctx.rebalance = rebalance
        self.ctx = ctx
        context = installCallbacks(conf, context: ctx)
        rd_kafka_conf_set_rebalance_cb(conf, hashtrendRebalance)
        let h = try makeClientHandle(RD_KAFKA_CONSUMER, conf: conf, context: context)
        handle = h
        rd_kafka_poll_set_consumer(h)
        queue = rd_kafka_queue_get_consumer(h)
    }

    deinit { close() }

    public func subscribe(_ topics: [String]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for t in topics { rd_kafka_topic_partition_list_add(list, t, RD_KAFKA_PARTITION_UA) }
        try KafkaError.check(rd_kafka_subscribe(handle, list), "subscribe \(topics)")
    }

    /// Assigns partitions directly, outside any group rebalance (tools, tests).
    public func assign(_ offsets: [PartitionOffset]) throws {
        let list = makePartitionList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_assign(handle, list), "assign")
    }

    /// Waits up to `timeoutMillis` for one message (or a consumer error as a message).
    public func poll(timeoutMillis: Int32) -> KafkaMessage? {
        rd_kafka_consumer_poll(handle, timeoutMillis).map(KafkaMessage.init)
    }

    /// Up to `max` messages in one call: the fast path for trendd and sinkd.
    public func pollBatch(max: Int, timeoutMillis: Int32) -> [KafkaMessage] {
        var ptrs = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: max)
        let n = ptrs.withUnsafeMutableBufferPointer { buf in
            rd_kafka_consume_batch_queue(queue, Int32(timeoutMillis), buf.baseAddress, max)
        }
        guard n > 0 else { return [] }
        return (0..<n).map { KafkaMessage(ptrs[$0]!) }
    }

    /// Synchronous commit of explicit offsets (the next offset to read) with metadata.
    public func commit(_ offsets: [PartitionOffset]) throws {
        guard !offsets.isEmpty else { return }
        let list = makePartitionList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_commit(handle, list, 0), "commit")
        for i in 0..<Int(list.pointee.cnt) where list.pointee.elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let e = list.pointee.elems[i]
            throw KafkaError(e.err, message: "commit \(String(cString: e.topic))[\(e.partition)]: \(String(cString: rd_kafka_err2str(e.err)))")
        }
    }

    /// The group's committed offsets and metadata for `partitions` (offset -1001 where none).
    public func committed(_ partitions: [TopicPartition], timeout: HTDuration) throws -> [TopicPartition: PartitionOffset] {
        let list = makePartitionList(partitions.map { PartitionOffset($0, offset: KafkaOffset.invalid) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_committed(handle, list, Int32(clamping: timeout.millis)), "committed")
        return Dictionary(readPartitionList(list).map { ($0.topicPartition, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func seek(_ offsets: [PartitionOffset], timeout: HTDuration) throws {
        let list = makePartitionList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let e = rd_kafka_seek_partitions(handle, list, Int32(clamping: timeout.millis)) { throw KafkaError(consuming: e) }
    }

    public func pause(_ partitions: [TopicPartition]) throws {
        let list = makePartitionList(partitions.map { PartitionOffset($0, offset: KafkaOffset.invalid) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_pause_partitions(handle, list), "pause")
    }

    public func resume(_ partitions: [TopicPartition]) throws {
        let list = makePartitionList(partitions.map { PartitionOffset($0, offset: KafkaOffset.invalid) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_resume_partitions(handle, list), "resume")
    }

    public func assignment() throws -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        try KafkaError.check(rd_kafka_assignment(handle, &list), "assignment")
        guard let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return readPartitionList(list).map(\.topicPartition)
    }

    /// Low and high watermarks (high = the offset the next record will get).
    public func watermarks(_ tp: TopicPartition, timeout: HTDuration) throws -> (low: Int64, high: Int64) {
        var lo: Int64 = 0, hi: Int64 = 0
        try KafkaError.check(rd_kafka_query_watermark_offsets(handle, tp.topic, tp.partition, &lo, &hi, Int32(clamping: timeout.millis)), "watermarks \(tp)")
        return (lo, hi)
    }

    public func partitionCount(topic: String, timeout: HTDuration) throws -> Int? {
        try KafkaAdmin.partitionCount(handle: handle, topic: topic, timeout: timeout)
    }

    public var lastError: KafkaError? { ctx.lastError.withLock { $0 } }

    /// Leaves the group cleanly (revocation runs the rebalance callback), then releases librdkafka.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        let err = rd_kafka_consumer_close(handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { logger.warning("consumer close: \(KafkaError(err))") }
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(handle)
        context.release()
    }
}
