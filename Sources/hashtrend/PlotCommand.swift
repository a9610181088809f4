import ArgumentParser
import Foundation
import HashtrendCore

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw an SVG line chart of hashtag counts over window_end from a local trends table.",
        discussion: """
        Reads <root>/trends/**/*.parquet (the files sinkd writes) with Hashtrend's own Parquet reader, so \
        neither Python nor Arrow is needed. Without --tags it draws the --top tags by total count over the \
        selected windows. A tag's line joins the windows whose top list holds it. See docs/demo.md.
        """)

    @Option(help: "Table root (the directory given to sinkd --root, e.g. ./demo-data).")
    var root: String

    @Option(help: "Comma-separated hashtags to draw (with or without #; matched case-insensitively).")
    var tags: String?

    @Option(help: "Without --tags: how many tags to draw, by total count.")
    var top: Int = 10

    @Option(help: "Only windows ending at or after this time (RFC 3339).")
    var from: String?

    @Option(help: "Only windows ending at or before this time (RFC 3339).")
    var to: String?

    @Option(help: "Output SVG file (- for standard output).")
    var out: String = "trends.svg"

    @Option(help: "Chart title.")
    var title: String?

    @Option(help: "Image width in pixels.")
    var width: Int = 1000

    @Option(help: "Image height in pixels.")
    var height: Int = 560

    func validate() throws {
        if let from, EventTime.parse(from) == nil { throw ValidationError("--from must be RFC 3339, e.g. 2026-01-01T00:00:00Z") }
        if let to, EventTime.parse(to) == nil { throw ValidationError("--to must be RFC 3339, e.g. 2026-01-01T00:00:00Z") }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard width >= 200, height >= 150 else { throw ValidationError("--width must be at least 200 and --height at least 150") }
    }

    func run() throws {
        let files = TrendsTableReader.files(root: root)
        guard !files.isEmpty else {
            FileHandle.standardError.write(Data("hashtrend plot: no Parquet files under \(root)/trends/\n".utf8))
            throw ExitCode(1)
        }
        var rows: [TrendRow] = []
        for f in files {
            do { rows.append(contentsOf: try TrendsTableReader.rows(file: f)) } catch {
                FileHandle.standardError.write(Data("hashtrend plot: \(f): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let tagList = tags.map { $0.split(separator: ",").map(String.init) }
        let series = TrendChart.series(from: rows, tags: tagList, top: top,
                                       fromMillis: from.flatMap(EventTime.parse), toMillis: to.flatMap(EventTime.parse))
        let svg = TrendChart.svg(series, title: title ?? "Hashtag counts per window (\(root))", width: width, height: height)
        if out == "-" {
            FileHandle.standardOutput.write(Data(svg.utf8))
        } else {
            try Data(svg.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            let points = series.reduce(0) { $0 + $1.points.count }
            FileHandle.standardError.write(Data("hashtrend plot: \(files.count) file(s), \(rows.count) row(s); \(series.count) series, \(points) point(s) -> \(out)\n".utf8))
        }
    }
}
