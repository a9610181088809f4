import Foundation
import Testing
@testable import HashtrendCore

private func decodeOne(_ line: String, defaultSource: String = "replay") throws -> Post {
    var d = PostDecoder(defaultSource: defaultSource)
    let posts = try d.decode(line)
    try #require(posts.count == 1)
    return posts[0]
}

private func failure(_ line: String) -> PostDecodeError? {
    var d = PostDecoder()
    do throws(PostDecodeError) {
        _ = try d.decode(line)
        return nil
    } catch {
        return error
    }
}

@Suite struct PostDecoderShapeTests {
    static let v2Line = ##"{"data":{"author_id":"2244994945","created_at":"2022-09-14T19:00:55.000Z","edit_history_tweet_ids":["1570124883993313280"],"entities":{"hashtags":[{"start":48,"end":58,"tag":"SwiftLang"}],"mentions":[{"start":0,"end":9,"username":"swiftorg","id":"15506669"}],"urls":[{"start":59,"end":82,"url":"https://t.co/AbCdEfGhIj","expanded_url":"https://www.swift.org/blog/","display_url":"swift.org/blog/"}]},"id":"1570124883993313280","lang":"en","possibly_sensitive":false,"text":"@swiftorg Big news for \"server-side\" Swift today #SwiftLang https://t.co/AbCdEfGhIj\nMore soon"},"matching_rules":[{"id":"1570124782402793473","tag":"swift posts"}]}"##

