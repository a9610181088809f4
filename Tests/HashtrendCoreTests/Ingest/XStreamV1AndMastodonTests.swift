import Foundation
import Testing
@testable import HashtrendCore

/// X API v1.1 statuses/filter against the fake (mode x1), which recomputes every OAuth signature.
@Suite("Ingest: X v1.1 statuses/filter", .serialized)
struct IngestXStreamV1Tests {
    static let oauth = ["consumer_key": "ck-xvz1evFS4w", "consumer_secret": "cs-kAcSOqF21Fu85e7z/+=",
                        "access_token": "370773112-GmHxMAgYyL", "access_secret": "as-Lsww doUa&%"]

    static func credentials(secret: String = oauth["consumer_secret"]!) -> OAuth1Credentials {
        OAuth1Credentials(consumerKey: Secret(oauth["consumer_key"]!), consumerSecret: Secret(secret),
                          accessToken: Secret(oauth["access_token"]!), accessSecret: Secret(oauth["access_secret"]!))
    }

    static func status(_ id: Int) -> String {
        #"{"created_at":"Wed Nov 25 10:00:00 +0000 2026","id":\#(id),"id_str":"\#(id)","text":"v1 #tag\#(id)","user":{"id_str":"9"},"entities":{"hashtags":[{"text":"tag\#(id)"}]}}"#
    }

    func stream(_ server: FakeStreamServer, _ rec: StreamRecorder, credentials: OAuth1Credentials) -> XStatusesFilterV1 {
        var s = XStatusesFilterV1.Settings()
        s.baseURL = server.baseURL
        s.track = ["#swift", "hashtrend trends", "ünïcode"]
        s.follow = ["783214"]
        s.locations = [-122.75, 36.8, -121.75, 37.8]
        s.stream = testStreamSettings()
        return XStatusesFilterV1(settings: s, credentials: credentials, handlers: rec.handlers)
    }

