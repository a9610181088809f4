import ArgumentParser
import Foundation
import HashtrendCore

/// Where the tools find Kafka: `--brokers`, or the address file `hashtrend broker` wrote.
struct KafkaClientOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (default: $HASHTREND_BROKERS, else localhost:9092).")
    var brokers: String?

    @Option(help: "Read the bootstrap address from this file (as written by `hashtrend broker --bootstrap-file`).")
    var bootstrapFile: String?

    @Option(name: .customLong("kafka"), help: "A librdkafka property, key=value (repeatable).")
    var kafka: [String] = []

    func config() throws -> KafkaConfig {
        let level = ProcessInfo.processInfo.environment["HASHTREND_LOG_LEVEL"].flatMap(LogSetup.parseLevel) ?? .info
        LogSetup.bootstrap(identifier: "hashtrend", level: level)
        var props: [String: String] = [:]
        for (k, v) in ProcessInfo.processInfo.environment {
            if let p = KafkaConfig.propertyName(forVariable: k) { props[p] = v }
        }
        if let file = bootstrapFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("cannot read the bootstrap file \(file)")
            }
            props["bootstrap.servers"] = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let b = brokers ?? ProcessInfo.processInfo.environment["HASHTREND_BROKERS"] {
            props["bootstrap.servers"] = b
        } else if props["bootstrap.servers"] == nil {
            props["bootstrap.servers"] = "localhost:9092"
        }
        for a in kafka {
            guard let (k, v) = KafkaConfig.parseAssignment(a) else { throw ValidationError("--kafka '\(a)': expected key=value") }
            props[k] = v
        }
        return KafkaConfig(props)
    }
}

func stderrLine(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