    @Test func v2StreamLine() throws {
        var d = PostDecoder()
        let posts = try d.decode(Self.v2Line)
        #expect(d.lastShape == .x2)
        #expect(posts == [Post(id: "1570124883993313280", createdAtMillis: EventTime.parse("2022-09-14T19:00:55.000Z")!,
                               text: "@swiftorg Big news for \"server-side\" Swift today #SwiftLang https://t.co/AbCdEfGhIj\nMore soon",
                               lang: "en", authorID: "2244994945", source: "x2", isRepost: false, hashtags: ["SwiftLang"])])
    }

    static let v2Retweet = ##"{"data":{"author_id":"1111","created_at":"2022-09-14T19:05:00.120Z","edit_history_tweet_ids":["1570126000000000001"],"entities":{"hashtags":[{"start":53,"end":63,"tag":"SwiftLang"}],"mentions":[{"start":3,"end":12,"username":"swiftorg","id":"15506669"}]},"id":"1570126000000000001","lang":"en","referenced_tweets":[{"type":"retweeted","id":"1570124883993313280"}],"text":"RT @swiftorg: Swift 6 is out with typed throws and #SwiftLang data-race safety by default. Read the whole announcem…"},"includes":{"users":[{"id":"15506669","name":"Swift","username":"swiftorg"}],"tweets":[{"author_id":"15506669","created_at":"2022-09-14T19:00:55.000Z","entities":{"hashtags":[{"start":38,"end":48,"tag":"SwiftLang"},{"start":130,"end":137,"tag":"東京"}]},"id":"1570124883993313280","lang":"en","text":"Swift 6 is out with typed throws and #SwiftLang data-race safety by default. Read the whole announcement on the blog, then meet us in #東京 🚀"},{"id":"999","created_at":"2022-09-14T18:00:00.000Z","text":"an unrelated quoted post #Other","entities":{"hashtags":[{"start":25,"end":31,"tag":"Other"}]}}]},"matching_rules":[{"id":"1","tag":"swift"}]}"##

    @Test func v2RetweetTakesFullTextFromIncludes() throws {
        let p = try decodeOne(Self.v2Retweet)
        #expect(p.id == "1570126000000000001")
        #expect(p.createdAtMillis == EventTime.parse("2022-09-14T19:05:00.120Z"))
        #expect(p.text == "Swift 6 is out with typed throws and #SwiftLang data-race safety by default. Read the whole announcement on the blog, then meet us in #東京 🚀")
        #expect(p.hashtags == ["SwiftLang", "東京"])
        #expect(p.isRepost)
        #expect(p.authorID == "1111")
        #expect(p.source == "x2")
    }

    @Test func v2RetweetIncludesBeforeData() throws {
        // Key order is not fixed: includes may come first.
        let reordered = #"{"includes":{"tweets":[{"id":"42","created_at":"2022-01-01T00:00:00.000Z","text":"the full original #Full"}]},"data":{"id":"43","created_at":"2022-01-01T00:00:01.000Z","text":"RT @a: the full…","referenced_tweets":[{"type":"retweeted","id":"42"}]}}"#
        let p = try decodeOne(reordered)
        #expect(p.text == "the full original #Full")
        #expect(p.hashtags == nil) // the original carried no entities: text extraction applies
        #expect(p.isRepost)
    }

    @Test func v2RetweetWithoutExpansionKeepsTruncatedText() throws {
        let line = #"{"data":{"id":"43","created_at":"2022-01-01T00:00:01.000Z","text":"RT @a: the full…","referenced_tweets":[{"type":"retweeted","id":"42"}],"entities":{"mentions":[{"start":3,"end":5,"username":"a"}]}}}"#
        let p = try decodeOne(line)
        #expect(p.text == "RT @a: the full…")
        #expect(p.isRepost)
        #expect(p.hashtags == []) // entities present, no hashtags: the source says none
    }

    @Test func v2LongPostUsesNoteTweet() throws {
        let line = #"{"data":{"id":"7","created_at":"2023-05-01T10:00:00.000Z","text":"A long post that gets cut at 280 characters by the API…","note_tweet":{"text":"A long post that gets cut at 280 characters by the API, and here is the rest #LongForm","entities":{"hashtags":[{"start":77,"end":86,"tag":"LongForm"}]}},"entities":{}}}"#
        let p = try decodeOne(line)
        #expect(p.text.hasSuffix("the rest #LongForm"))
        #expect(p.hashtags == ["LongForm"])
        #expect(p.isRepost == false)
    }

    static let twarc2Page = ##"{"data":[{"author_id":"101","created_at":"2022-10-01T08:00:00.000Z","edit_history_tweet_ids":["1576100000000000001"],"entities":{"hashtags":[{"start":11,"end":19,"tag":"Fútbol"}]},"id":"1576100000000000001","lang":"es","text":"¡Qué gol! #Fútbol ⚽"},{"author_id":"102","created_at":"2022-10-01T08:00:01.500Z","edit_history_tweet_ids":["1576100000000000002"],"id":"1576100000000000002","lang":"ja","text":"今日は東京で雨です"},{"author_id":"103","created_at":"2022-10-01T08:00:02.000Z","edit_history_tweet_ids":["1576100000000000003"],"entities":{"hashtags":[{"start":0,"end":6,"tag":"مرحبا"}]},"id":"1576100000000000003","lang":"ar","referenced_tweets":[{"type":"retweeted","id":"1576000000000000009"}],"text":"RT @x: #مرحبا …"}],"includes":{"users":[{"id":"101","name":"A","username":"a"}],"tweets":[{"id":"1576000000000000009","created_at":"2022-10-01T07:00:00.000Z","text":"#مرحبا بالعالم #Hola","entities":{"hashtags":[{"start":0,"end":6,"tag":"مرحبا"},{"start":15,"end":20,"tag":"Hola"}]}}]},"meta":{"newest_id":"1576100000000000003","oldest_id":"1576100000000000001","result_count":3,"next_token":"b26v89c19zqg8o3fpzbkk"},"__twarc":{"url":"https://api.twitter.com/2/tweets/search/recent?query=f%C3%BAtbol&max_results=100","version":"2.12.0","retrieved_at":"2022-10-01T08:01:00+00:00"}}"##

    @Test func twarc2PageWithThreePosts() throws {
        var d = PostDecoder()
        let posts = try d.decode(Self.twarc2Page)
        #expect(d.lastShape == .x2Page)
        #expect(posts.map(\.id) == ["1576100000000000001", "1576100000000000002", "1576100000000000003"])
        #expect(posts.map(\.lang) == ["es", "ja", "ar"])
        #expect(posts[0].text == "¡Qué gol! #Fútbol ⚽")
        #expect(posts[0].hashtags == ["Fútbol"])
        #expect(posts[1].hashtags == nil)
        #expect(posts[1].createdAtMillis == EventTime.parse("2022-10-01T08:00:01.500Z"))
        #expect(posts[2].text == "#مرحبا بالعالم #Hola")
        #expect(posts[2].hashtags == ["مرحبا", "Hola"])
        #expect(posts[2].isRepost)
        #expect(posts.allSatisfy { $0.source == "x2" })
    }

    @Test func byteOrderMarkIsSkipped() throws {
        var d = PostDecoder()
        let line = [0xEF, 0xBB, 0xBF] + Array(Self.canonical.utf8)
        #expect(try d.decode(line).first?.id == "1570124883993313280")
        #expect(throws: PostDecodeError.self) { try d.decode([0xEF, 0xBB] + Array(Self.canonical.utf8)) }
    }

    @Test func emptyPageAndKeepAlivesYieldNothing() throws {
        var d = PostDecoder()
        var posts: [Post] = []
        try d.decode(line: "", into: &posts)
        try d.decode(line: "\r\n", into: &posts)
        try d.decode(line: #"{"data":[],"meta":{"result_count":0}}"#, into: &posts)
        #expect(posts.isEmpty)
        #expect(failure(#"{"meta":{"result_count":0}}"#) == .notAPost("meta"))
    }

    static let v1Plain = ##"{"created_at":"Sat Jun 25 19:09:37 +0000 2016","id":746797452932894720,"id_str":"746797452932894720","text":"Watching the game tonight #EURO2016 \u26bd with @friend","source":"<a href=\"http:\/\/twitter.com\/download\/iphone\" rel=\"nofollow\">Twitter for iPhone<\/a>","truncated":false,"in_reply_to_status_id":null,"in_reply_to_status_id_str":null,"in_reply_to_user_id":null,"in_reply_to_user_id_str":null,"in_reply_to_screen_name":null,"user":{"id":14159265,"id_str":"14159265","name":"Football Fan \ud83c\uddeb\ud83c\uddf7","screen_name":"fan","location":"Paris","url":null,"description":"Not the real text: \"#NotThisTag\"","protected":false,"verified":false,"followers_count":321,"friends_count":123,"created_at":"Mon Apr 02 08:15:00 +0000 2012","lang":"fr"},"geo":null,"coordinates":null,"place":null,"contributors":null,"is_quote_status":false,"quote_count":0,"reply_count":0,"retweet_count":0,"favorite_count":0,"entities":{"hashtags":[{"text":"EURO2016","indices":[26,35]}],"urls":[],"user_mentions":[{"screen_name":"friend","name":"F","id":1,"id_str":"1","indices":[43,50]}],"symbols":[]},"favorited":false,"retweeted":false,"filter_level":"low","lang":"en","timestamp_ms":"1466881777662"}"##

    @Test func v1Plain() throws {
        var d = PostDecoder()
        let posts = try d.decode(Self.v1Plain)
        #expect(d.lastShape == .x1)
        #expect(posts == [Post(id: "746797452932894720", createdAtMillis: 1_466_881_777_662,
                               text: "Watching the game tonight #EURO2016 ⚽ with @friend", lang: "en",
                               authorID: "14159265", source: "x1", isRepost: false, hashtags: ["EURO2016"])])
    }

    @Test func v1WithoutTimestampMsUsesCreatedAt() throws {
        let line = Self.v1Plain.replacingOccurrences(of: #","timestamp_ms":"1466881777662""#, with: "")
        let p = try decodeOne(line)
        #expect(p.createdAtMillis == 1_466_881_777_000)
        #expect(EventTime.format(millis: p.createdAtMillis) == "2016-06-25T19:09:37.000Z")
    }

    static let v1Extended = ##"{"created_at":"Wed Nov 25 13:25:52 +0000 2026","id":1993000000000000001,"id_str":"1993000000000000001","text":"A post longer than one hundred and forty characters gets cut by the v1.1 stream, and #Early is still in the\u2026 https:\/\/t.co\/ZyXwVuTsRq","display_text_range":[0,140],"truncated":true,"user":{"id":42,"id_str":"42","screen_name":"writer"},"extended_tweet":{"full_text":"A post longer than one hundred and forty characters gets cut by the v1.1 stream, and #Early is still in the visible part while #Late is not, \u0645\u0631\u062d\u0628\u0627 #\u6771\u4eac","display_text_range":[0,150],"entities":{"hashtags":[{"text":"Early","indices":[85,91]},{"text":"Late","indices":[127,132]},{"text":"\u6771\u4eac","indices":[148,151]}],"urls":[],"user_mentions":[],"symbols":[]}},"entities":{"hashtags":[{"text":"Early","indices":[85,91]}],"urls":[{"url":"https:\/\/t.co\/ZyXwVuTsRq","indices":[111,134]}],"user_mentions":[],"symbols":[]},"lang":"en","timestamp_ms":"1795613152345"}"##

    @Test func v1ExtendedTweet() throws {
        let p = try decodeOne(Self.v1Extended)
        #expect(p.text == "A post longer than one hundred and forty characters gets cut by the v1.1 stream, and #Early is still in the visible part while #Late is not, مرحبا #東京")
        #expect(p.hashtags == ["Early", "Late", "東京"])
        #expect(p.createdAtMillis == 1_795_613_152_345)
        #expect(p.authorID == "42")
        #expect(!p.isRepost)
    }

    static let v1TruncatedRetweet = ##"{"created_at":"Thu Jul 14 10:00:00 +0000 2022","id":1547500000000000002,"id_str":"1547500000000000002","text":"RT @NASAWebb: It's here: the deepest and sharpest infrared image of the distant universe to date, the first full-color\u2026","truncated":false,"user":{"id":777,"id_str":"777","screen_name":"stargazer"},"retweeted_status":{"created_at":"Tue Jul 12 14:30:00 +0000 2022","id":1546900000000000001,"id_str":"1546900000000000001","text":"It's here: the deepest and sharpest infrared image of the distant universe to date, the first full-color image from\u2026 https:\/\/t.co\/AbCdEfGhIj","truncated":true,"user":{"id":1,"id_str":"1","screen_name":"NASAWebb"},"extended_tweet":{"full_text":"It's here: the deepest and sharpest infrared image of the distant universe to date, the first full-color image from #NASAWebb. #UnfoldTheUniverse \ud83d\udd2d","entities":{"hashtags":[{"text":"NASAWebb","indices":[116,125]},{"text":"UnfoldTheUniverse","indices":[127,145]}]}},"entities":{"hashtags":[],"urls":[]},"lang":"en"},"is_quote_status":false,"entities":{"hashtags":[],"urls":[],"user_mentions":[{"screen_name":"NASAWebb","indices":[3,12]}]},"lang":"en","timestamp_ms":"1657792800000"}"##

    @Test func v1TruncatedRetweetTakesOriginalExtendedText() throws {
        let p = try decodeOne(Self.v1TruncatedRetweet)
        #expect(p.id == "1547500000000000002")
        #expect(p.text == "It's here: the deepest and sharpest infrared image of the distant universe to date, the first full-color image from #NASAWebb. #UnfoldTheUniverse 🔭")
        #expect(p.hashtags == ["NASAWebb", "UnfoldTheUniverse"])
        #expect(p.isRepost)
        #expect(p.authorID == "777") // the retweeter, not the original's author
        #expect(p.createdAtMillis == 1_657_792_800_000)
    }

    @Test func v1FullTextModeAndNumericIDsOnly() throws {
        // tweet_mode=extended (REST) gives full_text; ids only as numbers.
        let line = #"{"created_at":"Sat Jun 25 19:09:37 +0000 2016","id":1234,"full_text":"full text mode #Tag","entities":{"hashtags":[{"text":"Tag","indices":[15,19]}]},"user":{"id":99}}"#
        let p = try decodeOne(line)
        #expect(p == Post(id: "1234", createdAtMillis: 1_466_881_777_000, text: "full text mode #Tag",
                          lang: nil, authorID: "99", source: "x1", hashtags: ["Tag"]))
    }

    static let canonical = ##"{"v":1,"id":"1570124883993313280","created_at":"2022-09-14T19:00:55.123Z","text":"Line one\nline \"two\" #SwiftLang 🚀 \\o/","lang":"en","author_id":"2244994945","source":"mastodon","is_repost":true,"hashtags":["SwiftLang"]}"##

    @Test func canonicalPost() throws {
        var d = PostDecoder()
        let posts = try d.decode(Self.canonical)
        #expect(d.lastShape == .canonical)
        let expected = Post(id: "1570124883993313280", createdAtMillis: EventTime.parse("2022-09-14T19:00:55.123Z")!,
                            text: "Line one\nline \"two\" #SwiftLang 🚀 \\o/", lang: "en", authorID: "2244994945",
                            source: "mastodon", isRepost: true, hashtags: ["SwiftLang"])
        #expect(posts == [expected])
        // Its canonical encoding is the same bytes.
        #expect(String(decoding: expected.canonicalJSON(), as: UTF8.self) == Self.canonical)
    }

    @Test func canonicalDefaultsAndNulls() throws {
        let p = try decodeOne(#"{"v":1,"id":"9","created_at":"2022-09-14T19:00:55Z","text":"hi","lang":null,"author_id":null}"#,
                              defaultSource: "replay")
        #expect(p == Post(id: "9", createdAtMillis: EventTime.parse("2022-09-14T19:00:55Z")!, text: "hi", source: "replay"))
        #expect(String(decoding: p.canonicalJSON(), as: UTF8.self)
                == #"{"v":1,"id":"9","created_at":"2022-09-14T19:00:55.000Z","text":"hi","lang":null,"author_id":null,"source":"replay","is_repost":false}"#)
        // Without "v" (hand-written replay files) the same rules apply.
        let q = try decodeOne(#"{"id":"10","created_at":"2022-09-14T19:00:55Z","text":"hello #x"}"#, defaultSource: "file")
        #expect(q.source == "file" && q.id == "10" && q.hashtags == nil)
    }

    @Test func canonicalEscapesControlCharacters() throws {
        let p = Post(id: "1", createdAtMillis: 0, text: "tab\there\u{1}\u{1F}\r\n\u{8}\u{C}\"\\/é", source: "t", hashtags: [])
        let json = String(decoding: p.canonicalJSON(), as: UTF8.self)
        #expect(json.contains(#""text":"tab\there\u0001\u001f\r\n\b\f\"\\/é""#))
        #expect(try decodeOne(json) == p)
    }
}

