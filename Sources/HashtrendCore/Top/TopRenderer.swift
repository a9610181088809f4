/// Turns a `TopModel` into the text `hashtrend top` prints (a pure function of the model, the width,
/// the clock and the options) or into one JSON object per refresh for machines.
public struct TopRenderer: Sendable {
    public struct Options: Sendable, Equatable {
        /// Table rows (entries of the shown window's top list).
        public var rows: Int
        /// Sparkline length in windows.
        public var history: Int
        /// Scores at or above this get the rising marker.
        public var risingScore: Double
        /// Show only final windows (never a provisional update).
        public var finalOnly: Bool
        /// Extra lines under the table (keys, connection state); nil for none.
        public var footer: [String]?

        public init(rows: Int = 20, history: Int = 12, risingScore: Double = 2, finalOnly: Bool = false,
                    footer: [String]? = nil) {
            self.rows = rows
            self.history = history
            self.risingScore = risingScore
            self.finalOnly = finalOnly
            self.footer = footer
        }
    }

    /// Lines above the table rows (window, figures, blank, column header): what `--rows` must leave room for.
    public static let headerLines = 4

    public static let sparkLevels: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    public static let risingMarker = "↑"

    /// The table as text, each line at most `width` columns, `\n`-terminated; with `color`, SGR styles.
    public static func render(_ model: TopModel, width: Int, color: Bool, now: Int64, options: Options = Options()) -> String {
        lines(model, width: width, now: now, options: options).map { $0.rendered(color: color) + "\n" }.joined()
    }

    /// The same table as styled lines (what `render` joins).
    public static func lines(_ model: TopModel, width: Int, now: Int64, options: Options = Options()) -> [StyledLine] {
        let cols = max(1, width)
        var out: [StyledLine] = []
        guard let snap = model.snapshot(rows: options.rows, history: options.history, risingScore: options.risingScore,
                                        finalOnly: options.finalOnly) else {
            var l = StyledLine()
            l.add("waiting for a window (\(model.recordsSeen) record(s) read)", .bold)
            out.append(l)
            for f in options.footer ?? [] { var fl = StyledLine(); fl.add(f, .dim); out.append(fl) }
            return out.map { $0.truncated(to: cols) }
        }
        let w = snap.window

        let lag = snap.lagMillis(now: now)
        func titleLine(dated: Bool) -> StyledLine {
            var title = StyledLine()
            title.add("window " + bounds(start: w.windowStartMillis, end: w.windowEndMillis, dated: dated), .bold)
            title.add(" (\(HTDuration(millis: snap.windowMillis)))  ")
            title.add(w.final ? "FINAL" : "PROVISIONAL", w.final ? .boldGreen : .boldYellow)
            title.add("  ")
            if lag >= 0 {
                title.add("\(age(lag)) behind", lag > snap.windowMillis ? .yellow : nil)
            } else {
                title.add("ends in \(age(-lag + 999))")
            }
            return title
        }
        // Narrow terminals lose the date before they lose the state and the lag.
        var title = titleLine(dated: true)
        if title.width > cols { title = titleLine(dated: false) }
        out.append(title)

        var figures = StyledLine()
        figures.add("posts \(w.posts) (\(fixed1(snap.postsPerSecond))/s)  distinct \(w.distinct)  late \(w.lateDropped)  emitted \(clock(w.emittedAtMillis, relativeTo: w.windowEndMillis))")
        out.append(figures)
        out.append(StyledLine())

        // Column widths from the content, then the hashtag column takes what the terminal leaves.
        let changes = snap.rows.map { change($0.change) }
        let tags = snap.rows.map { "#" + TerminalText.sanitized($0.display) }
        let counts = snap.rows.map { String($0.count) }
        let scores = snap.rows.map { fixed1($0.score) }
        let sparks = snap.rows.map { sparkline($0.history) }
        let rankW = max(4, snap.rows.map { String($0.rank).count }.max() ?? 0)
        let chgW = max(3, changes.map { TerminalText.width($0) }.max() ?? 0)
        let countW = max(5, counts.map(\.count).max() ?? 0)
        let scoreW = max(5, scores.map(\.count).max() ?? 0)
        let histW = max(7, snap.historyWindowEnds.count)
        let fixed = rankW + 2 + chgW + 2 + 2 + countW + 2 + scoreW + 1 + 1 + histW
        let tagNeed = max(7, tags.map { TerminalText.width($0) }.max() ?? 0)
        let tagW = max(7, min(tagNeed, cols - fixed))

        var header = StyledLine()
        header.add(TerminalText.pad("RANK", to: rankW, right: true) + "  " + TerminalText.pad("CHG", to: chgW) + "  "
                   + TerminalText.pad("HASHTAG", to: tagW) + "  " + TerminalText.pad("COUNT", to: countW, right: true) + "  "
                   + TerminalText.pad("SCORE", to: scoreW, right: true) + "  " + TerminalText.pad("HISTORY", to: histW), .reverse)
        out.append(header)

        for (i, r) in snap.rows.enumerated() {
            var l = StyledLine()
            l.add(TerminalText.pad(String(r.rank), to: rankW, right: true) + "  ")
            l.add(TerminalText.pad(changes[i], to: chgW), changeStyle(r.change))
            l.add("  ")
            l.add(TerminalText.pad(TerminalText.truncate(tags[i], to: tagW), to: tagW), .bold)
            l.add("  " + TerminalText.pad(counts[i], to: countW, right: true) + "  ")
            l.add(TerminalText.pad(scores[i], to: scoreW, right: true), r.rising ? .boldMagenta : nil)
            l.add(r.rising ? risingMarker : " ", r.rising ? .boldMagenta : nil)
            l.add(" ")
            l.add(sparks[i], .cyan)
            out.append(l)
        }
        if snap.rows.isEmpty {
            var l = StyledLine()
            l.add("(no hashtags in this window)", .dim)
            out.append(l)
        }
        if let footer = options.footer {
            out.append(StyledLine())
            for f in footer { var fl = StyledLine(); fl.add(f, .dim); out.append(fl) }
        }
        return out.map { $0.truncated(to: cols) }
    }

