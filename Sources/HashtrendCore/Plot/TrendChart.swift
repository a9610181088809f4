import Foundation

/// One hashtag's counts over window ends, as drawn by TrendChart.
public struct TrendSeries: Sendable, Equatable {
    public var tag: String
    /// The spelling seen in most of the tag's windows.
    public var display: String
    /// (window_end, count), ascending by window_end; only windows whose top list holds the tag.
    public var points: [(millis: Int64, count: Int64)]
    public var total: Int64 { points.reduce(0) { $0 + $1.count } }

    public init(tag: String, display: String, points: [(millis: Int64, count: Int64)]) {
        self.tag = tag
        self.display = display
        self.points = points
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.tag == b.tag && a.display == b.display && a.points.elementsEqual(b.points) { $0 == $1 }
    }
}

/// An SVG line chart of tag counts over window_end (`hashtrend plot`).
public enum TrendChart {
    /// The counting key of a user's tag: without `#`/`＃`, NFC, lower-cased (as trendd counts it).
    public static func key(_ tag: String) -> String {
        var t = Substring(tag.trimmingCharacters(in: .whitespaces))
        if t.hasPrefix("#") || t.hasPrefix("＃") { t = t.dropFirst() }
        return String(t).precomposedStringWithCanonicalMapping.lowercased()
    }

    /// Builds the series: `tags` in the order given, else the `top` tags by total count (ties by tag).
    /// Rows outside `[fromMillis, toMillis]` (by window_end) are left out; when a window appears more than
    /// once (re-emitted), the row emitted last wins.
    public static func series(from rows: [TrendRow], tags: [String]? = nil, top: Int = 10,
                              fromMillis: Int64? = nil, toMillis: Int64? = nil) -> [TrendSeries] {
        struct Key: Hashable { let tag: String; let end: Int64 }
        var latest: [Key: TrendRow] = [:]
        for r in rows {
            if let f = fromMillis, r.windowEndMillis < f { continue }
            if let t = toMillis, r.windowEndMillis > t { continue }
            let k = Key(tag: r.hashtag, end: r.windowEndMillis)
            if let old = latest[k], old.emittedAtMillis > r.emittedAtMillis { continue }
            latest[k] = r
        }
        var byTag: [String: [TrendRow]] = [:]
        for r in latest.values { byTag[r.hashtag, default: []].append(r) }
        let chosen: [String]
        if let tags {
            var seen = Set<String>()
            chosen = tags.map(key).filter { !$0.isEmpty && seen.insert($0).inserted }
        } else {
            let totals = byTag.mapValues { $0.reduce(Int64(0)) { $0 + $1.count } }
            chosen = totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(max(0, top)).map(\.key)
        }
        return chosen.map { tag in
            let rs = (byTag[tag] ?? []).sorted { $0.windowEndMillis < $1.windowEndMillis }
            var spellings: [String: Int] = [:]
            for r in rs { spellings[r.display, default: 0] += 1 }
            let display = spellings.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key ?? tag
            return TrendSeries(tag: tag, display: display, points: rs.map { ($0.windowEndMillis, $0.count) })
        }
    }

    /// Series colours: ten well-separated hues, then golden-angle hues for any further series.
    public static func color(_ i: Int) -> String {
        let base = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        if i < base.count { return base[i] }
        let hue = (Double(i) * 137.508).truncatingRemainder(dividingBy: 360)
        return "hsl(\(Int(hue)),65%,45%)"
    }

    /// Time tick spacing: the smallest step in this list giving at most `maxTicks` ticks.
    static func timeStep(spanMillis: Int64, maxTicks: Int = 8) -> Int64 {
        let s: Int64 = 1000, m = 60 * s, h = 60 * m, d = 24 * h
        let steps: [Int64] = [s, 2 * s, 5 * s, 10 * s, 15 * s, 30 * s, m, 2 * m, 5 * m, 10 * m, 15 * m, 30 * m,
                              h, 2 * h, 3 * h, 6 * h, 12 * h, d, 2 * d, 7 * d, 14 * d, 28 * d]
        for st in steps where spanMillis / st <= Int64(maxTicks) { return st }
        let last = steps.last!
        return last * max(1, (spanMillis / last) / Int64(maxTicks) + 1)
    }

    /// Count tick spacing: 1, 2 or 5 times a power of ten, about five ticks up to `maxValue`.
    static func countStep(maxValue: Int64) -> Int64 {
        let raw = max(1.0, Double(maxValue) / 5)
        var mag: Int64 = 1
        while Double(mag) * 10 <= raw { mag *= 10 }
        for f: Int64 in [1, 2, 5, 10] where Double(f * mag) >= raw { return f * mag }
        return 10 * mag
    }

