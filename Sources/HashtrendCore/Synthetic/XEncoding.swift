/// Writes posts the way the X API delivers them, so the synthetic source exercises the same decoding
/// paths as live input: v2 stream lines (retweets with `includes.tweets`), v1.1 statuses (truncated
/// `text` plus `extended_tweet` beyond 140 characters, retweets with `retweeted_status`), and the
/// canonical form. Entity indices count Unicode code points, as X's do; `end` is exclusive.
///
/// Whatever a retweet needs beyond the `Post` (the original's id, author and time) is derived from the
/// post id by hashing, so `encode` is a pure function. Decoding the output gives back the same `Post`
/// except `source`, which becomes `x2`/`x1`.
extension PostGenerator {
    public static func encode(_ post: Post, format: PostFormat) -> [UInt8] {
        switch format {
        case .canonical: return post.canonicalJSON()
        case .x2: return XEncoder.v2Line(post)
        case .x1: return XEncoder.v1Status(post)
        }
    }
}

enum XEncoder {
    typealias Scalars = [Unicode.Scalar]

    struct Span { var start: Int; var end: Int; var text: String }

    static func isSpace(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace }

    /// Where each claimed tag's `#tag` word is, in order (a tag not found as a whole word gets an empty
    /// span at the end: only possible for posts not made by the generator).
    static func hashtagSpans(_ s: Scalars, _ tags: [String]) -> [Span] {
        var out: [Span] = []
        var cursor = 0
        for tag in tags {
            let needle = Array(("#" + tag).unicodeScalars)
            var found: Int?
            var i = cursor
            while i + needle.count <= s.count {
                if (i == 0 || isSpace(s[i - 1])) && (i + needle.count == s.count || isSpace(s[i + needle.count]))
                    && Array(s[i..<(i + needle.count)]) == needle {
                    found = i
                    break
                }
                i += 1
            }
            if let f = found {
                out.append(Span(start: f, end: f + needle.count, text: tag))
                cursor = f + needle.count
            } else {
                out.append(Span(start: s.count, end: s.count, text: tag))
            }
        }
        return out
    }

    /// Whole words starting with `prefix` (mentions: text without `@`; links: the whole word).
    static func wordSpans(_ s: Scalars, prefix: String, dropPrefix: Bool) -> [Span] {
        let p = Array(prefix.unicodeScalars)
        var out: [Span] = []
        var i = 0
        while i < s.count {
            if (i == 0 || isSpace(s[i - 1])) && i + p.count <= s.count && Array(s[i..<(i + p.count)]) == p {
                var j = i + p.count
                // A link runs to the next space; a screen name is letters, digits and `_` only.
                while j < s.count && !isSpace(s[j])
                        && (!dropPrefix || s[j].properties.isAlphabetic || s[j] == "_" || s[j].properties.numericType != nil) {
                    j += 1
                }
                var word = String.UnicodeScalarView()
                word.append(contentsOf: s[(dropPrefix ? i + p.count : i)..<j])
                out.append(Span(start: i, end: j, text: String(word)))
                i = j
            } else {
                i += 1
            }
        }
        return out
    }

    /// First `limit` code points, the last replaced by `…` when cut.
    static func truncated(_ s: Scalars, _ limit: Int) -> Scalars {
        guard s.count > limit else { return s }
        return Array(s[0..<(limit - 1)]) + ["…"]
    }

