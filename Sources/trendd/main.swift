import HashtrendCore

await DaemonMain.run(name: "trendd", summary: TrendSettings.summary, specs: TrendSettings.specs) { ctx in
    let processor = try TrendProcessor(context: ctx)
    return [LoopService(name: "trendd-loop") { try processor.run($0) }]
}
