import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// The real `ingestd --source x2` against the strict fake X API v2 server and the embedded broker.
@Suite("IngestDaemon: x2 stream into Kafka", .serialized)
struct IngestDaemonX2Tests {
    static let token = "ingestd-test-bearer-Zq%2F9"

    static func post(_ id: Int, tag: String? = nil) -> String {
        if let tag {
            let text = "stream post \(id) #\(tag)"
            return #"{"data":{"id":"\#(id)","text":"\#(text)","created_at":"2026-11-25T10:00:0\#(id % 10).123Z","author_id":"42","lang":"en","edit_history_tweet_ids":["\#(id)"],"entities":{"hashtags":[{"start":\#(text.count - tag.count - 1),"end":\#(text.count),"tag":"\#(tag)"}]}},"matching_rules":[{"id":"7","tag":"t"}]}"#
        }
        return #"{"data":{"id":"\#(id)","text":"stream post \#(id) with no tag","created_at":"2026-11-25T10:00:0\#(id % 10).456Z","author_id":"43","lang":"de","edit_history_tweet_ids":["\#(id)"]},"matching_rules":[{"id":"7","tag":"t"}]}"#
    }

    static func script(_ connections: [[String: Any]], rules: [[String: String]] = []) -> [String: Any] {
        ["mode": "x2", "token": token, "rules": rules, "connections": connections,
         "require_tweet_fields": ["created_at", "lang", "author_id", "entities"],
         "require_expansions": ["referenced_tweets.id"]]
    }

