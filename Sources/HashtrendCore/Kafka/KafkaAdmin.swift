import CRdKafka
import Foundation
import Logging

/// Topic creation and metadata queries.
public enum KafkaAdmin {
    static func partitionCount(handle: OpaquePointer, topic: String, timeout: HTDuration) throws -> Int? {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else { throw KafkaError.configuration("bad topic name '\(topic)'") }
        defer { rd_kafka_topic_destroy(rkt) }
        var md: UnsafePointer<rd_kafka_metadata>? = nil
        try KafkaError.check(rd_kafka_metadata(handle, 0, rkt, &md, Int32(clamping: timeout.millis)), "metadata \(topic)")
        guard let md else { return nil }
        defer { rd_kafka_metadata_destroy(md) }
        for i in 0..<Int(md.pointee.topic_cnt) {
            let t = md.pointee.topics[i]
            guard String(cString: t.topic) == topic else { continue }
            if t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { return nil }
            try KafkaError.check(t.err, "topic \(topic)")
            return Int(t.partition_cnt)
        }
        return nil
    }

    /// All topics with their partition counts.
    public static func listTopics(config: KafkaConfig, timeout: HTDuration) throws -> [String: Int] {
        let p = try KafkaProducer(config: config, logger: Logger(label: "hashtrend.admin"))
        defer { p.close(timeout: .seconds(0)) }
        var md: UnsafePointer<rd_kafka_metadata>? = nil
        try KafkaError.check(rd_kafka_metadata(p.handle, 1, nil, &md, Int32(clamping: timeout.millis)), "metadata")
        guard let md else { return [:] }
        defer { rd_kafka_metadata_destroy(md) }
        var out: [String: Int] = [:]
        for i in 0..<Int(md.pointee.topic_cnt) {
            out[String(cString: md.pointee.topics[i].topic)] = Int(md.pointee.topics[i].partition_cnt)
        }
        return out
    }

    /// Creates a topic; an existing topic is not an error (idempotent set-up).
    public static func createTopic(config: KafkaConfig, name: String, partitions: Int, replicationFactor: Int = -1,
                                   timeout: HTDuration) throws {
        let p = try KafkaProducer(config: config, logger: Logger(label: "hashtrend.admin"))
        defer { p.close(timeout: .seconds(0)) }
        var errbuf = [CChar](repeating: 0, count: 512)
        guard let nt = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errbuf, errbuf.count) else {
            throw KafkaError.configuration(errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        defer { rd_kafka_NewTopic_destroy(nt) }
        let q = rd_kafka_queue_new(p.handle)!
        defer { rd_kafka_queue_destroy(q) }
        var topics: [OpaquePointer?] = [nt]
        let opts = rd_kafka_AdminOptions_new(p.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(opts) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(opts, Int32(clamping: timeout.millis), &errbuf, errbuf.count)
        topics.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(p.handle, $0.baseAddress, 1, opts, q) }
        guard let ev = rd_kafka_queue_poll(q, Int32(clamping: timeout.millis + 1000)) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "create topic \(name): no answer")
        }
        defer { rd_kafka_event_destroy(ev) }
        try KafkaError.check(rd_kafka_event_error(ev), "create topic \(name)")
        guard let res = rd_kafka_event_CreateTopics_result(ev) else { return }
        var cnt = 0
        guard let results = rd_kafka_CreateTopics_result_topics(res, &cnt) else { return }
        for i in 0..<cnt {
            let err = rd_kafka_topic_result_error(results[i])
            if err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { continue }
            try KafkaError.check(err, "create topic \(name)")
        }
    }
}
