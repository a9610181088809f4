import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Each daemon run as systemd runs it: settings from an environment file, NOTIFY_SOCKET, WATCHDOG_USEC,
/// CREDENTIALS_DIRECTORY; READY=1, watchdog pings at half the interval, STOPPING=1 and a clean exit on
/// SIGTERM; a frozen main loop (the SIGUSR2 watchdog drill) stops the pings.
@Suite(.serialized) struct DaemonUnderSystemdTests {
    /// The env file systemd would load with EnvironmentFile=, turned into the environment it gives.
    func environment(daemon: String, broker: String, dir: URL, notify: String) throws -> [String: String] {
        var lines = ["HASHTREND_BROKERS=\(broker)", "KAFKA_SESSION_TIMEOUT_MS=6000", "HASHTREND_STATUS_INTERVAL=200ms"]
        switch daemon {
        case "ingestd": lines += ["HASHTREND_SOURCE=synthetic", "HASHTREND_RATE=50", "HASHTREND_SPOOL_DIR=\(dir.path)/spool"]
        case "sinkd": lines += ["HASHTREND_ROOT=\(dir.path)/table", "HASHTREND_ROTATE_INTERVAL=1s"]
        default: lines += ["HASHTREND_IDLE_TIMEOUT=1s"]
        }
        let file = dir.appendingPathComponent("\(daemon).env")
        try (["# as installed in /etc/hashtrend"] + lines).joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let creds = dir.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: creds, withIntermediateDirectories: true)
        try "not-a-real-token\n".write(to: creds.appendingPathComponent("bearer-token"), atomically: true, encoding: .utf8)
        var env = ["NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "1000000", "CREDENTIALS_DIRECTORY": creds.path,
                   "HASHTREND_CONFIG": file.path]
        for l in lines { let kv = l.split(separator: "=", maxSplits: 1); env[String(kv[0])] = String(kv[1]) }
        return env
    }

    func messages(_ sock: NotifySocket, for seconds: Double, until: ((String) -> Bool)? = nil) -> [(Date, String)] {
        var out: [(Date, String)] = []
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let got = sock.receive(for: 0.1)
            out += got
            if let until, got.contains(where: { until($0.1) }) { break }
        }
        return out
    }

    @Test(arguments: ["ingestd", "trendd", "sinkd"])
    func readyWatchdogStoppingAndCleanExit(daemon: String) throws {
        let broker = try BrokerProcess(topics: ["tweets:4", "trends:1", "tweets.dlq:1"])
        defer { broker.stop() }
        let dir = TestSupport.tempDir("systemd-\(daemon)")
        let sock = NotifySocket()
        let p = try ChildProcess(TestSupport.binary(daemon), [], environment: try environment(daemon: daemon, broker: broker.bootstrap, dir: dir, notify: sock.path))
        defer { p.signal(SIGKILL) }
        let start = messages(sock, for: 30, until: { $0.contains("READY=1") })
        #expect(start.contains { $0.1.hasPrefix("READY=1\nSTATUS=") }, "\(daemon) never sent READY=1: \(p.stderr.suffix(1500))")
        let running = messages(sock, for: 3)
        let pings = running.filter { $0.1 == "WATCHDOG=1" }
        #expect((4...8).contains(pings.count), "\(daemon): \(pings.count) watchdog pings in 3 s at a 1 s WATCHDOG_USEC")
        #expect((start + running).contains { $0.1.hasPrefix("STATUS=") && $0.1.count > 12 }, "\(daemon) sent no STATUS= figures")
        p.signal(SIGTERM)
        let stopping = messages(sock, for: 5, until: { $0.hasPrefix("STOPPING=1") })
        #expect(stopping.contains { $0.1.hasPrefix("STOPPING=1") }, "\(daemon) sent no STOPPING=1")
        #expect(p.wait(timeout: 30) == 0, "\(daemon) did not exit cleanly: \(p.stderr.suffix(1500))")
        #expect(p.stderr.contains("\(daemon) stopped cleanly"))
    }

    @Test func aFrozenLoopStopsTheWatchdogPings() throws {
        let broker = try BrokerProcess(topics: ["tweets:4", "trends:1"])
        defer { broker.stop() }
        let dir = TestSupport.tempDir("systemd-drill")
        let sock = NotifySocket()
        let p = try ChildProcess(TestSupport.binary("trendd"), [], environment: try environment(daemon: "trendd", broker: broker.bootstrap, dir: dir, notify: sock.path))
        defer { p.signal(SIGKILL); p.wait(timeout: 10) }
        _ = messages(sock, for: 30, until: { $0.contains("READY=1") })
        let before = messages(sock, for: 2).filter { $0.1 == "WATCHDOG=1" }
        #expect(before.count >= 3, "no pings while healthy")
        p.signal(SIGUSR2)
        _ = messages(sock, for: 1)  // a ping already due may still go out
        let after = messages(sock, for: 3).filter { $0.1 == "WATCHDOG=1" }
        #expect(after.isEmpty, "\(after.count) pings after the main loop froze")
        #expect(p.isRunning, "the process itself stays up: it is systemd's watchdog that restarts it")
    }
}
