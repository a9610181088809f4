import CRdKafka
import Foundation

/// librdkafka properties, passed through verbatim. Hashtrend's own defaults are applied first, then
/// whatever the operator set (`KAFKA_*` variables, `--kafka key=value`), so the operator always wins.
public struct KafkaConfig: Sendable, Equatable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }

    /// Returns a copy where `defaults` fill only what is not set.
    public func withDefaults(_ defaults: [String: String]) -> KafkaConfig {
        KafkaConfig(properties.merging(defaults) { mine, _ in mine })
    }

    /// `KAFKA_BOOTSTRAP_SERVERS` -> `bootstrap.servers`: the documented mapping for environment variables.
    public static func propertyName(forVariable name: String) -> String? {
        guard name.hasPrefix("KAFKA_"), name.count > 6 else { return nil }
        return name.dropFirst(6).lowercased().replacingOccurrences(of: "_", with: ".")
    }

    /// Parses `key=value` (the `--kafka` flag).
    public static func parseAssignment(_ text: String) -> (String, String)? {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { return nil }
        return (String(text[..<eq]).trimmingCharacters(in: .whitespaces), String(text[text.index(after: eq)...]))
    }

    /// Builds an `rd_kafka_conf_t`; every property is validated by librdkafka itself and the first
    /// rejection becomes an error naming the property.
    func makeConf() throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.configuration("rd_kafka_conf_new failed") }
        var errbuf = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let res = rd_kafka_conf_set(conf, key, value, &errbuf, errbuf.count)
            if res != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let detail = errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw KafkaError.configuration("property '\(key)': \(detail)")
            }
        }
        return conf
    }
}

extension KafkaConfig {
    /// A producer built from a daemon's shared properties must not carry consumer-only ones.
    public func removingConsumerProperties() -> KafkaConfig {
        let consumerOnly: Set<String> = ["group.id", "group.instance.id", "session.timeout.ms", "heartbeat.interval.ms",
                                         "partition.assignment.strategy", "auto.offset.reset", "enable.auto.commit",
                                         "isolation.level", "max.poll.interval.ms", "enable.auto.offset.store",
                                         "fetch.min.bytes", "fetch.wait.max.ms", "enable.partition.eof"]
        return KafkaConfig(properties.filter { !consumerOnly.contains($0.key) })
    }
}