@Suite struct PostDecoderErrorTests {
    @Test func malformedJSON() {
        #expect(failure(#"{"v":1,"id":"1","created_at":"2022-09-14T19:00:55Z","text":"cut off"#)?.kind == "malformed_json")
        #expect(failure(#"{"v":1,"id":"1",}"#)?.kind == "malformed_json")
        #expect(failure(#"{"v":1} trailing"#)?.kind == "malformed_json")
        #expect(failure(#"{"text":"bad \q escape"}"#)?.kind == "malformed_json")
        let r = failure(#"{"a":[1,2"#)
        #expect(r == .malformedJSON("truncated JSON (unexpected end of line)"))
        #expect(r?.reason == "malformed_json: truncated JSON (unexpected end of line)")
    }

    @Test func invalidUTF8() {
        var d = PostDecoder()
        let bytes: [UInt8] = Array(#"{"v":1,"id":"1","text":"caf"#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: PostDecodeError.invalidUTF8(offset: 27)) { try d.decode(bytes) }
    }

    @Test func tenMegabyteLineIsTooLarge() throws {
        var d = PostDecoder()
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20)
        let line = Array(#"{"v":1,"id":"1","created_at":"2022-09-14T19:00:55Z","text":""#.utf8) + body + Array("\"}".utf8)
        #expect(throws: PostDecodeError.tooLarge(line.count)) { try d.decode(line) }
        // With a larger bound the same line decodes.
        var big = PostDecoder(maxLineBytes: 16 << 20)
        #expect(try big.decode(line).first?.text.utf8.count == 10 << 20)
    }

    @Test func deepNesting() {
        let line = #"{"v":1,"x":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        #expect(failure(line) == .malformedJSON("nesting deeper than 64"))
    }

    @Test func missingFields() {
        #expect(failure(#"{"v":1,"id":"1","text":"no time"}"#) == .missingField("created_at"))
        #expect(failure(#"{"v":1,"created_at":"2022-09-14T19:00:55Z","text":"no id"}"#) == .missingField("id"))
        #expect(failure(#"{"v":1,"id":"1","created_at":"2022-09-14T19:00:55Z"}"#) == .missingField("text"))
        #expect(failure(#"{"data":{"id":"1","text":"x"}}"#) == .missingField("data.created_at"))
        #expect(failure(#"{"id_str":"5","text":"x","user":{"id_str":"1"}}"#) == .missingField("created_at"))
        #expect(failure(#"{"v":1,"id":"1","created_at":null,"text":"null time"}"#) == .missingField("created_at"))
        #expect(failure(#"{"v":1,"id":"1","text":"no time"}"#)?.reason == "missing_field: created_at")
    }

    @Test func badTimestamps() {
        #expect(failure(#"{"v":1,"id":"1","created_at":"yesterday","text":"x"}"#) == .badTimestamp("yesterday"))
        #expect(failure(#"{"v":1,"id":"1","created_at":"2022-02-30T00:00:00Z","text":"x"}"#) == .badTimestamp("2022-02-30T00:00:00Z"))
        #expect(failure(#"{"data":{"id":"1","created_at":"Sat Jun 25 19:09:37 +0000 2016","text":"x"}}"#)
                == .badTimestamp("Sat Jun 25 19:09:37 +0000 2016"))
        #expect(failure(#"{"id_str":"1","created_at":"Sat Jun 31 19:09:37 +0000 2016","text":"x"}"#)
                == .badTimestamp("Sat Jun 31 19:09:37 +0000 2016"))
        #expect(failure(#"{"id_str":"1","timestamp_ms":"12a","text":"x"}"#) == .badTimestamp("12a"))
    }

