import Testing
@testable import HashtrendCore

@Suite struct TopModelTests {
    typealias F = TopFixture

    @Test func finalSupersedesProvisionalWhateverArrivesLater() {
        var m = TopModel()
        do { let changed = m.feed(F.w2early); #expect(changed) }
        #expect(m.windows[F.t("00:01:20")] == F.w2early)
        do { let changed = m.feed(F.w2); #expect(changed) }
        do { let changed = m.feed(F.w2early); #expect(!changed, "an early update after the final is ignored") }
        #expect(m.windows[F.t("00:01:20")] == F.w2)
        #expect(m.staleProvisional == 1)
        do { let changed = m.feed(F.w2); #expect(!changed, "a repeated final changes nothing") }
        #expect(m.recordsSeen == 4)
    }

    @Test func theLatestProvisionalUpdateWins() {
        var m = TopModel()
        m.feed(F.w3early)
        m.feed(F.w3)
        #expect(m.windows[F.t("00:01:40")] == F.w3)
        m.feed(F.w3early)
        #expect(m.windows[F.t("00:01:40")] == F.w3early, "provisional records replace each other in arrival order")
    }

    @Test func theShownWindowHoldsNearlyAFullWindowOfTheNewestData() {
        var m = TopModel()
        #expect(m.currentWindowEnd() == nil)
        #expect(m.snapshot(rows: 10) == nil)
        m.feed(F.w3)
        #expect(m.currentWindowEnd() == F.t("00:01:40"), "a single window is shown whatever it is")
        #expect(m.currentWindowEnd(finalOnly: true) == nil)
        m.feed(F.w5)
        m.feed(F.w4)
        #expect(m.currentWindowEnd() == F.t("00:01:40"), "only provisional windows: newest end - size + hop")
        m.feed(F.w1)
        m.feed(F.w2)
        #expect(m.currentWindowEnd() == F.t("00:01:40"))
        #expect(m.currentWindowEnd(finalOnly: true) == F.t("00:01:20"))

        // Without the newer open windows, w3 is the newest window and holds only its first pane.
        var few = TopModel()
        for w in [F.w1, F.w2, F.w3] { few.feed(w) }
        #expect(few.currentWindowEnd() == F.t("00:01:20"))
        few.feed(F.w4)
        #expect(few.currentWindowEnd() == F.t("00:01:20"))
        few.feed(F.w5)
        #expect(few.currentWindowEnd() == F.t("00:01:40"))

        // A newer final window wins over any provisional one.
        var w4final = F.w4
        w4final.final = true
        m.feed(w4final)
        #expect(m.currentWindowEnd() == F.t("00:02:00"))
        m.feed(F.w4)
        #expect(m.currentWindowEnd() == F.t("00:02:00"), "w4 stays final")

        // Finality stuck far behind (a slow input partition): the fullest provisional window is shown.
        var stuck = TopModel()
        stuck.feed(F.w1)
        for i in 1...8 {
            var w = F.w3
            w.windowStartMillis = F.t("00:00:00") + Int64(i) * 20_000
            w.windowEndMillis = w.windowStartMillis + 60_000
            stuck.feed(w)
        }
        #expect(stuck.currentWindowEnd() == F.t("00:03:00"), "newest 00:03:40 - 1m + 20s")
        #expect(stuck.currentWindowEnd(finalOnly: true) == F.t("00:01:00"))
    }

    @Test func rankChangesAgainstThePreviousWindow() throws {
        let s = try #require(F.model().snapshot(rows: 10))
        #expect(s.window == F.w3)
        #expect(s.previousWindowEnd == F.t("00:01:20"))
        #expect(s.rows.map(\.tag) == ["kafka", "go", "swift", "東京", "rust"])
        #expect(s.rows.map(\.change) == [.same, .up(1), .down(1), .new, .down(1)])
        #expect(s.rows.map(\.rising) == [true, true, false, false, false])

        // Bigger moves, and no previous window at all.
        var m = TopModel()
        m.feed(F.window("00:00:00", "00:01:00", final: true, emitted: "00:01:01", posts: 1, distinct: 1,
                        [("a", "a", 9, 0), ("b", "b", 8, 0), ("c", "c", 7, 0), ("d", "d", 6, 0)]))
        let first = try #require(m.snapshot(rows: 10))
        #expect(first.rows.allSatisfy { $0.change == .unknown })
        m.feed(F.window("00:00:20", "00:01:20", final: true, emitted: "00:01:21", posts: 1, distinct: 1,
                        [("d", "d", 9, 0), ("a", "a", 8, 0), ("e", "e", 7, 0), ("b", "b", 1, 0)]))
        let s2 = try #require(m.snapshot(rows: 3))
        #expect(s2.rows.map(\.change) == [.up(3), .down(1), .new], "rows are cut to 3")
    }

    @Test func historyCoversTheLastWindowsUpToTheShownOne() throws {
        var m = TopModel()
        for (i, c) in [1, 2, 4, 8, 5, 3, 1].enumerated() {
            let end = F.t("00:01:00") + Int64(i) * 20_000
            m.feed(TrendWindow(windowStartMillis: end - 60_000, windowEndMillis: end, final: i < 2, emittedAtMillis: end,
                               posts: 10, distinct: 1, lateDropped: 0,
                               top: [TrendEntry(tag: "x", display: "X", count: Int64(c), rank: 1, score: 0)]
                                   + (i == 2 ? [] : [TrendEntry(tag: "y", display: "Y", count: 1, rank: 2, score: 0)])))
        }
        let s = try #require(m.snapshot(rows: 5, history: 12))
        #expect(s.window.windowEndMillis == F.t("00:02:20"), "newest 00:03:00 - 1m + 20s")
        #expect(s.rows[0].history == [1, 2, 4, 8, 5])
        #expect(s.rows[1].history == [1, 1, nil, 1, 1])
        #expect(TopRenderer.sparkline(s.rows[0].history) == "▁▂▄█▅")
        #expect(TopRenderer.sparkline(s.rows[1].history) == "██ ██")
        let short = try #require(m.snapshot(rows: 5, history: 3))
        #expect(short.historyWindowEnds == [F.t("00:01:40"), F.t("00:02:00"), F.t("00:02:20")])
        #expect(short.rows[0].history == [4, 8, 5])
        #expect(try #require(m.snapshot(rows: 5, history: 3, finalOnly: true)).rows[0].history == [1, 2])
    }

    @Test func sparklineScalesToEachTagsOwnPeak() {
        #expect(TopRenderer.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█")
        #expect(TopRenderer.sparkline([10, 20, 30, 40, 50, 60, 70, 80]) == "▁▂▃▄▅▆▇█")
        #expect(TopRenderer.sparkline([1000, 1000, 999]) == "███")
        #expect(TopRenderer.sparkline([1, 1000]) == "▁█")
        #expect(TopRenderer.sparkline([nil, 0, 3]) == " ▁█")
        #expect(TopRenderer.sparkline([]) == "")
    }

    @Test func capacityForgetsTheOldestWindows() {
        var m = TopModel(capacity: 3)
        for i in 0..<5 {
            var w = F.w1
            w.windowEndMillis += Int64(i) * 20_000
            w.windowStartMillis += Int64(i) * 20_000
            do { let changed = m.feed(w); #expect(changed) }
        }
        #expect(m.windowEnds == [F.t("00:01:40"), F.t("00:02:00"), F.t("00:02:20")])
        do { let changed = m.feed(F.w1); #expect(!changed, "a window older than everything kept is not taken back") }
        #expect(m.windows.count == 3)
    }

    @Test func snapshotFigures() throws {
        let s = try #require(F.model().snapshot(rows: 2))
        #expect(s.postsPerSecond == 15)
        #expect(s.windowMillis == 60_000)
        #expect(s.lagMillis(now: F.now) == 10_000)
        #expect(s.historyWindowEnds.count == 3)
        #expect(s.windowsKnown == 5)
    }
}
