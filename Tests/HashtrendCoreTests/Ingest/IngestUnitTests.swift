import Foundation
import Testing
@testable import HashtrendCore

@Suite("Ingest: reconnect policy")
struct IngestReconnectPolicyTests {
    @Test("network errors back off linearly by 250 ms up to 16 s")
    func networkLinear() {
        var p = ReconnectPolicy()
        let delays = (0..<70).map { _ in p.nextDelay(after: .network, now: 0) }
        #expect(Array(delays.prefix(4)) == [0.25, 0.5, 0.75, 1.0])
        #expect(delays[63] == 16)
        #expect(delays.max() == 16)
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test("HTTP errors back off exponentially from 5 s up to 320 s")
    func httpExponential() {
        var p = ReconnectPolicy()
        let delays = (0..<9).map { _ in p.nextDelay(after: .http(status: 503), now: 0) }
        #expect(delays == [5, 10, 20, 40, 80, 160, 320, 320, 320])
    }

    @Test("429 backs off from 60 s, doubling, and waits for x-rate-limit-reset when that is later")
    func rateLimited() {
        var p = ReconnectPolicy()
        do { let d = p.nextDelay(after: .rateLimited, now: 1000); #expect(d == 60) }
        do { let d = p.nextDelay(after: .rateLimited, now: 1000); #expect(d == 120) }
        // The reset is 500 s away: later than the 240 s backoff, so it wins.
        do { let d = p.nextDelay(after: .rateLimited, headers: ["x-rate-limit-reset": "1500"], now: 1000); #expect(d == 500) }
        // A reset in the past or sooner than the backoff does not shorten it.
        do { let d = p.nextDelay(after: .rateLimited, headers: ["x-rate-limit-reset": "1001"], now: 1000); #expect(d == 480) }
        do { let d = p.nextDelay(after: .rateLimited, now: 0); #expect(d == 900) }
    }

    @Test("a healthy connection resets the counters and reconnects at once after a network drop")
    func healthyReset() {
        var p = ReconnectPolicy()
        _ = p.nextDelay(after: .http(status: 500), now: 0)
        _ = p.nextDelay(after: .http(status: 500), now: 0)
        _ = p.nextDelay(after: .network, now: 0)
        // Up 31 s with data: immediate, then the linear series starts over.
        do { let d = p.nextDelay(after: .network, connectedFor: 31, receivedData: true, now: 0); #expect(d == 0) }
        do { let d = p.nextDelay(after: .network, now: 0); #expect(d == 0.25) }
        do { let d = p.nextDelay(after: .http(status: 500), now: 0); #expect(d == 5) }
        // Up long but without data is not healthy.
        do { let d = p.nextDelay(after: .http(status: 500), connectedFor: 100, receivedData: false, now: 0); #expect(d == 10) }
    }

    @Test("timeScale scales backoffs and the healthy period, not the absolute reset time")
    func timeScale() {
        var p = ReconnectPolicy(timeScale: 0.01)
        do { let d = p.nextDelay(after: .http(status: 503), now: 0); #expect(abs(d - 0.05) < 1e-9) }
        do { let d = p.nextDelay(after: .rateLimited, headers: ["x-rate-limit-reset": "103"], now: 100); #expect(abs(d - 3) < 1e-9) }
        do { let d = p.nextDelay(after: .network, connectedFor: 0.31, receivedData: true, now: 0); #expect(d == 0) }
    }
}

@Suite("Ingest: line assembly")
struct IngestLineAssemblerTests {
    func lines(_ text: String, chunks: [Int], max: Int = 100) -> (lines: [String], oversized: [(String, Int)], pending: Int) {
        var a = LineAssembler(maxLineBytes: max, prefixBytes: 8)
        let bytes = Array(text.utf8)
        var out: [String] = []
        var over: [(String, Int)] = []
        var i = 0
        var k = 0
        while i < bytes.count {
            let n = min(chunks[k % chunks.count], bytes.count - i)
            _ = bytes[i..<(i + n)].withUnsafeBufferPointer { p in
                a.feed(p, line: { out.append(String(decoding: $0, as: UTF8.self)); return true },
                       oversized: { over.append((String(decoding: $0, as: UTF8.self), $1)) })
            }
            i += n
            k += 1
        }
        return (out, over, a.pendingBytes)
    }

    @Test("every chunking gives the same lines; CRLF and LF both end lines; empty lines kept")
    func chunkings() {
        let text = "{\"a\":1}\r\n\r\nsecond line\nthird\r\n\r\n"
        let expected = ["{\"a\":1}", "", "second line", "third", ""]
        for size in 1...text.utf8.count {
            #expect(lines(text, chunks: [size]).lines == expected, "chunk size \(size)")
        }
        #expect(lines(text, chunks: [1, 3, 7, 2]).lines == expected)
    }

    @Test("a line over the limit is reported with its first bytes and length; the next line is intact")
    func oversized() {
        let long = String(repeating: "x", count: 250)
        for size in [1, 7, 64, 1000] {
            let r = lines("ok\r\n" + long + "\r\nafter\n", chunks: [size])
            #expect(r.lines == ["ok", "after"], "chunk \(size)")
            #expect(r.oversized.count == 1)
            #expect(r.oversized.first?.0 == "xxxxxxxx")
            #expect(r.oversized.first?.1 == 250)
        }
        // Exactly at the limit is fine, with or without CR.
        let exact = String(repeating: "y", count: 100)
        #expect(lines(exact + "\r\n" + exact + "\n", chunks: [3]).lines == [exact, exact])
    }

    @Test("an unfinished line stays pending and is never delivered")
    func partial() {
        let r = lines("one\r\ntwo-part", chunks: [4])
        #expect(r.lines == ["one"])
        #expect(r.pending == 8)
    }
}

@Suite("Ingest: OAuth 1.0a")
struct IngestOAuth1Tests {
    // X's "Creating a signature" worked example (docs.x.com, fundamentals/authentication/oauth-1-0a).
    static let parameters: [(String, String)] = [
        ("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
        ("include_entities", "true"),
        ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
        ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1318622958"),
        ("oauth_token", "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"),
        ("oauth_version", "1.0"),
    ]
    static let consumerSecret = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
    static let tokenSecret = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"

    @Test("X's documented example: base string and signature reproduced exactly")
    func documentedExample() {
        let base = OAuth1Signer.signatureBaseString(method: "post", baseURL: "https://api.x.com/1.1/statuses/update.json",
                                                    parameters: Self.parameters)
        #expect(base == "POST&https%3A%2F%2Fapi.x.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521")
        #expect(OAuth1Signer.signature(baseString: base, consumerSecret: Self.consumerSecret, tokenSecret: Self.tokenSecret)
                == "Ls93hJiZbQ3akF3HF3x1Bz8/zU4=")
        // The same page before the rename used api.twitter.com; its published signature too.
        let legacy = OAuth1Signer.signatureBaseString(method: "POST", baseURL: "https://api.twitter.com/1.1/statuses/update.json",
                                                      parameters: Self.parameters)
        #expect(OAuth1Signer.signature(baseString: legacy, consumerSecret: Self.consumerSecret, tokenSecret: Self.tokenSecret)
                == "hCtSmYh+iHYCEqBWrE7C7hYmtUk=")
    }

    @Test("the signer builds the same signature from credentials, nonce and timestamp")
    func signerMatchesExample() {
        let signer = OAuth1Signer(credentials: OAuth1Credentials(
            consumerKey: Secret("xvz1evFS4wEEPTGEFPHBog"), consumerSecret: Secret(Self.consumerSecret),
            accessToken: Secret("370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"), accessSecret: Secret(Self.tokenSecret)))
        let header = signer.authorizationHeader(method: "POST", baseURL: "https://api.x.com/1.1/statuses/update.json",
                                                parameters: [("include_entities", "true"), ("status", "Hello Ladies + Gentlemen, a signed OAuth request!")],
                                                nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", timestamp: 1318622958)
        #expect(header.hasPrefix("OAuth "))
        #expect(header.contains("oauth_signature=\"Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D\""))
        #expect(header.contains("oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\""))
    }

    @Test("the four v1.1 secrets load from $CREDENTIALS_DIRECTORY; missing ones are named (exit 78)")
    func loadCredentials() throws {
        let dir = TestSupport.tempDir("creds")
        for (name, value) in [("x1-consumer-key", "ck"), ("x1-consumer-secret", "cs\n"), ("x1-access-token", "at")] {
            try Data(value.utf8).write(to: dir.appendingPathComponent(name))
        }
        let env = ["CREDENTIALS_DIRECTORY": dir.path]
        #expect(throws: DaemonExit.self) { try OAuth1Credentials.load(environment: env) }
        do { _ = try OAuth1Credentials.load(environment: env) } catch let e as DaemonExit {
            #expect(e.code == 78)
            #expect(e.message.contains("x1-access-secret"))
            #expect(!e.message.contains("x1-consumer-key'"))
        }
        try Data("as".utf8).write(to: dir.appendingPathComponent("x1-access-secret"))
        let c = try OAuth1Credentials.load(environment: env)
        #expect(c.consumerSecret.reveal() == "cs")
        #expect(c.accessSecret.reveal() == "as")
        #expect("\(c.consumerKey)" == "<redacted>")
    }

    @Test("percent-encoding as X's page lists it")
    func percentEncoding() {
        #expect(OAuth1Signer.percentEncode("Ladies + Gentlemen") == "Ladies%20%2B%20Gentlemen")
        #expect(OAuth1Signer.percentEncode("An encoded string!") == "An%20encoded%20string%21")
        #expect(OAuth1Signer.percentEncode("Dogs, Cats & Mice") == "Dogs%2C%20Cats%20%26%20Mice")
        #expect(OAuth1Signer.percentEncode("☃") == "%E2%98%83")
        #expect(OAuth1Signer.percentEncode("a-b.c_d~e") == "a-b.c_d~e")
    }
}

@Suite("Ingest: ids and scanning")
struct IngestRecentIDsTests {
    @Test("RecentIDs drops duplicates and evicts the oldest beyond capacity")
    func fifo() {
        var r = RecentIDs(capacity: 3)
        do { let ok = r.insert("1"); #expect(ok) }
        do { let ok = r.insert("2"); #expect(ok) }
        do { let ok = r.insert("1"); #expect(!ok) }
        do { let ok = r.insert("3"); #expect(ok) }
        do { let ok = r.insert("4"); #expect(ok) }       // evicts "1"
        #expect(r.count == 3)
        #expect(!r.contains("1"))
        do { let ok = r.insert("1"); #expect(ok) }       // new again; evicts "2"
        #expect(!r.contains("2"))
        do { let ok = r.insert("4"); #expect(!ok) }
    }

    func scan(_ json: String, _ path: [String]) -> String? {
        var s = json
        return s.withUTF8 { JSONKeyScan.stringValue(at: path, in: $0) }
    }

    @Test("the id scan takes data.id at the right depth only")
    func idScan() {
        let line = #"{"includes":{"tweets":[{"id":"999","text":"x"}]},"data":{"entities":{"mentions":[{"id":"5","username":"a"}]},"text":"say \"id\":\"7\"","id":"1234"},"matching_rules":[{"id":"1","tag":"t"}]}"#
        #expect(scan(line, ["data", "id"]) == "1234")
        #expect(scan(#"{"data" : { "id" : "42" }}"#, ["data", "id"]) == "42")
        #expect(scan(#"{"data":{"text":"no id"},"id":"9"}"#, ["data", "id"]) == nil)
        #expect(scan(#"{"created_at":"x","id":123,"id_str":"123","user":{"id_str":"77"}}"#, ["id_str"]) == "123")
        #expect(scan(#"{"user":{"id_str":"77"}}"#, ["id_str"]) == nil)
        var s = #"{"a":1,"errors":[{"title":"x"}]}"#
        #expect(s.withUTF8 { JSONKeyScan.hasTopLevelKey("errors", in: $0) })
        #expect(!s.withUTF8 { JSONKeyScan.hasTopLevelKey("title", in: $0) })
        #expect(s.withUTF8 { JSONKeyScan.firstKey(in: $0) } == "a")
    }
}

@Suite("Ingest: Mastodon statuses")
struct IngestMastodonStatusTests {
    @Test("HTML to text: paragraphs, <br>, links with invisible parts, entities")
    func html() {
        #expect(MastodonHTML.text("<p>Hello <a href=\"https://m.example/tags/Swift\" class=\"mention hashtag\" rel=\"tag\">#<span>Swift</span></a> &amp; friends</p><p>line one<br>line two<br />end</p>")
                == "Hello #Swift & friends\n\nline one\nline two\nend")
        #expect(MastodonHTML.text("<p>see <a href=\"https://example.com/a/very/long/path\" rel=\"nofollow\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/a/very/lo</span><span class=\"invisible\">ng/path</span></a></p>")
                == "see https://example.com/a/very/long/path")
        #expect(MastodonHTML.text("&lt;b&gt; &quot;q&quot; &#39;s&#x27; &#128512; &bogus; a&b") == "<b> \"q\" 's' 😀 &bogus; a&b")
        #expect(MastodonHTML.text("") == "")
        #expect(MastodonHTML.text("<p>a &gt; b</p>") == "a > b")
    }

    @Test("a Status becomes a Post; a reblog carries the original's text, language and tags")
    func status() throws {
        let json = #"{"id":"1101","created_at":"2026-11-25T10:00:01.500Z","content":"<p>Hi <a href=\"x\" class=\"mention hashtag\">#<span>Rust</span></a></p>","language":"en","account":{"id":"42","acct":"a"},"tags":[{"name":"rust","url":"x"}],"reblog":null}"#
        let p = try MastodonStatus.post(fromJSON: Array(json.utf8))
        #expect(p == Post(id: "1101", createdAtMillis: EventTime.parse("2026-11-25T10:00:01.500Z")!, text: "Hi #Rust", lang: "en",
                          authorID: "42", source: "mastodon", isRepost: false, hashtags: ["rust"]))
        let boost = #"{"id":"1102","created_at":"2026-11-25T10:00:02.000Z","content":"","language":null,"account":{"id":"43"},"tags":[],"reblog":{"id":"900","created_at":"2026-11-24T09:00:00.000Z","content":"<p>orig <a>#<span>Zig</span></a></p>","language":"de","account":{"id":"7"},"tags":[{"name":"zig"}]}}"#
        let q = try MastodonStatus.post(fromJSON: Array(boost.utf8))
        #expect(q.id == "1102")
        #expect(q.isRepost)
        #expect(q.text == "orig #Zig")
        #expect(q.lang == "de")
        #expect(q.authorID == "43")
        #expect(q.hashtags == ["zig"])
        #expect(q.createdAtMillis == EventTime.parse("2026-11-25T10:00:02Z")!)
        #expect(throws: MastodonDecodeError.self) { try MastodonStatus.post(fromJSON: Array(#"{"id":"1"}"#.utf8)) }
    }

    @Test("rules file: VALUE<TAB>TAG lines, comments skipped, empty value rejected")
    func rulesFile() throws {
        let rules = try XStreamRule.parseRulesFile("# trends\n#swift lang:en\tswift\r\n\ncat has:images\n")
        #expect(rules == [XStreamRule(value: "#swift lang:en", tag: "swift"), XStreamRule(value: "cat has:images")])
        #expect(throws: DaemonExit.self) { try XStreamRule.parseRulesFile(" \tonly-tag\n") }
    }
}
