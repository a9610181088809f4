import CRdKafka
import Foundation
import Logging

/// librdkafka's mock cluster: a local Kafka-protocol broker for demos and tests (DESIGN.md, "The
/// embedded default"). It keeps about 5 MiB per partition, so it is not for production data.
public final class EmbeddedBroker: @unchecked Sendable {
    private let rk: OpaquePointer
    private let cluster: OpaquePointer
    private let lock = NSLock()
    public let nodes: Int
    public let bootstrapServers: String

    public init(nodes: Int = 1, topics: [(String, Int)] = []) throws {
        guard nodes >= 1 else { throw KafkaError.configuration("--nodes must be at least 1") }
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.configuration("rd_kafka_conf_new failed") }
        // The mock cluster needs a client handle to live in; it is never used to produce.
        var errbuf = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_conf_set(conf, "log_level", "3", &errbuf, errbuf.count)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errbuf, errbuf.count) else {
            throw KafkaError.configuration(errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        guard let cluster = rd_kafka_mock_cluster_new(rk, Int32(nodes)) else {
            rd_kafka_destroy(rk)
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "could not start the mock cluster")
        }
        self.rk = rk
        self.cluster = cluster
        self.nodes = nodes
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        for (name, partitions) in topics { try createTopic(name, partitions: partitions) }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(rk)
    }

    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        guard partitions >= 1 else { throw KafkaError.configuration("topic \(name): partitions must be at least 1") }
        try locked {
            try KafkaError.check(rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(min(replicationFactor, nodes))), "create topic \(name)")
        }
    }

    public func setBrokerDown(_ id: Int32) throws {
        try locked { try KafkaError.check(rd_kafka_mock_broker_set_down(cluster, id), "broker \(id) down") }
    }

    public func setBrokerUp(_ id: Int32) throws {
        try locked { try KafkaError.check(rd_kafka_mock_broker_set_up(cluster, id), "broker \(id) up") }
    }

    /// Adds `rtt` of round-trip delay to every request of broker `id`.
    public func setRoundTripTime(_ id: Int32, _ rtt: HTDuration) throws {
        try locked { try KafkaError.check(rd_kafka_mock_broker_set_rtt(cluster, id, Int32(clamping: rtt.millis)), "broker \(id) rtt") }
    }

    /// Makes the next `errors.count` requests of API `apiKey` fail with those errors, in order.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        var errs = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        lock.lock(); defer { lock.unlock() }
        errs.withUnsafeMutableBufferPointer {
            rd_kafka_mock_push_request_errors_array(cluster, apiKey, $0.count, $0.baseAddress)
        }
    }

    public func clearRequestErrors(apiKey: Int16) {
        lock.lock(); defer { lock.unlock() }
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }

    /// Kafka API keys by name, for the control channel.
    public static let apiKeys: [String: Int16] = [
        "produce": 0, "fetch": 1, "listoffsets": 2, "metadata": 3, "offsetcommit": 8, "offsetfetch": 9,
        "findcoordinator": 10, "joingroup": 11, "heartbeat": 12, "leavegroup": 13, "syncgroup": 14,
        "apiversions": 18, "createtopics": 19, "initproducerid": 22,
    ]

    /// Executes one control-channel command (docs/broker.md) and returns the reply line.
    ///
    ///     down <broker-id>            up <broker-id>
    ///     rtt <broker-id> <duration>  errors <api> <ERROR_NAME> [<ERROR_NAME>...]
    ///     clear <api>                 topic <name> <partitions>
    ///     bootstrap                   help
    public func execute(_ line: String) -> String {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first?.lowercased() else { return "error empty command" }
        do {
            switch (verb, words.count) {
            case ("down", 2): try setBrokerDown(try brokerID(words[1]))
            case ("up", 2): try setBrokerUp(try brokerID(words[1]))
            case ("rtt", 3): try setRoundTripTime(try brokerID(words[1]), try HTDuration(parsing: words[2]))
            case ("errors", 3...):
                guard let api = Self.apiKeys[words[1].lowercased()] else { return "error unknown api '\(words[1])' (one of \(Self.apiKeys.keys.sorted().joined(separator: ", ")))" }
                var codes: [Int32] = []
                for name in words[2...] {
                    guard let c = KafkaError.code(named: name) else { return "error unknown error name '\(name)'" }
                    codes.append(c)
                }
                pushRequestErrors(apiKey: api, errors: codes)
            case ("clear", 2):
                guard let api = Self.apiKeys[words[1].lowercased()] else { return "error unknown api '\(words[1])'" }
                clearRequestErrors(apiKey: api)
            case ("topic", 3):
                guard let n = Int(words[2]) else { return "error partitions must be a number" }
                try createTopic(words[1], partitions: n)
            case ("bootstrap", 1): return "ok \(bootstrapServers)"
            case ("help", 1): return "ok commands: down ID | up ID | rtt ID DURATION | errors API ERROR... | clear API | topic NAME PARTITIONS | bootstrap"
            default: return "error unknown command '\(line)' (try 'help')"
            }
            return "ok"
        } catch {
            return "error \(error)"
        }
    }

    private func brokerID(_ s: String) throws -> Int32 {
        guard let id = Int32(s), id >= 1, id <= nodes else {
            throw KafkaError.configuration("broker id '\(s)' is not between 1 and \(nodes)")
        }
        return id
    }
}