    static func escape(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&apos;"
            default:
                // XML 1.0 forbids most control characters even when escaped.
                if u.value < 0x20 && u != "\t" && u != "\n" { o += "\u{FFFD}" } else { o.unicodeScalars.append(u) }
            }
        }
        return o
    }

    private static func fmt(_ v: Double) -> String {
        String(format: "%.1f", v)
    }

    /// The chart as a standalone SVG document. Each series is one `<polyline class="series">` with
    /// `data-tag` set to the counting key; the legend lists `#display` and the total per series.
    public static func svg(_ series: [TrendSeries], title: String = "Hashtag counts per window",
                           width: Int = 1000, height: Int = 560) -> String {
        let legendWidth = 220.0
        let left = 70.0, right = legendWidth + 20, top = 50.0, bottom = 60.0
        let w = Double(width), h = Double(height)
        let plotW = max(50, w - left - right), plotH = max(50, h - top - bottom)
        let allPoints = series.flatMap(\.points)
        var minT = allPoints.map(\.millis).min() ?? 0
        var maxT = allPoints.map(\.millis).max() ?? 60_000
        if maxT <= minT { minT -= 30_000; maxT += 30_000 }
        let maxCount = max(1, allPoints.map(\.count).max() ?? 1)
        let yStep = countStep(maxValue: maxCount)
        let yMax = ((maxCount + yStep - 1) / yStep) * yStep
        func x(_ t: Int64) -> Double { left + Double(t - minT) / Double(maxT - minT) * plotW }
        func y(_ c: Int64) -> Double { top + plotH - Double(c) / Double(yMax) * plotH }

        var o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        o += "<text x=\"\(fmt(left))\" y=\"28\" font-size=\"16\" font-weight=\"bold\">\(escape(title))</text>\n"

        // Y axis: grid lines and labels.
        o += "<g class=\"y-axis\" stroke=\"#ddd\">\n"
        var c: Int64 = 0
        while c <= yMax {
            let yy = fmt(y(c))
            o += "<line x1=\"\(fmt(left))\" y1=\"\(yy)\" x2=\"\(fmt(left + plotW))\" y2=\"\(yy)\"/>"
            o += "<text class=\"tick\" x=\"\(fmt(left - 8))\" y=\"\(yy)\" dy=\"4\" text-anchor=\"end\" stroke=\"none\" fill=\"#333\">\(c)</text>\n"
            c += yStep
        }
        o += "</g>\n"
        o += "<text x=\"18\" y=\"\(fmt(top + plotH / 2))\" transform=\"rotate(-90 18 \(fmt(top + plotH / 2)))\" text-anchor=\"middle\" fill=\"#333\">posts per window (count)</text>\n"

        // X axis: UTC ticks aligned to the step.
        let step = timeStep(spanMillis: maxT - minT)
        o += "<g class=\"x-axis\" stroke=\"#ddd\">\n"
        var t = ((minT + step - 1) / step) * step
        while t <= maxT {
            let iso = EventTime.format(millis: t)  // 2026-01-01T00:00:00.000Z
            let label: String
            if step >= 86_400_000 { label = String(iso.prefix(10)) }
            else if step >= 60_000 { label = String(iso.dropFirst(11).prefix(5)) }
            else { label = String(iso.dropFirst(11).prefix(8)) }
            let xx = fmt(x(t))
            o += "<line x1=\"\(xx)\" y1=\"\(fmt(top))\" x2=\"\(xx)\" y2=\"\(fmt(top + plotH))\"/>"
            o += "<text class=\"tick\" x=\"\(xx)\" y=\"\(fmt(top + plotH + 18))\" text-anchor=\"middle\" stroke=\"none\" fill=\"#333\">\(label)</text>\n"
            t += step
        }
        o += "</g>\n"
        let firstDay = String(EventTime.format(millis: minT).prefix(10)), lastDay = String(EventTime.format(millis: maxT).prefix(10))
        let days = firstDay == lastDay ? firstDay : "\(firstDay) – \(lastDay)"
        o += "<text x=\"\(fmt(left + plotW / 2))\" y=\"\(fmt(h - 16))\" text-anchor=\"middle\" fill=\"#333\">window end (UTC), \(days)</text>\n"
        o += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(plotW))\" height=\"\(fmt(plotH))\" fill=\"none\" stroke=\"#888\"/>\n"

        // Series, then the legend. Point markers only on short series (and on lone points, which a
        // polyline alone would not show), the same for all series so none looks special.
        let markAll = series.allSatisfy { $0.points.count <= 60 }
        for (i, s) in series.enumerated() {
            let colour = color(i)
            let pts = s.points.map { "\(fmt(x($0.millis))),\(fmt(y($0.count)))" }.joined(separator: " ")
            o += "<polyline class=\"series\" data-tag=\"\(escape(s.tag))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"\(pts)\"/>\n"
            if markAll || s.points.count == 1 {
                o += "<g class=\"markers\" fill=\"\(colour)\">"
                for p in s.points { o += "<circle cx=\"\(fmt(x(p.millis)))\" cy=\"\(fmt(y(p.count)))\" r=\"2.5\"/>" }
                o += "</g>\n"
            }
        }
        let lx = left + plotW + 20
        o += "<g class=\"legend\">\n"
        for (i, s) in series.enumerated() {
            let ly = top + 10 + Double(i) * 20
            o += "<line x1=\"\(fmt(lx))\" y1=\"\(fmt(ly))\" x2=\"\(fmt(lx + 22))\" y2=\"\(fmt(ly))\" stroke=\"\(color(i))\" stroke-width=\"3\"/>"
            o += "<text class=\"legend-name\" x=\"\(fmt(lx + 30))\" y=\"\(fmt(ly))\" dy=\"4\" fill=\"#222\">#\(escape(s.display))</text>"
            o += "<text x=\"\(fmt(w - 10))\" y=\"\(fmt(ly))\" dy=\"4\" text-anchor=\"end\" fill=\"#666\">\(s.total)</text>\n"
        }
        if series.isEmpty {
            o += "<text x=\"\(fmt(left + plotW / 2))\" y=\"\(fmt(top + plotH / 2))\" text-anchor=\"middle\" fill=\"#999\">no data</text>\n"
        }
        o += "</g>\n</svg>\n"
        return o
    }
}
