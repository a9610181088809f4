import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// `hashtrend top` against `hashtrend broker`, with records produced by `hashtrend produce`, as an
/// operator would run them.
@Suite(.serialized) struct TopCommandTests {
    typealias F = TopFixture
    static let ht = TestSupport.binary("hashtrend")

    /// Produces window records keyed by window end (as trendd does), in the given order.
    static func produce(_ windows: [TrendWindow], to broker: BrokerProcess, topic: String = "trends") throws {
        let dir = TestSupport.tempDir("top")
        let file = dir.appendingPathComponent("trends.tsv")
        var text = ""
        for w in windows {
            text += EventTime.format(millis: w.windowEndMillis) + "\t" + String(decoding: w.json(), as: UTF8.self) + "\n"
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
        let p = try ChildProcess(ht, ["produce", "--brokers", broker.bootstrap, "--topic", topic, "--key-separator", "\t", file.path])
        let rc = p.wait(timeout: 30)
        #expect(rc == 0, "produce: \(p.stderr)")
    }

    static func top(_ broker: BrokerProcess, _ args: [String], timeout: TimeInterval = 30) throws -> (Int32?, String, String) {
        let p = try ChildProcess(ht, ["top", "--brokers", broker.bootstrap] + args, environment: ["TERM": "xterm"])
        let rc = p.wait(timeout: timeout)
        return (rc, p.stdout, p.stderr)
    }

    @Test func onceShowsTheWindowTableExactly() throws {
        let broker = try BrokerProcess(topics: ["trends:2"])
        defer { broker.stop() }
        try Self.produce(F.records, to: broker)

        let (rc, out, err) = try Self.top(broker, ["--once", "--width", "80", "--now", "2026-01-01T00:01:50Z"])
        #expect(rc == 0, "stderr: \(err)")
        #expect(out == F.expectedTable)

        let (rc2, out2, _) = try Self.top(broker, ["--once", "--final-only", "--rows", "2", "--width", "80",
                                                   "--now", "2026-01-01T00:01:50Z"])
        #expect(rc2 == 0)
        #expect(out2 == """
        window 2026-01-01 00:00:20 - 00:01:20 UTC (1m)  FINAL  30s behind
        posts 720 (12.0/s)  distinct 45  late 2  emitted 00:01:25

        RANK  CHG  HASHTAG  COUNT  SCORE  HISTORY
           1  ▲1   #Kafka      36    3.3↑ ▅█
           2  ▼1   #swift      30    0.8  ██

        """)

        let (rc3, out3, _) = try Self.top(broker, ["--once", "--json", "--now", "2026-01-01T00:01:50Z"])
        #expect(rc3 == 0)
        let lines = out3.split(separator: "\n")
        #expect(lines.count == 1)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(obj["window_end"] as? String == "2026-01-01T00:01:40.000Z")
        #expect(obj["final"] as? Bool == false)
        #expect(obj["lag_ms"] as? Int == 10_000)
        #expect((obj["rows"] as? [[String: Any]])?.map { $0["tag"] as? String } == ["kafka", "go", "swift", "東京", "rust"])
    }

    @Test func onceFailsClearlyWithoutAWindow() throws {
        let broker = try BrokerProcess(topics: ["trends:1"])
        defer { broker.stop() }
        let t0 = Date()
        let (rc, out, err) = try Self.top(broker, ["--once", "--wait", "1500ms"])
        let took = Date().timeIntervalSince(t0)
        #expect(rc == 1)
        #expect(out.isEmpty)
        #expect(err.contains("hashtrend top: no window in topic 'trends' within 1500ms (0 record(s) read)"), "\(err)")
        #expect(took >= 1.4 && took < 10, "took \(took)s")

        // No broker at all: said so, not mistaken for a missing topic.
        let nobody = try ChildProcess(Self.ht, ["top", "--once", "--brokers", "127.0.0.1:1", "--wait", "1s"])
        #expect(nobody.wait(timeout: 20) == 1)
        #expect(nobody.stderr.contains("hashtrend top: cannot read the topics of 127.0.0.1:1 (waited 1s)"), "\(nobody.stderr)")

        // Records that are not windows are counted, never fatal.
        let dir = TestSupport.tempDir("top")
        let junk = dir.appendingPathComponent("junk")
        try "not json\n{\"v\":2}\n".write(to: junk, atomically: true, encoding: .utf8)
        let p = try ChildProcess(Self.ht, ["produce", "--brokers", broker.bootstrap, "--topic", "trends", junk.path])
        #expect(p.wait(timeout: 30) == 0)
        let (rc2, _, err2) = try Self.top(broker, ["--once", "--wait", "1s"])
        #expect(rc2 == 1)
        #expect(err2.contains("unreadable record trends[0]@1: trends record has unsupported version 2"), "\(err2)")
        #expect(err2.contains("unreadable record trends[0]@0: not valid JSON"), "\(err2)")
        #expect(err2.contains("no window in topic 'trends' within 1s (2 record(s) read, 2 unreadable)"), "\(err2)")
    }

    /// Piped without --once: one JSON object per change, reading only the backlog at start, then
    /// following the topic; SIGTERM ends it cleanly.
    @Test func followsTheTopicAndStopsOnSignals() throws {
        let broker = try BrokerProcess(topics: ["trends:1"])
        defer { broker.stop() }
        try Self.produce([F.w1, F.w2], to: broker)
        func objects(_ p: ChildProcess) -> [[String: Any]] {
            p.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        func waitFor(_ p: ChildProcess, _ ok: ([[String: Any]]) -> Bool) -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if ok(objects(p)) { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return objects(p)
        }
        let args = ["top", "--brokers", broker.bootstrap, "--json", "--backlog", "1", "--now", "2026-01-01T00:01:50Z"]

        let p = try ChildProcess(Self.ht, args)
        let first = try #require(waitFor(p) { !$0.isEmpty }.first)
        #expect(first["window_end"] as? String == "2026-01-01T00:01:20.000Z")
        #expect(first["history_window_ends"] as? [String] == ["2026-01-01T00:01:20.000Z"], "--backlog 1 reads only the last record")
        try Self.produce([F.w3early, F.w3, F.w4, F.w5], to: broker)
        let objs = waitFor(p) { ($0.last?["rows"] as? [Any])?.count == 5 }
        let last = try #require(objs.last)
        #expect(last["window_end"] as? String == "2026-01-01T00:01:40.000Z")
        #expect(last["final"] as? Bool == false)
        #expect((last["rows"] as? [Any])?.count == 5, "the later early update of w3 wins")
        #expect(objs.count <= 3, "one object per change")
        p.signal(SIGTERM)
        #expect(p.wait(timeout: 10) == 0, "exit after SIGTERM: \(p.stderr)")

        let q = try ChildProcess(Self.ht, args)
        let again = try #require(waitFor(q) { !$0.isEmpty }.first)
        #expect(again["window_end"] as? String == "2026-01-01T00:02:20.000Z", "w5, the one window read")
        #expect(again["previous_window_end"] is NSNull, "only the last record was read back")
        q.signal(SIGINT)
        #expect(q.wait(timeout: 10) == 0, "exit after SIGINT: \(q.stderr)")
    }

    /// Waits until /proc says the process is in `state` (R, S, T, ...).
    static func waitForState(_ pid: Int32, _ state: String, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"),
               stat[stat.index(close, offsetBy: 2)...].hasPrefix(state) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// On a terminal (a pty from script(1)): alternate screen, hidden cursor, colour; `q` (or SIGTERM)
    /// quits and everything is restored, the terminal modes included; NO_COLOR turns colour off.
    @Test func fullScreenOnATerminalQuitsAndRestoresTheTerminal() throws {
        let script = "/usr/bin/script"
        guard FileManager.default.isExecutableFile(atPath: script) else {
            Issue.record("script(1) from util-linux is needed for the terminal test")
            return
        }
        let broker = try BrokerProcess(topics: ["trends:1"])
        defer { broker.stop() }
        try Self.produce(F.records, to: broker)
        let dir = TestSupport.tempDir("top")
        for bySignal in [false, true] {
            let pidFile = dir.appendingPathComponent("pid-\(bySignal)").path
            let top = "\(Self.ht) top --brokers \(broker.bootstrap) --width 80 --now 2026-01-01T00:01:50Z"
            // The shell runs top in its own pid (exec), then prints the terminal modes after it.
            let cmd = "sh -c 'echo $$ > \(pidFile); exec \(top)'; echo; echo \"modes: $(stty -a | tr '\\n' ' ')\""
            let p = try ChildProcess(script, ["-q", "-e", "-c", cmd, "/dev/null"],
                                     environment: ["TERM": "xterm-256color", "NO_COLOR": bySignal ? "1" : ""])
            let deadline = Date().addingTimeInterval(20)
            while !p.stdout.contains("#Rust") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            #expect(p.stdout.contains("#Rust"), "table drawn: \(p.stdout)")
            if bySignal {
                let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                // Ctrl-Z: the screen is given back before the process stops, and taken again when it
                // continues (script(1) itself may continue it at once, so SIGCONT is sent regardless).
                kill(pid, SIGTSTP)
                _ = Self.waitForState(pid, "T", timeout: 2)
                kill(pid, SIGCONT)
                let cycle = "\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l\u{1B}[?1049h\u{1B}[?25l"
                let back = Date().addingTimeInterval(10)
                while !p.stdout.contains(cycle) && Date() < back { Thread.sleep(forTimeInterval: 0.05) }
                #expect(p.stdout.contains(cycle), "restored on SIGTSTP, alternate screen again after SIGCONT")
                let redrawn = p.stdout.components(separatedBy: cycle).last ?? ""
                let again = Date().addingTimeInterval(10)
                while !(p.stdout.components(separatedBy: cycle).last ?? "").contains("#Rust") && Date() < again {
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect((p.stdout.components(separatedBy: cycle).last ?? redrawn).contains("#Rust"), "redrawn after SIGCONT")
                kill(pid, SIGTERM)
            } else {
                p.write("q")
            }
            #expect(p.wait(timeout: 10) == 0, "stderr: \(p.stderr)")
            let out = p.stdout
            let parts = out.components(separatedBy: "modes: ")
            #expect(parts.count == 2)
            let screen = parts[0].trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(screen.hasPrefix("\u{1B}[?1049h\u{1B}[?25l"), "alternate screen, cursor hidden")
            #expect(screen.hasSuffix("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l"), "cursor shown, main screen back")
            #expect(screen.contains("\u{1B}[1;33mPROVISIONAL") == !bySignal, "NO_COLOR")
            #expect(screen.contains("PROVISIONAL"))
            #expect(screen.contains("q quit  trends @ \(broker.bootstrap)  8 record(s), 5 window(s)"))
            let modes = " " + (parts.last ?? "") + " "
            #expect(modes.contains(" icanon ") && modes.contains(" echo "), "canonical mode and echo restored: \(modes)")
        }
    }
}
