import CRdKafka

/// A librdkafka error, typed: `name` is librdkafka's own name (`_TRANSPORT`, `NOT_LEADER_FOR_PARTITION`, ...)
/// so logs and tests speak the same language as librdkafka's documentation.
public struct KafkaError: Error, CustomStringConvertible, Equatable, Sendable {
    public let code: Int32
    public let name: String
    public let message: String

    public init(code: Int32, message: String? = nil) {
        let err = rd_kafka_resp_err_t(rawValue: code)
        self.code = code
        self.name = String(cString: rd_kafka_err2name(err))
        self.message = message ?? String(cString: rd_kafka_err2str(err))
    }

    init(_ err: rd_kafka_resp_err_t, message: String? = nil) {
        self.init(code: err.rawValue, message: message)
    }

    /// Builds an error from an `rd_kafka_error_t`, taking ownership (it is destroyed here).
    init(consuming error: OpaquePointer) {
        let code = rd_kafka_error_code(error)
        let msg = String(cString: rd_kafka_error_string(error))
        rd_kafka_error_destroy(error)
        self.init(code, message: msg)
    }

    /// A configuration problem found before librdkafka even ran (bad property name or value).
    public static func configuration(_ message: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message: message)
    }

    public var description: String { "\(name): \(message)" }

    public var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }
    public var isTimedOut: Bool { code == RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue || code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue }
    /// Commit refusals while the group rebalances: the offsets stay pending and are committed later.
    public var isRebalanceRelated: Bool {
        code == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue || code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION.rawValue
            || code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID.rawValue || code == RD_KAFKA_RESP_ERR__STATE.rawValue
    }
    /// Errors that a retry cannot fix (bad config, authorization, fatal idempotence errors).
    public var isFatal: Bool {
        code == RD_KAFKA_RESP_ERR__FATAL.rawValue || code == RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
            || code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.rawValue
            || code == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED.rawValue
            || code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED.rawValue
    }

    static func check(_ err: rd_kafka_resp_err_t, _ context: @autoclosure () -> String = "") throws {
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        let ctx = context()
        let base = String(cString: rd_kafka_err2str(err))
        throw KafkaError(err, message: ctx.isEmpty ? base : "\(ctx): \(base)")
    }

    /// Name-to-code lookup over librdkafka's own table, for the broker control channel.
    public static func code(named name: String) -> Int32? {
        var descs: UnsafePointer<rd_kafka_err_desc>? = nil
        var count = 0
        rd_kafka_get_err_descs(&descs, &count)
        guard let descs else { return nil }
        let wanted = name.uppercased()
        for i in 0..<count {
            let d = descs[i]
            guard let n = d.name else { continue }
            let s = String(cString: n)
            if s == wanted || s == "_" + wanted { return d.code.rawValue }
        }
        return nil
    }
}
