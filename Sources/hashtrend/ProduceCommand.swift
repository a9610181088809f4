import ArgumentParser
import Foundation
import HashtrendCore
import Logging
import Synchronization

struct ProduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce lines of a file (or stdin) as records, with the idempotent producer.",
        discussion: "With --key-separator, the text before the first separator of each line is the key and the rest the value.")

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "Topic to produce to.")
    var topic: String

    @Option(help: "Split each line into key and value at the first occurrence of this string (e.g. a tab: $'\\t').")
    var keySeparator: String?

    @Argument(help: "Input file; - or nothing for standard input.")
    var file: String = "-"

    func run() throws {
        let failed = Atomic<Int>(0)
        let firstError = Mutex<String?>(nil)
        let producer = try KafkaProducer(config: try kafka.config(), logger: Logger(label: "hashtrend.produce")) { report in
            if let e = report.error {
                failed.add(1, ordering: .relaxed)
                firstError.withLock { if $0 == nil { $0 = e.description } }
            }
        }
        let reader = try LineReader(path: file)
        let sep = keySeparator.map { Array($0.utf8) }
        var count = 0
        while let line = try reader.next() {
            var key: [UInt8]? = nil
            var value = line
            if let sep, let r = line.firstRange(of: sep) {
                key = Array(line[..<r.lowerBound])
                value = Array(line[r.upperBound...])
            }
            while true {
                do {
                    try producer.produce(topic: topic, key: key, value: value)
                    break
                } catch let e as KafkaError where e.isQueueFull {
                    Thread.sleep(forTimeInterval: 0.005)
                }
            }
            count += 1
        }
        producer.close(timeout: .seconds(300))
        let f = failed.load(ordering: .relaxed)
        stderrLine("hashtrend produce: \(count) record(s) to \(topic), \(producer.deliveredCount) delivered, \(f) failed")
        if f > 0 || producer.deliveredCount != Int64(count) {
            throw ValidationError("not every record was delivered: \(firstError.withLock { $0 } ?? "flush timed out")")
        }
    }
}
