import HashtrendCore

await DaemonMain.run(name: "sinkd", summary: SinkSettings.summary, specs: SinkSettings.specs) { ctx in
    let processor = try SinkProcessor(context: ctx)
    return [LoopService(name: "sinkd-loop") { try processor.run($0) }]
}
