import Foundation
import Testing
@testable import HashtrendCore

@Suite struct TopRendererTests {
    typealias F = TopFixture

    /// Removes SGR sequences.
    static func stripSGR(_ s: String) -> String {
        s.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
    }

    @Test func plainTableMatchesTheWorkedExample() {
        let text = TopRenderer.render(F.model(), width: 80, color: false, now: F.now)
        #expect(text == F.expectedTable)
        #expect(!text.contains("\u{1B}"))
    }

    @Test func colourAddsStylesButNotLayout() {
        let plain = TopRenderer.render(F.model(), width: 80, color: false, now: F.now)
        let coloured = TopRenderer.render(F.model(), width: 80, color: true, now: F.now)
        #expect(coloured != plain)
        #expect(coloured.hasPrefix("\u{1B}[1mwindow 2026-01-01 00:00:40 - 00:01:40 UTC\u{1B}[0m (1m)  \u{1B}[1;33mPROVISIONAL\u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[1;32m▲1 \u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[1;31m▼1 \u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[1;36mNEW\u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[36m▄▇█\u{1B}[0m"))
        let stripped = Self.stripSGR(coloured).split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.replacingOccurrences(of: " +$", with: "", options: .regularExpression) }
        #expect(stripped.joined(separator: "\n") == plain)
    }

    @Test func finalWindowAndClockCells() throws {
        var m = F.model()
        var w3final = F.w3
        w3final.final = true
        m.feed(w3final)
        let late = TopRenderer.render(m, width: 120, color: false, now: F.t("00:01:40") + 3_725_000)
        let first = try #require(late.split(separator: "\n").first)
        #expect(first.hasSuffix("FINAL  1h02m behind"))
        let open = TopRenderer.render(m, width: 120, color: false, now: F.t("00:01:33"))
        #expect(open.split(separator: "\n").first?.hasSuffix("FINAL  ends in 7s") == true)
        let soon = TopRenderer.render(m, width: 120, color: false, now: F.t("00:01:39") + 400)
        #expect(soon.split(separator: "\n").first?.hasSuffix("FINAL  ends in 1s") == true, "rounded up")
        let due = TopRenderer.render(m, width: 120, color: false, now: F.t("00:01:40"))
        #expect(due.split(separator: "\n").first?.hasSuffix("FINAL  0s behind") == true)
        #expect(TopRenderer.age(0) == "0s")
        #expect(TopRenderer.age(59_999) == "59s")
        #expect(TopRenderer.age(245_000) == "4m05s")
        #expect(TopRenderer.age(2 * 86_400_000 + 3_600_000) == "2d01h")
        #expect(TopRenderer.fixed1(-0.25) == "-0.3")
        #expect(TopRenderer.fixed1(120) == "120.0")
        #expect(TopRenderer.fixed1(0.04) == "0.0")
    }

    @Test func everyLineFitsTheWidth() {
        var m = F.model()
        var w = F.w3
        w.top[1].display = "AVeryLongHashtagThatWouldNeverFitIntoANarrowTerminalWindow"
        w.top[3].display = "東京オリンピック東京オリンピック東京オリンピック"
        m.feed(w)
        for width in [20, 33, 43, 57, 60, 80, 200] {
            let text = TopRenderer.render(m, width: width, color: false, now: F.now)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            #expect(lines.count == 9)
            for l in lines {
                #expect(TerminalText.width(l) <= width, "width \(width): \(l)")
            }
            if width == 43 {
                // The hashtag column shrinks first: 43 - the other columns (34) leaves 9 columns.
                #expect(lines[5] == "   2  ▲1   #AVeryLo…     24    2.5↑  ▄█")
                #expect(lines[7] == "   4  NEW  #東京オ…       6    0.0    █")
            }
            if width == 60 {
                // The date goes first, so the state and the lag stay visible.
                #expect(lines[0] == "window 00:00:40 - 00:01:40 UTC (1m)  PROVISIONAL  10s behind")
            }
            if width == 200 {
                #expect(lines[5].contains("#AVeryLongHashtagThatWouldNeverFitIntoANarrowTerminalWindow  "))
            }
            if width == 20 { #expect(lines[0] == "window 00:00:40 - 0…") }
            if width == 80 { #expect(lines[0] == "window 2026-01-01 00:00:40 - 00:01:40 UTC (1m)  PROVISIONAL  10s behind") }
        }
        let coloured = TopRenderer.render(m, width: 30, color: true, now: F.now)
        for l in coloured.split(separator: "\n") {
            #expect(TerminalText.width(Self.stripSGR(String(l))) <= 30)
        }
    }

    @Test func displayWidths() {
        #expect(TerminalText.width("abc") == 3)
        #expect(TerminalText.width("東京") == 4)
        #expect(TerminalText.width("🇯🇵") == 2)
        #expect(TerminalText.width("👩‍💻") == 2)
        #expect(TerminalText.width("e\u{301}") == 1)
        #expect(TerminalText.width("▲1") == 2)
        #expect(TerminalText.truncate("東京オリンピック", to: 6) == "東京…")
        #expect(TerminalText.truncate("abc", to: 3) == "abc")
        #expect(TerminalText.truncate("abcd", to: 3) == "ab…")
    }

    @Test func controlCharactersFromTheTopicNeverReachTheTerminal() {
        var m = TopModel()
        var w = F.w1
        w.top[0].display = "evil\u{1B}]0;owned\u{07}\u{1B}[2J"
        m.feed(w)
        for color in [false, true] {
            let text = TopRenderer.render(m, width: 120, color: color, now: F.now)
            #expect(!Self.stripSGR(text).contains("\u{1B}"))
            #expect(!text.contains("\u{07}"))
            #expect(text.contains("#evil\u{FFFD}]0;owned\u{FFFD}\u{FFFD}[2J"))
        }
    }

    @Test func waitingAndEmptyWindows() {
        let waiting = TopRenderer.render(TopModel(), width: 80, color: false, now: F.now)
        #expect(waiting == "waiting for a window (0 record(s) read)\n")
        var m = TopModel()
        var w = F.w1
        w.top = []
        m.feed(w)
        let text = TopRenderer.render(m, width: 80, color: false, now: F.now,
                                      options: .init(footer: ["q quit"]))
        #expect(text.hasSuffix("RANK  CHG  HASHTAG  COUNT  SCORE  HISTORY\n(no hashtags in this window)\n\nq quit\n"))
        #expect(TopRenderer.json(TopModel(), now: F.now) == nil)
    }

    @Test func jsonCarriesTheSameData() throws {
        let line = try #require(TopRenderer.json(F.model(), now: F.now, options: .init(rows: 4, history: 2)))
        #expect(!line.contains("\n"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(obj.keys) == ["v", "now", "window_start", "window_end", "window_seconds", "final", "emitted_at",
                                  "lag_ms", "posts", "posts_per_second", "distinct", "late_dropped",
                                  "previous_window_end", "history_window_ends", "rows"])
        #expect(obj["v"] as? Int == 1)
        #expect(obj["now"] as? String == "2026-01-01T00:01:50.000Z")
        #expect(obj["window_start"] as? String == "2026-01-01T00:00:40.000Z")
        #expect(obj["window_end"] as? String == "2026-01-01T00:01:40.000Z")
        #expect(obj["window_seconds"] as? Int == 60)
        #expect(obj["final"] as? Bool == false)
        #expect(obj["emitted_at"] as? String == "2026-01-01T00:01:41.000Z")
        #expect(obj["lag_ms"] as? Int == 10_000)
        #expect(obj["posts"] as? Int == 900)
        #expect(obj["posts_per_second"] as? Double == 15)
        #expect(obj["distinct"] as? Int == 50)
        #expect(obj["late_dropped"] as? Int == 0)
        #expect(obj["previous_window_end"] as? String == "2026-01-01T00:01:20.000Z")
        #expect(obj["history_window_ends"] as? [String] == ["2026-01-01T00:01:20.000Z", "2026-01-01T00:01:40.000Z"])
        let rows = try #require(obj["rows"] as? [[String: Any]])
        #expect(rows.count == 4)
        #expect(rows.map { $0["tag"] as? String } == ["kafka", "go", "swift", "東京"])
        #expect(rows.map { $0["display"] as? String } == ["Kafka", "Go", "swift", "東京"])
        #expect(rows.map { $0["rank"] as? Int } == [1, 2, 3, 4])
        #expect(rows.map { $0["count"] as? Int } == [45, 24, 24, 6])
        #expect(rows.map { $0["score"] as? Double } == [4, 2.5, -0.3, 0])
        #expect(rows.map { $0["rising"] as? Bool } == [true, true, false, false])
        #expect(rows.map { $0["change"] as? String } == ["same", "up", "down", "new"])
        #expect(rows[3]["rank_change"] is NSNull)
        #expect(rows.prefix(3).map { $0["rank_change"] as? Int } == [0, 1, -1])
        #expect(rows[1]["history"] as? [Int] == [12, 24])
        #expect((rows[3]["history"] as? [Any])?.first is NSNull)
        #expect(rows.map { $0["sparkline"] as? String } == ["▇█", "▄█", "█▇", " █"])
        #expect(Set(rows[0].keys) == ["rank", "tag", "display", "count", "score", "rising", "change", "rank_change",
                                      "history", "sparkline"])
    }
}
