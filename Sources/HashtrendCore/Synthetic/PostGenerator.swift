/// The encodings the generator can write (and the decoder reads back).
public enum PostFormat: String, CaseIterable, Sendable {
    /// X API v2 filtered-stream line.
    case x2
    /// X API v1.1 status, as statuses/filter streamed them (ASCII-only JSON with `\u` escapes).
    case x1
    /// The `tweets` topic value.
    case canonical
}

/// Deterministic synthetic posts: the `hashtrend generate` command and ingestd's synthetic source.
///
/// Posts come in emission order; event times advance at `ratePerSecond` from `startMillis`. With
/// `disorderMillis > 0` each post's event time is moved back by a uniform delay in
/// `0...disorderMillis`, so every post is at most that far behind the largest event time emitted
/// before it. With `lateFraction > 0` that fraction of posts is made *late*: strictly more than
/// `lateByMillis` behind the largest event time emitted before it (what a consumer allowing
/// `lateByMillis` of lateness must drop).
///
/// Content: several languages and scripts, emoji, mentions and links; 0-4 hashtags per post drawn
/// Zipf-like from a vocabulary with case and normalization variants (a head of named tags, a long tail);
/// every `burstEveryMillis` of event time a rising tag ramps up for `burstLengthMillis`; some posts are
/// retweets, some are longer than 140 characters (v1.1 `extended_tweet`). The hashtags a post claims are
/// exactly the `#tag` words of its text, each with whitespace on both sides.
public struct PostGenerator: Sendable {
    public let seed: UInt64
    public let startMillis: Int64
    public let ratePerSecond: Double
    public let disorderMillis: Int64
    public let lateFraction: Double
    public let lateByMillis: Int64
    /// `source` of generated posts.
    public var source: String = "synthetic"
    public var burstEveryMillis: Int64 = 600_000
    public var burstLengthMillis: Int64 = 180_000
    /// Share of posts carrying the rising tag at the end of a burst (it ramps up linearly from 0).
    public var burstPeakShare: Double = 0.4
    public var retweetShare: Double = 0.08

    /// Posts emitted so far.
    public private(set) var count: Int64 = 0
    /// Largest event time emitted so far (Int64.min before the first post).
    public private(set) var maxEventMillis: Int64 = .min

    private var rng: SeededRandom
    /// Cumulative Zipf weights (s = 1) over head + tail; 1/k keeps it exact across platforms (no pow).
    private let cumulative: [Double]
    private let langCumulative: [Int]

    public init(seed: UInt64, startMillis: Int64, ratePerSecond: Double, disorderMillis: Int64 = 0,
                lateFraction: Double = 0, lateByMillis: Int64 = 0) {
        self.seed = seed
        self.startMillis = startMillis
        self.ratePerSecond = ratePerSecond > 0 ? ratePerSecond : 1
        self.disorderMillis = max(0, disorderMillis)
        self.lateFraction = min(1, max(0, lateFraction))
        self.lateByMillis = max(0, lateByMillis)
        rng = SeededRandom(seed: seed)
        var acc = 0.0
        var c: [Double] = []
        let n = Vocabulary.headTags.count + Vocabulary.tailSize
        c.reserveCapacity(n)
        for k in 1...n {
            acc += 1.0 / Double(k)
            c.append(acc)
        }
        cumulative = c
        var la = 0
        langCumulative = Vocabulary.languages.map { la += $0.weight; return la }
    }

    /// Nominal (undisordered) event time of the post with this emission index.
    public func nominalMillis(index: Int64) -> Int64 {
        startMillis + Int64((Double(index) * 1000.0 / ratePerSecond).rounded(.down))
    }

    /// When the next post is due, in event time without disorder: a live source paces itself by
    /// sleeping until the wall clock reaches this (with `startMillis` set to the start time).
    public var nextNominalMillis: Int64 { nominalMillis(index: count) }

