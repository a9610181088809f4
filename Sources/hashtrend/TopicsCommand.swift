import ArgumentParser
import Foundation
import HashtrendCore

struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "List topics with their partition counts, or create topics.")

    @OptionGroup var kafka: KafkaClientOptions

    @Option(name: .customLong("create"), help: "Create a topic, name:partitions (repeatable); existing ones are left as they are.")
    var create: [String] = []

    @Option(help: "How long to wait for the cluster.")
    var timeout: String = "10s"

    func run() throws {
        let config = try kafka.config()
        let t = try HTDuration(parsing: timeout)
        for spec in create {
            let (name, n) = try BrokerCommand.parseTopic(spec)
            try KafkaAdmin.createTopic(config: config, name: name, partitions: n, timeout: t)
        }
        let topics = try KafkaAdmin.listTopics(config: config, timeout: t)
        for (name, n) in topics.sorted(by: { $0.key < $1.key }) { print("\(name)\t\(n)") }
    }
}
