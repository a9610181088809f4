import ArgumentParser
import HashtrendCore

@main
struct Hashtrend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hashtrend",
        abstract: "The Hashtrend operator's tool: embedded broker, topics, produce/consume, offline tools.",
        version: HashtrendVersion.string,
        subcommands: [
            BrokerCommand.self,
            TopicsCommand.self,
            ProduceCommand.self,
            ConsumeCommand.self,
            TopCommand.self,
            DemoCommand.self,
            PlotCommand.self,
            GenerateCommand.self,
            ExtractCommand.self,
            TrendsCommand.self,
            SinkCommand.self,
            BenchHotpathCommand.self,
            BenchParquetCommand.self,
        ]
    )

    static func main() async {
        ProcessSignals.unblockTermination()
        await Self.main(nil)
    }
}