    public mutating func next() -> Post {
        let index = count
        count += 1
        let nominal = nominalMillis(index: index)
        var event = nominal
        if disorderMillis > 0 { event -= Int64(rng.below(Int(disorderMillis) + 1)) }
        if lateFraction > 0, maxEventMillis != .min, rng.chance(lateFraction) {
            event = maxEventMillis - lateByMillis - 1 - Int64(rng.below(Int(min(lateByMillis, 3_600_000)) + 1))
        }
        maxEventMillis = max(maxEventMillis, event)

        // Snowflake-style id from the emission time, so ids are unique and grow in emission order.
        let snowflakeEpoch: Int64 = 1_288_834_974_657
        let id = UInt64(max(0, nominal - snowflakeEpoch)) << 22 | UInt64(index & 0x3F_FFFF)
        let author = 100_000_000 + rng.below(5_000_000)

        let langPick = rng.below(langCumulative.last!)
        let lang = Vocabulary.languages[langCumulative.firstIndex { langPick < $0 }!].lang

        var tags: [String] = []
        let tagCount = [0, 0, 0, 1, 1, 1, 2, 2, 3, 4][rng.below(10)]
        for _ in 0..<tagCount { tags.append(drawTag()) }
        if let rising = risingTag(at: event), tags.count < 4 || rng.chance(0.5) {
            if tags.count == 4 { tags[3] = rising } else { tags.append(rising) }
        }

        let (text, ordered) = composeText(lang: lang, tags: tags)
        return Post(id: String(id), createdAtMillis: event, text: text, lang: lang.code,
                    authorID: String(author), source: source, isRepost: rng.chance(retweetShare),
                    hashtags: ordered)
    }

    /// The burst's tag if `millis` falls in a burst and this post is drawn to carry it.
    private mutating func risingTag(at millis: Int64) -> String? {
        guard burstEveryMillis > 0, burstLengthMillis > 0 else { return nil }
        let period = millis >= 0 ? millis / burstEveryMillis : (millis - burstEveryMillis + 1) / burstEveryMillis
        let into = millis - period * burstEveryMillis
        guard into < burstLengthMillis else { return nil }
        let share = burstPeakShare * Double(into + 1) / Double(burstLengthMillis)
        guard rng.chance(share) else { return nil }
        let n = Int64(Vocabulary.risingTags.count)
        return Vocabulary.risingTags[Int(((period % n) + n) % n)]
    }

    private mutating func drawTag() -> String {
        let u = rng.unit() * cumulative.last!
        // Binary search for the first cumulative weight above u.
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        if lo < Vocabulary.headTags.count {
            let variants = Vocabulary.headTags[lo]
            if variants.count == 1 || rng.chance(0.7) { return variants[0] }
            return variants[1 + rng.below(variants.count - 1)]
        }
        let t = lo - Vocabulary.headTags.count + 1
        return rng.chance(0.9) ? "topic\(t)" : "Topic\(t)"
    }

    /// The text and its tags in order of appearance.
    private mutating func composeText(lang: Vocabulary.Language, tags: [String]) -> (String, [String]) {
        var words: [String] = [rng.pick(lang.openers), rng.pick(lang.subjects)]
        if rng.chance(0.5) { words.append(rng.pick(lang.closers)) }
        if rng.chance(0.2) {
            // Long posts (v1.1 extended_tweet): more sentences, sometimes on a new line.
            for _ in 0..<(2 + rng.below(3)) {
                words.append(rng.chance(0.3) ? "\n" + rng.pick(lang.subjects) : rng.pick(lang.subjects))
                words.append(rng.pick(lang.closers))
            }
        }
        if rng.chance(0.25) { words.append(rng.pick(Vocabulary.emoji)) }
        if rng.chance(0.15) { words.insert("@user\(rng.below(100_000))", at: rng.chance(0.5) ? 0 : words.count) }
        // Each tag is its own space-separated word, anywhere between the others.
        for tag in tags {
            words.insert("#" + tag, at: 1 + rng.below(words.count))
        }
        if rng.chance(0.15) { words.append("https://t.co/" + PostGenerator.shortCode(rng.next())) }
        // Keep within X's 280 characters: drop non-tag words from the end until it fits.
        var text = words.joined(separator: " ")
        while text.unicodeScalars.count > 280,
              let drop = words.lastIndex(where: { !$0.hasPrefix("#") }) {
            words.remove(at: drop)
            text = words.joined(separator: " ")
        }
        return (text, words.filter { $0.hasPrefix("#") }.map { String($0.dropFirst()) })
    }

    static func shortCode(_ v: UInt64) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".unicodeScalars)
        var v = v
        var s = String.UnicodeScalarView()
        for _ in 0..<10 {
            s.append(alphabet[Int(v % 62)])
            v /= 62
        }
        return String(s)
    }
}