    static func string(_ s: Scalars) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return String(v)
    }

    static func hash(_ s: String, _ salt: UInt64) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ salt
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// The original of a retweet: id, author, time, screen name of its author.
    static func original(of post: Post) -> (id: String, author: String, created: Int64, screenName: String) {
        let h = hash(post.id, 1)
        return (String(1_000_000_000_000_000_000 + h % 8_000_000_000_000_000_000),
                String(100_000_000 + hash(post.id, 2) % 5_000_000),
                post.createdAtMillis - 1000 - Int64(h % 3_600_000),
                "user\(hash(post.id, 3) % 100_000)")
    }

    static func screenName(_ authorID: String?) -> String {
        "user\(hash(authorID ?? "", 4) % 100_000)"
    }

    // MARK: v2

    static func v2Entities(_ w: inout JSONWriter, _ s: Scalars, _ tags: [String]?) {
        guard let tags else { return }
        w.raw(",\"entities\":{")
        let urls = wordSpans(s, prefix: "https://", dropPrefix: false)
        let mentions = wordSpans(s, prefix: "@", dropPrefix: true)
        // X omits empty entity lists; hashtags stays (possibly empty) because the post claims its tags.
        w.raw("\"hashtags\":[")
        for (i, t) in hashtagSpans(s, tags).enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"start\":"); w.int(t.start); w.raw(",\"end\":"); w.int(t.end)
            w.raw(",\"tag\":"); w.string(t.text); w.raw("}")
        }
        w.raw("]")
        if !mentions.isEmpty {
            w.raw(",\"mentions\":[")
            for (i, m) in mentions.enumerated() {
                if i > 0 { w.raw(",") }
                w.raw("{\"start\":"); w.int(m.start); w.raw(",\"end\":"); w.int(m.end)
                w.raw(",\"username\":"); w.string(m.text)
                w.raw(",\"id\":\""); w.raw(String(100_000_000 + hash(m.text, 5) % 5_000_000)); w.raw("\"}")
            }
            w.raw("]")
        }
        if !urls.isEmpty {
            w.raw(",\"urls\":[")
            for (i, u) in urls.enumerated() {
                if i > 0 { w.raw(",") }
                w.raw("{\"start\":"); w.int(u.start); w.raw(",\"end\":"); w.int(u.end)
                w.raw(",\"url\":"); w.string(u.text)
                w.raw(",\"expanded_url\":\"https://example.com/p/"); w.raw(String(hash(u.text, 6) % 1_000_000))
                w.raw("\",\"display_url\":\"example.com/p/…\"}")
            }
            w.raw("]")
        }
        w.raw("}")
    }

    static func v2Tweet(_ w: inout JSONWriter, id: String, author: String?, created: Int64, text: Scalars,
                        lang: String?, tags: [String]?, retweetOf: String?) {
        w.raw("{")
        if let author { w.raw("\"author_id\":"); w.string(author); w.raw(",") }
        w.raw("\"created_at\":\""); w.raw(EventTime.format(millis: created)); w.raw("\"")
        w.raw(",\"edit_history_tweet_ids\":["); w.string(id); w.raw("]")
        v2Entities(&w, text, tags)
        w.raw(",\"id\":"); w.string(id)
        if let lang { w.raw(",\"lang\":"); w.string(lang) }
        w.raw(",\"possibly_sensitive\":false")
        if let retweetOf {
            w.raw(",\"referenced_tweets\":[{\"type\":\"retweeted\",\"id\":"); w.string(retweetOf); w.raw("}]")
        }
        w.raw(",\"text\":"); w.string(string(text))
        w.raw("}")
    }

    static func v2Line(_ post: Post) -> [UInt8] {
        var w = JSONWriter(capacity: 600 + 2 * post.text.utf8.count)
        let full = Array(post.text.unicodeScalars)
        w.raw("{\"data\":")
        if post.isRepost {
            let o = original(of: post)
            let rt = Array("RT @\(o.screenName): ".unicodeScalars) + full
            let shown = truncated(rt, 140)
            // Entities of the truncated text: only tags that survived whole.
            let kept = post.hashtags.map { tags in
                hashtagSpans(shown, tags).filter { $0.end <= shown.count && $0.start < $0.end }.map(\.text)
            }
            v2Tweet(&w, id: post.id, author: post.authorID, created: post.createdAtMillis, text: shown,
                    lang: post.lang, tags: kept, retweetOf: o.id)
            w.raw(",\"includes\":{\"tweets\":[")
            v2Tweet(&w, id: o.id, author: o.author, created: o.created, text: full, lang: post.lang,
                    tags: post.hashtags, retweetOf: nil)
            w.raw("],\"users\":[{\"id\":"); w.string(o.author); w.raw(",\"name\":\"Synthetic\",\"username\":")
            w.string(o.screenName); w.raw("}]}")
        } else {
            v2Tweet(&w, id: post.id, author: post.authorID, created: post.createdAtMillis, text: full,
                    lang: post.lang, tags: post.hashtags, retweetOf: nil)
        }
        w.raw(",\"matching_rules\":[{\"id\":\"1700000000000000001\",\"tag\":\"synthetic\"}]}")
        return w.bytes
    }

    // MARK: v1.1

    static func v1Entities(_ w: inout JSONWriter, _ s: Scalars, _ tags: [String]?) {
        w.raw("\"entities\":{\"hashtags\":[")
        for (i, t) in hashtagSpans(s, tags ?? []).enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"text\":"); w.string(t.text)
            w.raw(",\"indices\":["); w.int(t.start); w.raw(","); w.int(t.end); w.raw("]}")
        }
        w.raw("],\"urls\":[")
        for (i, u) in wordSpans(s, prefix: "https://", dropPrefix: false).enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"url\":"); w.string(u.text)
            w.raw(",\"expanded_url\":\"https://example.com/p/"); w.raw(String(hash(u.text, 6) % 1_000_000))
            w.raw("\",\"display_url\":"); w.string("example.com/p/…"); w.raw(",\"indices\":["); w.int(u.start); w.raw(",")
            w.int(u.end); w.raw("]}")
        }
        w.raw("],\"user_mentions\":[")
        for (i, m) in wordSpans(s, prefix: "@", dropPrefix: true).enumerated() {
            if i > 0 { w.raw(",") }
            let mid = String(100_000_000 + hash(m.text, 5) % 5_000_000)
            w.raw("{\"screen_name\":"); w.string(m.text); w.raw(",\"name\":\"Synthetic\",\"id\":"); w.raw(mid)
            w.raw(",\"id_str\":"); w.string(mid)
            w.raw(",\"indices\":["); w.int(m.start); w.raw(","); w.int(m.end); w.raw("]}")
        }
        w.raw("],\"symbols\":[]}")
    }

    static func v1User(_ w: inout JSONWriter, _ authorID: String?, _ screenName: String) {
        let idNumber = authorID.flatMap { a in a.utf8.allSatisfy({ $0 &- 48 <= 9 }) && !a.isEmpty ? a : nil }
        w.raw("\"user\":{\"id\":"); w.raw(idNumber ?? "null")
        w.raw(",\"id_str\":"); w.optionalString(authorID)
        w.raw(",\"name\":\"Synthetic User\",\"screen_name\":"); w.string(screenName)
        w.raw(",\"location\":null,\"url\":null,\"description\":\"Generated by Hashtrend/synthetic\",")
        w.raw("\"translator_type\":\"none\",\"protected\":false,\"verified\":false,\"followers_count\":")
        w.int(Int(hash(screenName, 7) % 50_000))
        w.raw(",\"friends_count\":321,\"listed_count\":2,\"favourites_count\":1234,\"statuses_count\":5678,")
        w.raw("\"created_at\":\"Mon Apr 02 08:15:00 +0000 2012\",\"utc_offset\":null,\"time_zone\":null,")
        w.raw("\"geo_enabled\":false,\"lang\":null,\"contributors_enabled\":false,\"is_translator\":false,")
        w.raw("\"profile_background_color\":\"C0DEED\",\"profile_image_url_https\":")
        w.raw("\"https://pbs.twimg.com/profile_images/1/synthetic_normal.jpg\",\"default_profile\":true,")
        w.raw("\"following\":null,\"follow_request_sent\":null,\"notifications\":null}")
    }

    /// One status object (no braces' worth of surrounding line): text beyond 140 characters goes to
    /// `extended_tweet`, with a truncated `text` and `truncated: true`, as statuses/filter did.
    static func v1StatusBody(_ w: inout JSONWriter, id: String, created: Int64, text: Scalars, lang: String?,
                             authorID: String?, screenName: String, tags: [String]?,
                             retweeted: ((inout JSONWriter) -> Void)?, timestampMs: Bool) {
        let isNumeric = !id.isEmpty && id.utf8.allSatisfy { $0 &- 48 <= 9 }
        w.raw("{\"created_at\":\""); w.raw(TwitterTime.format(millis: created)); w.raw("\"")
        if isNumeric { w.raw(",\"id\":"); w.raw(id) }
        w.raw(",\"id_str\":"); w.string(id)
        let extended = retweeted == nil && text.count > 140
        let shown: Scalars
        if extended {
            // X cut at a word boundary near 140 and appended a link to the full post.
            var cut = 113
            while cut > 80 && !isSpace(text[cut]) { cut -= 1 }
            shown = Array(text[0..<cut]) + Array("… https://t.co/\(PostGenerator.shortCode(hash(id, 8)))".unicodeScalars)
        } else {
            shown = retweeted != nil ? truncated(text, 140) : text
        }
        w.raw(",\"text\":"); w.string(string(shown))
        if extended || retweeted == nil {
            w.raw(",\"display_text_range\":[0,"); w.int(min(shown.count, 140)); w.raw("]")
        }
        w.raw(",\"source\":\"<a href=\\\"https://mobile.twitter.com\\\" rel=\\\"nofollow\\\">Twitter Web App</a>\"")
        w.raw(",\"truncated\":"); w.bool(extended)
        w.raw(",\"in_reply_to_status_id\":null,\"in_reply_to_status_id_str\":null,\"in_reply_to_user_id\":null,")
        w.raw("\"in_reply_to_user_id_str\":null,\"in_reply_to_screen_name\":null,")
        v1User(&w, authorID, screenName)
        w.raw(",\"geo\":null,\"coordinates\":null,\"place\":null,\"contributors\":null")
        if let retweeted {
            w.raw(",\"retweeted_status\":")
            retweeted(&w)
        }
        w.raw(",\"is_quote_status\":false")
        if extended {
            w.raw(",\"extended_tweet\":{\"full_text\":"); w.string(string(text))
            w.raw(",\"display_text_range\":[0,"); w.int(text.count); w.raw("],")
            v1Entities(&w, text, tags)
            w.raw("}")
        }
        w.raw(",\"quote_count\":0,\"reply_count\":0,\"retweet_count\":0,\"favorite_count\":0,")
        // Top-level entities describe the text as shown (for a truncated post: only what survived).
        let shownTags = tags.map { t in hashtagSpans(shown, t).filter { $0.start < $0.end }.map(\.text) }
        v1Entities(&w, shown, shownTags)
        w.raw(",\"favorited\":false,\"retweeted\":false,\"filter_level\":\"low\",\"lang\":"); w.optionalString(lang)
        if timestampMs { w.raw(",\"timestamp_ms\":\""); w.int(created); w.raw("\"") }
        w.raw("}")
    }

    static func v1Status(_ post: Post) -> [UInt8] {
        var w = JSONWriter(capacity: 3000 + 4 * post.text.utf8.count, asciiOnly: true)
        let full = Array(post.text.unicodeScalars)
        let me = screenName(post.authorID)
        if post.isRepost {
            let o = original(of: post)
            let rt = Array("RT @\(o.screenName): ".unicodeScalars) + full
            v1StatusBody(&w, id: post.id, created: post.createdAtMillis, text: rt, lang: post.lang,
                         authorID: post.authorID, screenName: me, tags: post.hashtags, retweeted: { w in
                v1StatusBody(&w, id: o.id, created: o.created, text: full, lang: post.lang, authorID: o.author,
                             screenName: o.screenName, tags: post.hashtags, retweeted: nil, timestampMs: false)
            }, timestampMs: true)
        } else {
            v1StatusBody(&w, id: post.id, created: post.createdAtMillis, text: full, lang: post.lang,
                         authorID: post.authorID, screenName: me, tags: post.hashtags, retweeted: nil,
                         timestampMs: true)
        }
        return w.bytes
    }
}