    @Test("our signatures are accepted on every (re)connect; statuses arrive once, control messages are skipped")
    func signedStream() throws {
        let server = try FakeStreamServer(script: ["mode": "x1", "oauth": Self.oauth, "connections": [
            ["steps": [["lines": ["", Self.status(1), #"{"delete":{"status":{"id":5,"id_str":"5","user_id":9}}}"#,
                                  #"{"limit":{"track":12,"timestamp_ms":"1764064800000"}}"#, Self.status(2)]],
                       ["send": String(Self.status(3).prefix(20))], ["abort": true]]],
            ["steps": [["keepalive": 2, "every": 0.05], ["lines": [Self.status(3)]], ["hold": true]]],
        ]])
        let rec = StreamRecorder()
        let s = stream(server, rec, credentials: Self.credentials())
        let error = StreamHarness.run(s, timeout: 15) { rec.snapshot.lines.count >= 3 }
        #expect(error == nil)
        #expect(rec.snapshot.lines == [Self.status(1), Self.status(2), Self.status(3)])
        #expect(s.counters.ignored == 2)
        #expect(rec.snapshot.bad.isEmpty)
        let reqs = server.requests()
        #expect(reqs.count == 2)
        #expect(reqs.allSatisfy { ($0["status"] as? Int) == 200 })
        let form = Dictionary(uniqueKeysWithValues: ((reqs.first?["body"] as? String) ?? "").split(separator: "&").map { kv -> (String, String) in
            let p = kv.split(separator: "=", maxSplits: 1).map(String.init)
            return (p[0], (p.count > 1 ? p[1] : "").removingPercentEncoding ?? "")
        })
        #expect(form["track"] == "#swift,hashtrend trends,ünïcode")
        #expect(form["follow"] == "783214")
        #expect(form["locations"] == "-122.75,36.8,-121.75,37.8")
    }

    @Test("a tampered consumer secret is rejected by the fake's signature check: 401, exit 78")
    func tamperedSecret() throws {
        let server = try FakeStreamServer(script: ["mode": "x1", "oauth": Self.oauth, "connections": [["steps": [["hold": true]]]]])
        let rec = StreamRecorder()
        let s = stream(server, rec, credentials: Self.credentials(secret: "cs-kAcSOqF21Fu85e7z/+!"))
        let error = StreamHarness.run(s, timeout: 10) { false }
        let exit = try #require(error as? DaemonExit)
        #expect(exit.code == 78)
        #expect(exit.message.contains("401"))
        #expect(exit.message.contains("Could not authenticate you"))
        #expect(server.requests().map { $0["status"] as? Int } == [401])
    }

    @Test("a disconnect message (code 6, token revoked) exits 78; configuration without filters is refused")
    func disconnectAndValidation() throws {
        let server = try FakeStreamServer(script: ["mode": "x1", "oauth": Self.oauth, "connections": [
            ["steps": [["lines": [Self.status(1), #"{"disconnect":{"code":6,"stream_name":"x","reason":"token revoked"}}"#]], ["hold": true]]],
        ]])
        let rec = StreamRecorder()
        let s = stream(server, rec, credentials: Self.credentials())
        let error = StreamHarness.run(s, timeout: 10) { false }
        #expect((error as? DaemonExit)?.code == 78)
        #expect(rec.snapshot.lines == [Self.status(1)])

        var empty = XStatusesFilterV1.Settings()
        empty.baseURL = server.baseURL
        let none = XStatusesFilterV1(settings: empty, credentials: Self.credentials(), handlers: StreamHandlers())
        #expect(throws: DaemonExit.self) { try none.run() }
        empty.track = ["a"]
        empty.locations = [1, 2, 3]
        let odd = XStatusesFilterV1(settings: empty, credentials: Self.credentials(), handlers: StreamHandlers())
        #expect(throws: DaemonExit.self) { try odd.run() }
        #expect(server.requests().count == 1)
    }
}

/// Mastodon streaming (SSE) against the fake (mode mastodon).
@Suite("Ingest: Mastodon streaming", .serialized)
struct IngestMastodonStreamTests {
    static let token = "mastodon-token-xyz"

    static func status(_ id: Int, html: String, tags: [String], lang: String = "en", reblog: String = "null") -> String {
        let tagJSON = tags.map { #"{"name":"\#($0)","url":"https://m.example/tags/\#($0)"}"# }.joined(separator: ",")
        return #"{"id":"\#(id)","created_at":"2026-11-25T10:00:0\#(id % 10).000Z","content":"\#(html)","language":"\#(lang)","account":{"id":"a\#(id)","acct":"u\#(id)"},"tags":[\#(tagJSON)],"reblog":\#(reblog)}"#
    }

    func stream(_ server: FakeStreamServer, _ rec: StreamRecorder, token: String = token, hashtag: String? = nil) -> MastodonStream {
        var s = MastodonStream.Settings()
        s.instance = server.baseURL
        s.hashtag = hashtag
        s.stream = testStreamSettings()
        return MastodonStream(settings: s, accessToken: Secret(token), handlers: rec.handlers)
    }

    @Test("heartbeats ignored, update events become posts (HTML to text, tags, reblogs), other events skipped")
    func events() throws {
        let s1 = Self.status(1, html: #"<p>Trending: <a href=\"https://m.example/tags/SwiftLang\" class=\"mention hashtag\" rel=\"tag\">#<span>SwiftLang</span></a> &amp; more</p><p>second<br>line</p>"#, tags: ["swiftlang"])
        let original = Self.status(9, html: #"<p>orig &lt;3 <a href=\"https://example.com/x\"><span class=\"invisible\">https://</span><span class=\"\">example.com/x</span></a></p>"#, tags: ["orig"], lang: "fr")
        let s2 = Self.status(2, html: "", tags: [], reblog: original)
        let sse = ":)\n\n" +
            "event: update\ndata: \(s1)\n\n" +
            ":thump\n" +
            "event: delete\ndata: 12345\n\n" +
            "event: status.update\ndata: \(Self.status(1, html: "<p>edited</p>", tags: []))\n\n" +
            "event: update\ndata: \(s2)\n\n" +
            "event: update\ndata: {\"id\": broken\n\n"
        let server = try FakeStreamServer(script: ["mode": "mastodon", "token": Self.token, "connections": [
            ["steps": [["send": String(sse.prefix(50))], ["sleep": 0.05], ["send": String(sse.dropFirst(50))],
                       ["hold": true, "text": ":)\n", "every": 0.1]]],
        ]])
        let rec = StreamRecorder()
        let s = stream(server, rec, hashtag: "#SwiftLang")
        let error = StreamHarness.run(s, timeout: 10) { rec.snapshot.posts.count >= 2 && rec.snapshot.bad.count >= 1 }
        #expect(error == nil)
        let posts = rec.snapshot.posts
        try #require(posts.count == 2)
        #expect(posts[0] == Post(id: "1", createdAtMillis: EventTime.parse("2026-11-25T10:00:01.000Z")!,
                                 text: "Trending: #SwiftLang & more\n\nsecond\nline", lang: "en", authorID: "a1",
                                 source: "mastodon", isRepost: false, hashtags: ["swiftlang"]))
        #expect(posts[1].id == "2")
        #expect(posts[1].isRepost)
        #expect(posts[1].text == "orig <3 https://example.com/x")
        #expect(posts[1].lang == "fr")
        #expect(posts[1].hashtags == ["orig"])
        #expect(posts[1].authorID == "a2")
        #expect(rec.snapshot.bad.count == 1)
        #expect(rec.snapshot.lines.isEmpty)
        let c = s.counters
        #expect(c.lines == 2)
        #expect(c.ignored == 2)           // delete, status.update
        #expect(c.keepAlives >= 2)
        let req = try #require(server.requests().first)
        #expect(req["path"] as? String == "/api/v1/streaming/hashtag")
        #expect((req["query"] as? [String: String])?["tag"] == "SwiftLang")
        #expect(req["status"] as? Int == 200)
    }

    @Test("a wrong access token is not retried: exit 78")
    func unauthorized() throws {
        let server = try FakeStreamServer(script: ["mode": "mastodon", "token": Self.token, "connections": []])
        let error = StreamHarness.run(stream(server, StreamRecorder(), token: "bad"), timeout: 10) { false }
        let exit = try #require(error as? DaemonExit)
        #expect(exit.code == 78)
        #expect(exit.message.contains("The access token is invalid"))
        #expect(server.requests().count == 1)
        #expect(server.requests().first?["path"] as? String == "/api/v1/streaming/public")
    }
}
