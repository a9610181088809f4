import Foundation
import Synchronization
import Testing
@testable import HashtrendCore

/// X API v2 filtered stream against `tests/fakes/fake_stream_server.py` (mode x2).
@Suite("Ingest: X v2 filtered stream", .serialized)
struct IngestXStreamV2Tests {
    static let token = "test-bearer-AAAA%2Fb"

    static func script(_ connections: [[String: Any]], rules: [[String: String]] = [],
                       default def: [String: Any]? = nil) -> [String: Any] {
        var s: [String: Any] = ["mode": "x2", "token": token, "rules": rules, "connections": connections,
                                "require_tweet_fields": ["created_at", "lang", "author_id", "entities"],
                                "require_expansions": ["referenced_tweets.id"]]
        if let def { s["default"] = def }
        return s
    }

    static func post(_ id: Int, _ text: String = "hello") -> String {
        #"{"data":{"id":"\#(id)","text":"\#(text) #t\#(id)","created_at":"2026-11-25T10:00:00.000Z","author_id":"1","lang":"en","edit_history_tweet_ids":["\#(id)"]},"matching_rules":[{"id":"1","tag":"t"}]}"#
    }

    static func stream(_ server: FakeStreamServer, _ recorder: StreamRecorder, timeScale: Double = 0.1, stall: Double = 10,
                       rules: [XStreamRule] = [], sync: Bool = false, token: String = token, backfill: Int? = nil) -> XFilteredStreamV2 {
        var s = XFilteredStreamV2.Settings()
        s.baseURL = server.baseURL
        s.stream = testStreamSettings(timeScale: timeScale, stall: stall)
        s.rules = rules
        s.syncRules = sync
        s.backfillMinutes = backfill
        return XFilteredStreamV2(settings: s, bearerToken: Secret(token), handlers: recorder.handlers)
    }

    static func times(_ requests: [[String: Any]]) -> [Double] { requests.compactMap { $0["t"] as? Double } }