    /// One JSON object (one line, no trailing newline) with the data of one refresh; nil before any window.
    public static func json(_ model: TopModel, now: Int64, options: Options = Options()) -> String? {
        guard let snap = model.snapshot(rows: options.rows, history: options.history, risingScore: options.risingScore,
                                        finalOnly: options.finalOnly) else { return nil }
        let w = snap.window
        var o: [UInt8] = []
        func raw(_ s: String) { o += Array(s.utf8) }
        func str(_ s: String) { appendJSONString(s, to: &o) }
        func time(_ t: Int64) { str(EventTime.format(millis: t)) }
        raw(#"{"v":1,"now":"#); time(now)
        raw(#","window_start":"#); time(w.windowStartMillis)
        raw(#","window_end":"#); time(w.windowEndMillis)
        raw(#","window_seconds":"#); raw(formatScore(Double(snap.windowMillis) / 1000))
        raw(#","final":"#); raw(w.final ? "true" : "false")
        raw(#","emitted_at":"#); time(w.emittedAtMillis)
        raw(#","lag_ms":"#); raw(String(snap.lagMillis(now: now)))
        raw(#","posts":"#); raw(String(w.posts))
        raw(#","posts_per_second":"#); raw(formatScore(snap.postsPerSecond))
        raw(#","distinct":"#); raw(String(w.distinct))
        raw(#","late_dropped":"#); raw(String(w.lateDropped))
        raw(#","previous_window_end":"#)
        if let p = snap.previousWindowEnd { time(p) } else { raw("null") }
        raw(#","history_window_ends":["#)
        for (i, e) in snap.historyWindowEnds.enumerated() { if i > 0 { raw(",") }; time(e) }
        raw(#"],"rows":["#)
        for (i, r) in snap.rows.enumerated() {
            if i > 0 { raw(",") }
            raw(#"{"rank":"#); raw(String(r.rank))
            raw(#","tag":"#); str(r.tag)
            raw(#","display":"#); str(r.display)
            raw(#","count":"#); raw(String(r.count))
            raw(#","score":"#); raw(formatScore(r.score))
            raw(#","rising":"#); raw(r.rising ? "true" : "false")
            raw(#","change":"#)
            switch r.change {
            case .up: raw(#""up""#)
            case .down: raw(#""down""#)
            case .same: raw(#""same""#)
            case .new: raw(#""new""#)
            case .unknown: raw("null")
            }
            raw(#","rank_change":"#)
            switch r.change {
            case .up(let n): raw(String(n))
            case .down(let n): raw(String(-n))
            case .same: raw("0")
            case .new, .unknown: raw("null")
            }
            raw(#","history":["#)
            for (j, c) in r.history.enumerated() { if j > 0 { raw(",") }; raw(c.map { String($0) } ?? "null") }
            raw(#"],"sparkline":"#); str(sparkline(r.history))
            raw("}")
        }
        raw("]}")
        return String(decoding: o, as: UTF8.self)
    }

    // MARK: - Cells

    /// `▲3`, `▼1`, `NEW`, `=`, or empty when there is no previous window to compare with.
    public static func change(_ c: RankChange) -> String {
        switch c {
        case .up(let n): return "▲\(n)"
        case .down(let n): return "▼\(n)"
        case .same: return "="
        case .new: return "NEW"
        case .unknown: return ""
        }
    }

    static func changeStyle(_ c: RankChange) -> TextStyle? {
        switch c {
        case .up: return .boldGreen
        case .down: return .boldRed
        case .same: return .dim
        case .new: return .boldCyan
        case .unknown: return nil
        }
    }

    /// One character per window, scaled to the tag's own maximum over the shown windows (so the shape
    /// of each tag's curve shows, whatever its size); a space where the tag was not in the top list.
    public static func sparkline(_ counts: [Int64?]) -> String {
        let peak = counts.compactMap { $0 }.max() ?? 0
        var s = ""
        for c in counts {
            guard let c else { s.append(" "); continue }
            guard peak > 0, c > 0 else { s.append(sparkLevels[0]); continue }
            let level = min(7, max(0, Int((c * 8 - 1) / peak)))
            s.append(sparkLevels[level])
        }
        return s
    }

    /// A duration to the second: `12s`, `4m05s`, `2h03m`, `3d04h`.
    public static func age(_ millis: Int64) -> String {
        let s = max(0, millis) / 1000
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : String(v) }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h\(two(s / 60 % 60))m" }
        return "\(s / 86400)d\(two(s / 3600 % 24))h"
    }

    /// One decimal, rounded half away from zero: `3.2`, `-0.5`, `120.0`.
    public static func fixed1(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        let t = Int64((x * 10).rounded())
        let m = t.magnitude
        return (t < 0 ? "-" : "") + "\(m / 10).\(m % 10)"
    }

    /// `2026-01-01 00:00:40 - 00:01:40 UTC` (the date once when both ends share it), or without the date.
    static func bounds(start: Int64, end: Int64, dated: Bool = true) -> String {
        let a = EventTime.format(millis: start), b = EventTime.format(millis: end)
        let (da, ta) = dateAndTime(a), (db, tb) = dateAndTime(b)
        if !dated { return "\(ta) - \(tb) UTC" }
        return da == db ? "\(da) \(ta) - \(tb) UTC" : "\(da) \(ta) - \(db) \(tb) UTC"
    }

    /// Time of day, with the date only when it differs from the reference's.
    static func clock(_ t: Int64, relativeTo ref: Int64) -> String {
        let (d, tt) = dateAndTime(EventTime.format(millis: t))
        let (rd, _) = dateAndTime(EventTime.format(millis: ref))
        return d == rd ? tt : "\(d) \(tt)"
    }

    /// `2026-01-01T00:00:40.000Z` -> (`2026-01-01`, `00:00:40`), keeping milliseconds only when non-zero.
    private static func dateAndTime(_ s: String) -> (String, String) {
        let u = Array(s.utf8)
        let date = String(decoding: u[0..<10], as: UTF8.self)
        let ms = String(decoding: u[19..<23], as: UTF8.self)
        let time = String(decoding: u[11..<19], as: UTF8.self) + (ms == ".000" ? "" : ms)
        return (date, time)
    }
}