    static func tokenFile(_ value: String) throws -> URL {
        let url = TestSupport.tempDir("ingestd-token").appendingPathComponent("bearer-token")
        try (value + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("keep-alives, a line cut by a disconnect, an operational disconnect, a 503 and a re-sent post: every post exactly once in tweets, rules synced")
    func streamIntoKafkaExactlyOnce() throws {
        let t0 = Date()
        let opDisconnect = #"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.x.com/2/problems/operational-disconnect"}]}"#
        let p = (1001...1008).map { $0 % 2 == 0 ? Self.post($0, tag: "Tag\($0)") : Self.post($0) }
        let cut = String(Self.post(1099).prefix(60))
        let server = try FakeStreamServer(script: Self.script([
            // 1: keep-alives, two posts, one split over two chunks, then a line cut by a dropped connection.
            ["steps": [["keepalive": 3, "every": 0.05], ["lines": [p[0], p[1]]],
                       ["send": String(p[2].prefix(25))], ["sleep": 0.05], ["send": String(p[2].dropFirst(25)) + "\r\n"],
                       ["send": cut], ["abort": true]]],
            // 2: posts, then X's operational-disconnect object (the client must leave by itself).
            ["steps": [["lines": [p[3], "", p[4], opDisconnect]], ["hold": true]]],
            // 3: 503 (HTTP backoff: 5 s).
            ["status": 503, "body": ["title": "Service Unavailable", "detail": "try later", "type": "about:blank", "status": 503]],
            // 4: re-sends p[4] (as a backfill would), then the rest.
            ["steps": [["lines": [p[4], p[5], p[6], p[7]]], ["hold": true]]],
        ], rules: [["id": "1", "value": "dog", "tag": "old"], ["id": "2", "value": "cat"]]))
        defer { server.stop() }
        let broker = try BrokerProcess(topics: ["tweets:4", "tweets.dlq:1"])
        defer { broker.stop() }
        let rulesFile = TestSupport.tempDir("ingestd-rules").appendingPathComponent("rules.tsv")
        try "# rules for the test\n\n#swift\tlang\n".write(to: rulesFile, atomically: true, encoding: .utf8)
        let spool = TestSupport.tempDir("ingestd-spool")
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "x2", "--api-base-url", server.baseURL, "--bearer-token-file", try Self.tokenFile(Self.token).path,
            "--rule", "cat", "--rules-file", rulesFile.path, "--stall-timeout", "5s",
        ], spoolDir: spool)
        defer { if ingestd.isRunning { ingestd.signal(SIGKILL) } }

        let reachedFourth = IngestDaemonHarness.wait(timeout: 40) { server.streamRequests().count >= 4 }
        #expect(reachedFourth, "stream requests: \(server.streamRequests().count); ingestd: \(ingestd.stderr)")
        // Give the last connection's posts time to be delivered, then stop cleanly.
        _ = IngestDaemonHarness.wait(timeout: 10) { ingestd.stderr.contains("stream connected") && ingestd.stderr.components(separatedBy: "stream connected").count - 1 >= 3 }
        Thread.sleep(forTimeInterval: 1.5)
        ingestd.signal(SIGTERM)
        let status = ingestd.wait(timeout: 30)
        #expect(status == 0, "ingestd exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "posts") == 8, "\(ingestd.stderr)")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "dead_lettered") == 0)

        // Kafka: every post the server sent, once, keyed by its id, canonical JSON with source x2.
        let records = try IngestDaemonHarness.consume(broker, topic: "tweets")
        let expectedIDs = (1001...1008).map(String.init)
        #expect(records.map(\.key).sorted() == expectedIDs, "keys: \(records.map(\.key))")
        #expect(!records.contains { $0.key == "1099" }, "the line cut by the disconnect must never be delivered")
        var decoder = PostDecoder(defaultSource: "x2")
        for (i, line) in p.enumerated() {
            let id = String(1001 + i)
            guard let r = records.first(where: { $0.key == id }) else { continue }
            let expected = try decoder.decode(line)
            #expect(expected.count == 1)
            #expect(r.value == String(decoding: expected[0].canonicalJSON(), as: UTF8.self), "value of \(id)")
            let obj = IngestDaemonHarness.json(r.value)
            #expect(obj?["v"] as? Int == 1)
            #expect(obj?["id"] as? String == id)
            #expect(obj?["source"] as? String == "x2")
            #expect(obj?["created_at"] as? String == "2026-11-25T10:00:0\((1001 + i) % 10).\((1001 + i) % 2 == 0 ? "123" : "456")Z")
            if (1001 + i) % 2 == 0 {
                #expect(obj?["hashtags"] as? [String] == ["Tag\(1001 + i)"], "hashtags from entities: \(r.value)")
            } else {
                #expect(obj?["hashtags"] == nil, "no hashtags key when the source supplied none: \(r.value)")
            }
        }
        // Same key, same partition (one copy each, so just a sanity check that keys spread).
        #expect(Set(records.map(\.partition)).count > 1)
        let dlq = try IngestDaemonHarness.consume(broker, topic: "tweets.dlq", idle: "1s")
        #expect(dlq.isEmpty, "unexpected dead letters: \(dlq)")

        // The stream requests: 4 connections, all asking for the fields the decoder needs.
        let streams = server.streamRequests()
        #expect(streams.count >= 4)
        for s in streams {
            let q = s["query"] as? [String: String]
            #expect(q?["tweet.fields"]?.split(separator: ",").contains("entities") == true)
            #expect(q?["expansions"] == "referenced_tweets.id")
        }
        let t = IngestXStreamV2Tests.times(streams)
        if t.count >= 4 {
            #expect(t[2] - t[1] < 3, "operational disconnect: network backoff, not HTTP (\(t[2] - t[1]) s)")
            #expect(t[3] - t[2] >= 4.9, "after a 503 the HTTP backoff (5 s) applies (\(t[3] - t[2]) s)")
        }

        // Rule sync: GET, then delete 'dog' (dry run first) and add '#swift' tagged 'lang' (dry run first); 'cat' untouched.
        let rules = server.requests().filter { ($0["kind"] as? String) == "rules" }
        #expect(rules.first?["method"] as? String == "GET")
        let posts = rules.filter { ($0["method"] as? String) == "POST" }
        func body(_ r: [String: Any]) -> [String: Any]? { IngestDaemonHarness.json(r["body"] as? String ?? "") }
        func isDry(_ r: [String: Any]) -> Bool { (r["query"] as? [String: String])?["dry_run"] == "true" }
        let realDeletes = posts.filter { !isDry($0) && body($0)?["delete"] != nil }
        let realAdds = posts.filter { !isDry($0) && body($0)?["add"] != nil }
        #expect(realDeletes.count == 1)
        #expect(((realDeletes.first.flatMap(body)?["delete"] as? [String: Any])?["ids"] as? [String]) == ["1"])
        #expect(realAdds.count == 1)
        let added = (realAdds.first.flatMap(body)?["add"] as? [[String: String]]) ?? []
        #expect(added == [["value": "#swift", "tag": "lang"]], "added: \(added)")
        // Every change goes first as a dry run with the same body (all dry runs before the first real change).
        let firstReal = posts.firstIndex { !isDry($0) } ?? posts.count
        for real in realDeletes + realAdds {
            #expect(posts[..<firstReal].contains { isDry($0) && ($0["body"] as? String) == (real["body"] as? String) },
                    "no dry run for \(real["body"] ?? "")")
        }
        #expect(posts.count == 4, "rule POSTs: \(posts.map { $0["body"] ?? "" })")
        #expect(rules.allSatisfy { [200, 201].contains($0["status"] as? Int ?? 0) })
        #expect(ingestd.stderr.contains("1 added, 1 deleted, 1 unchanged"), "\(ingestd.stderr)")
        #expect(!ingestd.stderr.contains(Self.token), "the bearer token must never be logged")
        print("x2 exactly-once test: \(records.count) records, \(streams.count) stream requests, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }

    @Test("a 401 on the stream: ingestd exits 78 at once with a message naming the credential, token not logged")
    func unauthorizedStreamExits78() throws {
        let server = try FakeStreamServer(script: Self.script([
            ["status": 401, "body": ["title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"]],
        ]))
        defer { server.stop() }
        let broker = try BrokerProcess(topics: ["tweets:1", "tweets.dlq:1"])
        defer { broker.stop() }
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "x2", "--api-base-url", server.baseURL, "--bearer-token-file", try Self.tokenFile(Self.token).path,
            "--rule", "cat",
        ], spoolDir: TestSupport.tempDir("ingestd-spool"))
        let t0 = Date()
        let status = ingestd.wait(timeout: 30)
        #expect(status == 78, "exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(Date().timeIntervalSince(t0) < 15)
        #expect(ingestd.stderr.contains("rejected the credentials (HTTP 401"), "\(ingestd.stderr)")
        #expect(ingestd.stderr.contains("bearer token"), "\(ingestd.stderr)")
        #expect(server.streamRequests().count == 1, "a 401 is not retried")
        #expect(!ingestd.stderr.contains(Self.token))
    }

    @Test("a wrong bearer token (401 from the rules API): ingestd exits 78 before streaming")
    func wrongTokenExits78() throws {
        let server = try FakeStreamServer(script: Self.script([["steps": [["hold": true]]]]))
        defer { server.stop() }
        let broker = try BrokerProcess(topics: ["tweets:1", "tweets.dlq:1"])
        defer { broker.stop() }
        let wrong = "not-the-right-token-123"
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "x2", "--api-base-url", server.baseURL, "--bearer-token-file", try Self.tokenFile(wrong).path,
            "--rule", "cat",
        ], spoolDir: TestSupport.tempDir("ingestd-spool"))
        let status = ingestd.wait(timeout: 30)
        #expect(status == 78, "exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(ingestd.stderr.contains("401"), "\(ingestd.stderr)")
        #expect(server.streamRequests().isEmpty, "no stream request with rejected credentials")
        #expect(!ingestd.stderr.contains(wrong))
    }

    @Test("x2 stream at ~300 posts/s while the broker is down for 8 s: spooled from the stream thread, drained, every post once")
    func streamThroughBrokerOutage() throws {
        let t0 = Date()
        let perStep = 30, stepsCount = 100
        var steps: [[String: Any]] = []
        for s in 0..<stepsCount {
            steps.append(["lines": (0..<perStep).map { Self.post(100_000 + s * perStep + $0) }])
            steps.append(["sleep": 0.1])
        }
        steps.append(["hold": true])
        let server = try FakeStreamServer(script: Self.script([["steps": steps]]))
        defer { server.stop() }
        let broker = try BrokerProcess(topics: ["tweets:4", "tweets.dlq:1"])
        defer { broker.stop() }
        let spoolDir = TestSupport.tempDir("ingestd-spool")
        let ingestd = try IngestDaemonHarness.start(broker: broker, [
            "--source", "x2", "--api-base-url", server.baseURL, "--bearer-token-file", try Self.tokenFile(Self.token).path,
            "--rule", "cat",
        ], spoolDir: spoolDir)
        defer { if ingestd.isRunning { ingestd.signal(SIGKILL) } }
        #expect(ingestd.waitForStderr(containing: "stream connected", timeout: 20), "\(ingestd.stderr)")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(broker.command("down 1") == "ok")
        Thread.sleep(forTimeInterval: 8)
        let spooledAtUp = IngestDaemonHarness.spoolRecordBytes(spoolDir)
        #expect(broker.command("up 1") == "ok")
        let total = perStep * stepsCount
        // The script takes about 10 s on an idle machine; wait for the drain, then stop cleanly.
        let drained = IngestDaemonHarness.wait(timeout: 60) { ingestd.stderr.contains("spool drained; producing directly again") }
        #expect(drained, "\(ingestd.stderr)")
        _ = IngestDaemonHarness.wait(timeout: 30) { Date().timeIntervalSince(t0) > 16 }
        Thread.sleep(forTimeInterval: 1)
        ingestd.signal(SIGTERM)
        let status = ingestd.wait(timeout: 40)
        #expect(status == 0, "exit \(String(describing: status)): \(ingestd.stderr)")
        #expect(spooledAtUp > 0, "nothing spooled during the outage")
        #expect(IngestDaemonHarness.finalFigure(ingestd.stderr, "posts") == total, "\(ingestd.stderr.suffix(2000))")
        let records = try IngestDaemonHarness.consume(broker, topic: "tweets")
        let ids = records.map(\.key)
        #expect(ids.count == total, "\(ids.count) records for \(total) posts")
        #expect(Set(ids) == Set((0..<total).map { String(100_000 + $0) }), "missing: \(Set((0..<total).map { String(100_000 + $0) }).subtracting(ids).count)")
        #expect(Set(ids).count == ids.count, "\(ids.count - Set(ids).count) duplicates")
        #expect(records.allSatisfy { IngestDaemonHarness.json($0.value)?["source"] as? String == "x2" })
        print("x2 outage test: \(total) posts, \(spooledAtUp) spool bytes at up, \(records.count) in Kafka, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }
}
