import HashtrendCore

await DaemonMain.run(name: "ingestd", summary: IngestSettings.summary, specs: IngestSettings.specs) { ctx in
    let processor = try IngestProcessor(context: ctx)
    return [LoopService(name: "ingestd-loop") { try processor.run($0) }]
}
