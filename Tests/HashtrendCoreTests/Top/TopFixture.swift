import HashtrendCore

/// Hopping windows (1m, advancing 20s): two final, three provisional, and the table the renderer
/// must make of them (it shows w3: the newest window holding nearly a full minute of the newest data) (worked out by hand from the rules in docs/top.md).
enum TopFixture {
    static func t(_ hms: String) -> Int64 { EventTime.parse("2026-01-01T\(hms).000Z")! }

    static func window(_ start: String, _ end: String, final: Bool, emitted: String, posts: Int64, distinct: Int64,
                       late: Int64 = 0, _ top: [(String, String, Int64, Double)]) -> TrendWindow {
        TrendWindow(windowStartMillis: t(start), windowEndMillis: t(end), final: final, emittedAtMillis: t(emitted),
                    posts: posts, distinct: distinct, lateDropped: late,
                    top: top.enumerated().map { i, e in
                        TrendEntry(tag: e.0, display: e.1, count: e.2, rank: Int32(i + 1), score: e.3)
                    })
    }

    static let w1 = window("00:00:00", "00:01:00", final: true, emitted: "00:01:05", posts: 600, distinct: 40,
                           [("swift", "swift", 30, 1.5), ("kafka", "Kafka", 20, 0.5), ("rust", "Rust", 10, 0)])
    /// An early update of w2, superseded by w2 itself.
    static let w2early = window("00:00:20", "00:01:20", final: false, emitted: "00:01:15", posts: 500, distinct: 30,
                                [("swift", "swift", 25, 0.7), ("kafka", "Kafka", 24, 2.0)])
    static let w2 = window("00:00:20", "00:01:20", final: true, emitted: "00:01:25", posts: 720, distinct: 45, late: 2,
                           [("kafka", "Kafka", 36, 3.25), ("swift", "swift", 30, 0.8), ("go", "Go", 12, 2.0), ("rust", "Rust", 9, -0.4)])
    /// A first early update of w3, replaced by the next one.
    static let w3early = window("00:00:40", "00:01:40", final: false, emitted: "00:01:35", posts: 800, distinct: 48,
                                [("kafka", "Kafka", 40, 3.5), ("swift", "swift", 22, -0.4)])
    static let w3 = window("00:00:40", "00:01:40", final: false, emitted: "00:01:41", posts: 900, distinct: 50,
                           [("kafka", "Kafka", 45, 4.0), ("go", "Go", 24, 2.5), ("swift", "swift", 24, -0.3),
                            ("東京", "東京", 6, 0.0), ("rust", "Rust", 3, -1.2)])

    /// The newer open windows trendd updates alongside w3 (they hold less of the newest data).
    static let w4 = window("00:01:00", "00:02:00", final: false, emitted: "00:01:41", posts: 500, distinct: 30,
                           [("kafka", "Kafka", 20, 1.0), ("go", "Go", 15, 3.0)])
    static let w5 = window("00:01:20", "00:02:20", final: false, emitted: "00:01:41", posts: 200, distinct: 20,
                           [("go", "Go", 8, 2.0)])

    /// Arrival order as trendd would publish them, with a stale early update of w2 after its final.
    static let records: [TrendWindow] = [w1, w2early, w2, w3early, w4, w2early, w3, w5]

    static let now = t("00:01:50")

    /// `render(width: 80, color: false, now: now)` of a model fed `records`.
    static let expectedTable = """
    window 2026-01-01 00:00:40 - 00:01:40 UTC (1m)  PROVISIONAL  10s behind
    posts 900 (15.0/s)  distinct 50  late 0  emitted 00:01:41

    RANK  CHG  HASHTAG  COUNT  SCORE  HISTORY
       1  =    #Kafka      45    4.0↑ ▄▇█
       2  ▲1   #Go         24    2.5↑  ▄█
       3  ▼1   #swift      24   -0.3  ██▇
       4  NEW  #東京        6    0.0    █
       5  ▼1   #Rust        3   -1.2  ██▃

    """

    static func model() -> TopModel {
        var m = TopModel()
        for r in records { m.feed(r) }
        return m
    }
}
