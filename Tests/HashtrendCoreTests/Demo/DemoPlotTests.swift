import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import HashtrendCore

/// What the plot's SVG holds, read back with XMLParser (which also proves it well-formed).
final class SVGSummary: NSObject, XMLParserDelegate {
    var polylines: [(tag: String, points: [(Double, Double)], stroke: String)] = []
    var legendNames: [String] = []
    var tickLabels: [String] = []
    private var textClass: String?
    private var text = ""
    var rootName: String?

    static func parse(_ data: Data) throws -> SVGSummary {
        let s = SVGSummary()
        let p = XMLParser(data: data)
        p.delegate = s
        guard p.parse() else { throw p.parserError ?? NSError(domain: "svg", code: 1) }
        return s
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes a: [String: String] = [:]) {
        if rootName == nil { rootName = name }
        if name == "polyline", a["class"] == "series" {
            let pts = (a["points"] ?? "").split(separator: " ").map { pair -> (Double, Double) in
                let xy = pair.split(separator: ",")
                return (Double(xy[0]) ?? .nan, Double(xy[1]) ?? .nan)
            }
            polylines.append((a["data-tag"] ?? "", pts, a["stroke"] ?? ""))
        }
        if name == "text" { textClass = a["class"]; text = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard name == "text" else { return }
        if textClass == "legend-name" { legendNames.append(text) }
        if textClass == "tick" { tickLabels.append(text) }
        textClass = nil
    }
}

@Suite("Demo: plot")
struct DemoPlotTests {
    /// Writes windows into a table under `root` the way sinkd does (committed files, hour directories).
    private func writeTable(_ windows: [TrendWindow], root: URL, perFile: Int) throws {
        let writer = TrendsPartitionWriter(target: LocalTableTarget(root: root.path), partition: 0)
        for (i, w) in windows.enumerated() {
            try writer.append(w, offset: Int64(i))
            if (i + 1) % perFile == 0 { try writer.flush() }
        }
        try writer.flush()
    }

    /// Expected per-tag points and totals, computed from the windows directly.
    private func expected(_ windows: [TrendWindow]) -> [String: (points: Int, total: Int64, display: [String: Int])] {
        var out: [String: (points: Int, total: Int64, display: [String: Int])] = [:]
        for w in windows {
            for e in w.top {
                var v = out[e.tag] ?? (0, 0, [:])
                v.points += 1
                v.total += e.count
                v.display[e.display, default: 0] += 1
                out[e.tag] = v
            }
        }
        return out
    }

    private func plot(_ args: [String]) throws -> (status: Int32?, stderr: String) {
        let p = try ChildProcess(TestSupport.binary("hashtrend"), ["plot"] + args)
        let status = p.wait(timeout: 60)
        return (status, p.stderr)
    }

    @Test("hashtrend plot draws the top tags by total: one polyline per tag, one point per window, legend names")
    func topTags() throws {
        let root = TestSupport.tempDir("demo-plot")
        defer { try? FileManager.default.removeItem(at: root) }
        // 800 windows of 5 s from 23:30 UTC: the table spans three hour directories (and a date change).
        let windows = demoWindows(count: 800, startMillis: 1_767_223_800_000)
        try writeTable(windows, root: root, perFile: 150)
        #expect(TrendsTableReader.files(root: root.path).count >= 6)
        let out = root.appendingPathComponent("chart.svg")
        let r = try plot(["--root", root.path, "--top", "4", "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")

        let svg = try SVGSummary.parse(Data(contentsOf: out))
        #expect(svg.rootName == "svg")
        let exp = expected(windows)
        let top4 = exp.sorted { $0.value.total != $1.value.total ? $0.value.total > $1.value.total : $0.key < $1.key }.prefix(4)
        #expect(svg.polylines.map(\.tag) == top4.map(\.key))
        for (line, (tag, e)) in zip(svg.polylines, top4) {
            #expect(line.points.count == e.points, "\(tag)")
            #expect(line.points.allSatisfy { $0.0.isFinite && $0.1.isFinite })
            // x grows with window_end.
            #expect(zip(line.points, line.points.dropFirst()).allSatisfy { $0.0 < $1.0 }, "\(tag)")
        }
        let displays = top4.map { "#" + $0.value.display.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }!.key }
        #expect(svg.legendNames == displays)
        #expect(Set(svg.polylines.map(\.stroke)).count == 4)
        // Time ticks are UTC clock labels (HH:MM for this 66-minute span).
        #expect(svg.tickLabels.contains("00:00"))
    }

    @Test("--tags picks those tags (any case, with #), --from/--to bound window_end")
    func chosenTagsAndRange() throws {
        let root = TestSupport.tempDir("demo-plot")
        defer { try? FileManager.default.removeItem(at: root) }
        let start: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
        let windows = demoWindows(count: 120, startMillis: start)
        try writeTable(windows, root: root, perFile: 50)
        let from = start + 100_000, to = start + 300_000
        let inRange = windows.filter { $0.windowEndMillis >= from && $0.windowEndMillis <= to }
        let exp = expected(inRange)
        let out = root.appendingPathComponent("chosen.svg")
        let r = try plot(["--root", root.path, "--tags", "#TAG4,tag7", "--from", EventTime.format(millis: from),
                          "--to", EventTime.format(millis: to), "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let svg = try SVGSummary.parse(Data(contentsOf: out))
        #expect(svg.polylines.map(\.tag) == ["tag4", "tag7"])
        #expect(svg.polylines.map(\.points.count) == [exp["tag4"]?.points ?? 0, exp["tag7"]?.points ?? 0])
        #expect(svg.legendNames == ["#Tag4", "#tag7"])
        #expect(svg.tickLabels.contains("00:03:00"))
    }

    @Test("the chart's series: duplicates keep the row emitted last; display is the usual spelling")
    func seriesModel() {
        let rows = [
            TrendRow(windowStartMillis: 0, windowEndMillis: 60_000, rank: 1, hashtag: "a", display: "A", count: 5, score: 0, posts: 9, emittedAtMillis: 1),
            TrendRow(windowStartMillis: 0, windowEndMillis: 60_000, rank: 1, hashtag: "a", display: "A", count: 7, score: 0, posts: 9, emittedAtMillis: 2),
            TrendRow(windowStartMillis: 5_000, windowEndMillis: 65_000, rank: 1, hashtag: "a", display: "a", count: 3, score: 0, posts: 9, emittedAtMillis: 3),
            TrendRow(windowStartMillis: 10_000, windowEndMillis: 70_000, rank: 1, hashtag: "a", display: "A", count: 4, score: 0, posts: 9, emittedAtMillis: 3),
            TrendRow(windowStartMillis: 0, windowEndMillis: 60_000, rank: 2, hashtag: "b", display: "B", count: 6, score: 0, posts: 9, emittedAtMillis: 2),
        ]
        let s = TrendChart.series(from: rows, top: 1)
        #expect(s.count == 1)
        #expect(s[0].tag == "a" && s[0].display == "A")
        #expect(s[0].points.map(\.count) == [7, 3, 4])
        #expect(TrendChart.series(from: rows, tags: ["#B", "zz"]).map(\.points.count) == [1, 0])
        #expect(TrendChart.timeStep(spanMillis: 3_600_000) == 600_000)
        #expect(TrendChart.countStep(maxValue: 97) == 20)
        // Escaping keeps odd tags well-formed.
        let svg = TrendChart.svg([TrendSeries(tag: "<&>\"", display: "x<y&\u{1}", points: [(0, 1)])])
        #expect((try? SVGSummary.parse(Data(svg.utf8)))?.legendNames == ["#x<y&\u{FFFD}"])
    }
}