    @Test func unknownShapesAndControlMessages() {
        #expect(failure(#"{"hello":"world"}"#)?.kind == "unknown_shape")
        #expect(failure("[1,2,3]") == .unknownShape("top level is not an object"))
        #expect(failure("42") == .unknownShape("top level is not an object"))
        #expect(failure(#"{"delete":{"status":{"id":1,"id_str":"1","user_id":3,"user_id_str":"3"},"timestamp_ms":"1466881777662"}}"#)
                == .notAPost("delete"))
        #expect(failure(#"{"limit":{"track":12,"timestamp_ms":"1466881777662"}}"#) == .notAPost("limit"))
        #expect(failure(#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect"}]}"#)
                == .notAPost("errors"))
    }

    @Test func versionsAndTypes() {
        #expect(failure(#"{"v":2,"id":"1","created_at":"2022-09-14T19:00:55Z","text":"x"}"#) == .unsupportedVersion(2))
        #expect(failure(#"{"v":1,"id":"1","created_at":"2022-09-14T19:00:55Z","text":42}"#) == .invalidField("text"))
        #expect(failure(#"{"v":1,"id":1,"created_at":"2022-09-14T19:00:55Z","text":"x"}"#) == .invalidField("id"))
        #expect(failure(#"{"v":1,"id":"1","created_at":"2022-09-14T19:00:55Z","text":"x","hashtags":[1]}"#) == .invalidField("hashtags[]"))
        #expect(failure(#"{"data":[{"id":"1","created_at":"2022-09-14T19:00:55Z","text":"x"},7]}"#) == .invalidField("data[]"))
    }

    @Test func pageIsAllOrNothing() {
        var d = PostDecoder()
        var posts: [Post] = [Post(id: "keep", createdAtMillis: 0, text: "", source: "t")]
        let line = #"{"data":[{"id":"1","created_at":"2022-09-14T19:00:55Z","text":"ok"},{"id":"2","text":"no time"}]}"#
        #expect(throws: PostDecodeError.missingField("data.created_at")) { try d.decode(line: line, into: &posts) }
        #expect(posts.map(\.id) == ["keep"])
    }

    @Test func escapedKeysAreRecognized() throws {
        let p = try decodeOne(#"{"\u0076":1,"i\u0064":"1","created_at":"2022-09-14T19:00:55Z","te\u0078t":"x"}"#)
        #expect(p.id == "1" && p.text == "x")
    }

    @Test func decoderSurvivesRandomGarbage() {
        // Mutations of a valid line: every outcome is posts or an error value, never a trap.
        var rng = SeededRandom(seed: 7)
        var d = PostDecoder()
        let base = Array(PostDecoderShapeTests.v2Retweet.utf8)
        var errors = 0
        for _ in 0..<3000 {
            var line = base
            for _ in 0..<(1 + rng.below(4)) {
                let at = rng.below(line.count)
                switch rng.below(3) {
                case 0: line[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: line.removeSubrange(at..<min(line.count, at + rng.below(20)))
                default: line = Array(line[0..<at])
                }
                if line.isEmpty { break }
            }
            var out: [Post] = []
            do throws(PostDecodeError) { try d.decode(line: line, into: &out) } catch { errors += 1 }
        }
        #expect(errors > 1000)
    }
}