    @Test("keep-alives, lines split across chunks, a disconnect mid-line: every line exactly once, in order, the cut line never")
    func keepAlivesAndMidLineDisconnect() throws {
        let p1 = Self.post(1), p2 = Self.post(2), p3 = Self.post(3), p4 = Self.post(4), p5 = Self.post(5)
        let cut = String(Self.post(99).prefix(40))
        let server = try FakeStreamServer(script: Self.script([
            ["steps": [["keepalive": 3, "every": 0.05],
                       ["send": String(p1.prefix(10))], ["sleep": 0.05], ["send": String(p1.dropFirst(10)) + "\r\n\r\n"],
                       ["lines": [p2, ""]], ["send": p3 + "\r\n" + cut], ["abort": true]]],
            ["steps": [["keepalive": 2, "every": 0.05], ["lines": [p4, p5]], ["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder, backfill: 2)
        let error = StreamHarness.run(stream, timeout: 20) { recorder.snapshot.lines.count >= 5 }
        #expect(error == nil)
        #expect(recorder.snapshot.lines == [p1, p2, p3, p4, p5])
        let c = stream.counters
        #expect(c.lines == 5)
        #expect(c.keepAlives >= 6)
        #expect(c.reconnects == 1)
        #expect(c.partialBytesDropped == cut.utf8.count)
        #expect(recorder.snapshot.bad.isEmpty)
        let reqs = server.streamRequests()
        #expect(reqs.count == 2)
        let q = reqs.first?["query"] as? [String: String]
        #expect(q?["tweet.fields"] == "created_at,lang,author_id,entities")
        #expect(q?["expansions"] == "referenced_tweets.id")
        #expect(q?["backfill_minutes"] == "2")
        #expect(recorder.snapshot.statuses.contains { $0.status == .connected })
    }

    @Test("an operational-disconnect object ends the connection and reconnects at once (network backoff)")
    func operationalDisconnect() throws {
        let opDisconnect = #"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.x.com/2/problems/operational-disconnect"}]}"#
        // After the error object the fake keeps the connection open: the client must leave by itself.
        let server = try FakeStreamServer(script: Self.script([
            ["steps": [["lines": [Self.post(1), opDisconnect]], ["hold": true]]],
            ["steps": [["lines": [Self.post(2)]], ["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder)
        let error = StreamHarness.run(stream, timeout: 15) { recorder.snapshot.lines.count >= 2 }
        #expect(error == nil)
        #expect(recorder.snapshot.lines == [Self.post(1), Self.post(2)])
        let reasons = recorder.snapshot.statuses.compactMap { s -> (Double, String)? in
            if case .reconnecting(let d, let r) = s.status { return (d, r) }
            return nil
        }
        #expect(reasons.count == 1)
        #expect(reasons.first?.1.contains("operational disconnect") == true)
        #expect(reasons.first?.1.contains("UpstreamOperationalDisconnect") == true)
        #expect(reasons.first?.0 == 0.025)   // first network step, 250 ms x 0.1
        let t = Self.times(server.streamRequests())
        #expect(t.count == 2)
        if t.count == 2 { #expect(t[1] - t[0] < 1.5) }
    }

    @Test("503 twice, then 200: the waits follow the HTTP policy (5 s, 10 s scaled by 0.1)")
    func serviceUnavailable() throws {
        let server = try FakeStreamServer(script: Self.script([
            ["status": 503, "body": ["title": "Service Unavailable", "detail": "try later", "type": "about:blank", "status": 503]],
            ["status": 503, "body": ["title": "Service Unavailable", "detail": "try later", "type": "about:blank", "status": 503]],
            ["steps": [["lines": [Self.post(1)]], ["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder)
        let error = StreamHarness.run(stream, timeout: 15) { recorder.snapshot.lines.count >= 1 }
        #expect(error == nil)
        #expect(recorder.snapshot.lines == [Self.post(1)])
        let t = Self.times(server.streamRequests())
        try #require(t.count == 3)
        var expected = ReconnectPolicy(timeScale: 0.1)
        let d1 = expected.nextDelay(after: .http(status: 503), now: 0)
        let d2 = expected.nextDelay(after: .http(status: 503), now: 0)
        #expect(t[1] - t[0] >= d1 - 0.02 && t[1] - t[0] < d1 + 1.0, "gap \(t[1] - t[0]) vs \(d1)")
        #expect(t[2] - t[1] >= d2 - 0.02 && t[2] - t[1] < d2 + 1.0, "gap \(t[2] - t[1]) vs \(d2)")
        #expect(stream.counters.reconnects == 2)
    }

    @Test("429 TooManyConnections with x-rate-limit-reset: waits until the reset, which is later than the backoff")
    func rateLimitedWithReset() throws {
        let body: [String: Any] = ["title": "ConnectionException", "detail": "This stream is currently at the maximum allowed connection limit.",
                                   "connection_issue": "TooManyConnections", "type": "https://api.x.com/2/problems/streaming-connection"]
        let server = try FakeStreamServer(script: Self.script([
            ["status": 429, "headers": ["x-rate-limit-reset": "${now+3}", "x-rate-limit-limit": "50", "x-rate-limit-remaining": "0"], "body": body],
            ["status": 429, "body": body],
            ["steps": [["lines": [Self.post(7)]], ["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        // 429 backoff at this scale: 60 s x 0.01 = 0.6 s, then 1.2 s; the first reset is 2-3 s away.
        let stream = Self.stream(server, recorder, timeScale: 0.01)
        let error = StreamHarness.run(stream, timeout: 20) { recorder.snapshot.lines.count >= 1 }
        #expect(error == nil)
        #expect(recorder.snapshot.lines == [Self.post(7)])
        let t = Self.times(server.streamRequests())
        try #require(t.count == 3)
        // The reset is whole epoch seconds: int(t0 + 3), so the wait is in (2, 3].
        let reset = Double(Int(t[0] + 3))
        #expect(t[1] >= reset - 0.05, "reconnected \(reset - t[1]) s before the reset")
        #expect(t[1] - t[0] < 4)
        // Second 429 without a reset header: the doubled backoff, 1.2 s.
        #expect(t[2] - t[1] >= 1.2 - 0.02 && t[2] - t[1] < 1.2 + 1.0, "gap \(t[2] - t[1])")
    }

    @Test("a stall (no byte for the stall timeout) aborts and reconnects")
    func stall() throws {
        let server = try FakeStreamServer(script: Self.script([
            ["steps": [["lines": [Self.post(1)]], ["sleep": 6]]],
            ["steps": [["lines": [Self.post(2)]], ["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder, stall: 1)
        let error = StreamHarness.run(stream, timeout: 15) { recorder.snapshot.lines.count >= 2 }
        #expect(error == nil)
        #expect(recorder.snapshot.lines == [Self.post(1), Self.post(2)])
        let t = Self.times(server.streamRequests())
        try #require(t.count == 2)
        // Detected between 1 s and ~2.5 s (libcurl's progress callback runs about once a second when idle).
        #expect(t[1] - t[0] >= 1.0 && t[1] - t[0] < 3.5, "gap \(t[1] - t[0])")
        let reasons = recorder.snapshot.statuses.compactMap { s -> String? in
            if case .reconnecting(_, let r) = s.status { return r }
            return nil
        }
        #expect(reasons.first?.contains("stalled") == true)
    }

    @Test("401 (wrong bearer token) is not retried: DaemonExit with exit code 78")
    func unauthorized() throws {
        let server = try FakeStreamServer(script: Self.script([["steps": [["hold": true]]]]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder, token: "wrong")
        let error = StreamHarness.run(stream, timeout: 10) { false }
        let exit = try #require(error as? DaemonExit)
        #expect(exit.code == 78)
        #expect(exit.message.contains("401"))
        #expect(exit.message.contains("bearer-token"))
        #expect(!exit.message.contains("wrong"))   // the token itself never appears
        #expect(server.requests().count == 1)
    }

    @Test("an oversized line goes to onBadLine with its first bytes; the stream goes on")
    func oversizedLine() throws {
        let huge = #"{"data":{"id":"5","text":""# + String(repeating: "a", count: 100_000) + #""}}"#
        let server = try FakeStreamServer(script: Self.script([
            ["steps": [["lines": [Self.post(1), huge, Self.post(2)]], ["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder)   // maxLineBytes 64 KiB
        let error = StreamHarness.run(stream, timeout: 10) { recorder.snapshot.lines.count >= 2 }
        #expect(error == nil)
        #expect(recorder.snapshot.lines == [Self.post(1), Self.post(2)])
        let bad = recorder.snapshot.bad
        #expect(bad.count == 1)
        #expect(bad.first?.reason.contains("\(huge.utf8.count) bytes") == true)
        #expect(bad.first.map { String(decoding: $0.prefix, as: UTF8.self) }?.hasPrefix(#"{"data":{"id":"5""#) == true)
        #expect(stream.counters.reconnects == 0)
    }

    @Test("rule sync sends exactly the difference, each change as a dry run first")
    func ruleSync() throws {
        let server = try FakeStreamServer(script: Self.script([["steps": [["hold": true]]]], rules: [
            ["id": "11", "value": "#swift lang:en", "tag": "swift"],
            ["id": "12", "value": "cat has:images", "tag": "cats"],
            ["id": "13", "value": "#rust", "tag": "old-tag"],
        ]))
        let recorder = StreamRecorder()
        let desired = [XStreamRule(value: "#swift lang:en", tag: "swift"), XStreamRule(value: "#rust", tag: "rust"),
                       XStreamRule(value: "\"hello world\" -is:retweet")]
        let stream = Self.stream(server, recorder, rules: desired, sync: true)
        let report = try stream.syncRules()
        #expect(report.deletedIDs.sorted() == ["12", "13"])
        #expect(report.added == [XStreamRule(value: "#rust", tag: "rust"), XStreamRule(value: "\"hello world\" -is:retweet")])
        #expect(report.unchanged == 1)
        let reqs = server.requests()
        let summary = reqs.map { r -> String in
            let q = (r["query"] as? [String: String])?["dry_run"].map { "?dry_run=\($0)" } ?? ""
            return "\(r["method"]!) \(q)"
        }
        #expect(summary == ["GET ", "POST ?dry_run=true", "POST ?dry_run=true", "POST ", "POST "])
        func body(_ i: Int) -> [String: Any]? {
            (reqs[i]["body"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let deleteIDs = ((body(3)?["delete"] as? [String: Any])?["ids"] as? [String])?.sorted()
        #expect(deleteIDs == ["12", "13"])
        let adds = (body(4)?["add"] as? [[String: String]]) ?? []
        #expect(adds == [["value": "#rust", "tag": "rust"], ["value": "\"hello world\" -is:retweet"]])
        #expect(reqs[1]["body"] as? String == reqs[3]["body"] as? String)
        // The dry run of the add leaves out the re-tagged rule (its value is still on the server).
        #expect((body(2)?["add"] as? [[String: String]]) == [["value": "\"hello world\" -is:retweet"]])

        // Second sync: the server now has exactly the desired set, so only the GET happens.
        let again = try stream.syncRules()
        #expect(again.added.isEmpty && again.deletedIDs.isEmpty && again.unchanged == 3)
        #expect(server.requests().count == reqs.count + 1)
    }

    @Test("an invalid rule is reported clearly (exit 78) and nothing is changed")
    func invalidRule() throws {
        let server = try FakeStreamServer(script: Self.script([["steps": [["hold": true]]]], rules: [
            ["id": "11", "value": "old", "tag": "x"],
        ]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder, rules: [XStreamRule(value: "\"unbalanced quote", tag: "bad")], sync: true)
        let error = StreamHarness.run(stream, timeout: 10) { false }
        let exit = try #require(error as? DaemonExit)
        #expect(exit.code == 78)
        #expect(exit.message.contains("Unbalanced quotes"))
        #expect(exit.message.contains("\"unbalanced quote"))
        let reqs = server.requests()
        // No change was made for real: every POST was a dry run, and no stream was opened.
        #expect(reqs.filter { ($0["method"] as? String) == "POST" }.allSatisfy { ($0["query"] as? [String: String])?["dry_run"] == "true" })
        #expect(server.streamRequests().isEmpty)
    }

    @Test("rule sync with a wrong token exits 78 without touching the stream")
    func rulesUnauthorized() throws {
        let server = try FakeStreamServer(script: Self.script([["steps": [["hold": true]]]]))
        let stream = Self.stream(server, StreamRecorder(), rules: [XStreamRule(value: "a")], sync: true, token: "nope")
        let error = StreamHarness.run(stream, timeout: 10) { false }
        #expect((error as? DaemonExit)?.code == 78)
        #expect(server.requests().count == 1)
    }

    @Test("connection refused: network errors back off linearly (250 ms, 500 ms, 750 ms)")
    func connectionRefused() throws {
        // A port nobody listens on: bind one, note it, close it.
        let server = try FakeStreamServer(script: Self.script([]))
        let port = server.port
        server.stop()
        var s = XFilteredStreamV2.Settings()
        s.baseURL = "http://127.0.0.1:\(port)"
        s.syncRules = false
        s.stream = testStreamSettings(timeScale: 1)
        let recorder = StreamRecorder()
        let stream = XFilteredStreamV2(settings: s, bearerToken: Secret(Self.token), handlers: recorder.handlers)
        func delays() -> [Double] {
            recorder.snapshot.statuses.compactMap { if case .reconnecting(let d, _) = $0.status { return d } else { return nil } }
        }
        let error = StreamHarness.run(stream, timeout: 10) { delays().count >= 3 }
        #expect(error == nil)
        #expect(Array(delays().prefix(3)) == [0.25, 0.5, 0.75])
        let reasons = recorder.snapshot.statuses.compactMap { if case .reconnecting(_, let r) = $0.status { return r } else { return nil } }
        #expect(reasons.first?.contains("connection error") == true)
        #expect(stream.counters.connects >= 3)
    }

    @Test("runOnDedicatedThread: task cancellation stops the stream")
    func dedicatedThreadCancellation() async throws {
        let server = try FakeStreamServer(script: Self.script([["steps": [["lines": [Self.post(1)]], ["hold": true]]]]))
        let recorder = StreamRecorder()
        let stream = Self.stream(server, recorder)
        let task = Task { try await stream.runOnDedicatedThread() }
        let deadline = Date().addingTimeInterval(10)
        while recorder.snapshot.lines.isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(recorder.snapshot.lines == [Self.post(1)])
        let started = Date()
        task.cancel()
        try await task.value
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(recorder.snapshot.statuses.last?.status == .stopped)
    }

    @Test("volume: 100k lines in one connection arrive complete and in order (throughput printed)")
    func volume() throws {
        let n = 100_000
        let template = Self.post(0).replacingOccurrences(of: "\"id\":\"0\"", with: "\"id\":\"{i}\"")
        let server = try FakeStreamServer(script: Self.script([["steps": [["generate": n, "template": template], ["hold": true]]]]))
        let count = Mutex(0)
        let inOrder = Mutex(true)
        let handlers = StreamHandlers(onLine: { line in
            let id = JSONKeyScan.stringValue(at: ["data", "id"], in: line)
            count.withLock { c in
                c += 1
                if id != String(c) { inOrder.withLock { $0 = false } }
            }
        })
        var s = XFilteredStreamV2.Settings()
        s.baseURL = server.baseURL
        s.syncRules = false
        s.stream = testStreamSettings()
        let stream = XFilteredStreamV2(settings: s, bearerToken: Secret(Self.token), handlers: handlers)
        let started = Date()
        let error = StreamHarness.run(stream, timeout: 120) { count.withLock { $0 } >= n }
        let seconds = Date().timeIntervalSince(started)
        #expect(error == nil)
        #expect(count.withLock { $0 } == n)
        #expect(inOrder.withLock { $0 })
        #expect(stream.counters.reconnects == 0)
        let mb = Double(stream.counters.bytes) / 1e6
        print("ingest volume: \(n) lines, \(String(format: "%.1f", mb)) MB in \(String(format: "%.2f", seconds)) s = \(Int(Double(n) / seconds)) lines/s (fake server included)")
    }

    @Test("the heartbeat keeps beating while the stream is connected but silent, and while waiting to reconnect")
    func heartbeatWhileQuiet() throws {
        let server = try FakeStreamServer(script: Self.script([
            ["steps": [["lines": [Self.post(1)]], ["sleep": 2.5]]],
            ["status": 503, "body": ["title": "Service Unavailable"]],
            ["steps": [["hold": true]]],
        ]))
        let recorder = StreamRecorder()
        let heartbeat = Heartbeat()
        var s = XFilteredStreamV2.Settings()
        s.baseURL = server.baseURL
        s.syncRules = false
        s.stream = testStreamSettings(timeScale: 0.5)   // the 503 wait is 2.5 s
        s.stream.heartbeat = heartbeat
        let stream = XFilteredStreamV2(settings: s, bearerToken: Secret(Self.token), handlers: recorder.handlers)
        var checks: [Bool] = []
        _ = StreamHarness.run(stream, timeout: 20) {
            // Sample once every 1.3 s: 2 checks in the silent connection, 2 in the wait after the 503.
            if recorder.snapshot.lines.isEmpty { return false }
            Thread.sleep(forTimeInterval: 1.3)
            checks.append(heartbeat.aliveSinceLastCheck())
            return checks.count >= 4
        }
        #expect(checks == [true, true, true, true])
        #expect(server.streamRequests().count >= 2)
    }
}
