import Foundation
import Logging
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// A real AF_UNIX datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() {
        path = TestSupport.tempDir("notify").appendingPathComponent("notify.sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        precondition(r == 0, "bind failed")
        var tv = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd); unlink(path) }

    /// Messages received within `seconds`, each with its arrival time.
    func receive(for seconds: Double) -> [(Date, String)] {
        var out: [(Date, String)] = []
        let end = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { out.append((Date(), String(decoding: buf[0..<n], as: UTF8.self))) }
        }
        return out
    }

    /// The first message within `seconds`, with its arrival time; nil if none came.
    func first(within seconds: Double) -> (Date, String)? {
        let end = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { return (Date(), String(decoding: buf[0..<n], as: UTF8.self)) }
        }
        return nil
    }
}

@Suite(.serialized) struct NotifierTests {
    @Test func sendsExactMessages() {
        let sock = NotifySocket()
        let n = Notifier(environment: ["NOTIFY_SOCKET": sock.path])
        #expect(n.isActive)
        n.ready(status: "connected to 127.0.0.1:9092")
        n.status("posts/s 10")
        n.status("posts/s 10")  // unchanged: not sent again
        n.status("posts/s 11")
        n.stopping(status: "flushing")
        let got = sock.receive(for: 0.3).map(\.1)
        #expect(got == ["READY=1\nSTATUS=connected to 127.0.0.1:9092", "STATUS=posts/s 10", "STATUS=posts/s 11", "STOPPING=1\nSTATUS=flushing"])
    }

    @Test func silentWithoutNotifySocket() {
        let n = Notifier(environment: [:])
        #expect(!n.isActive)
        #expect(n.send("READY=1") == false)
        #expect(n.watchdogInterval == nil)
    }

    @Test func watchdogIntervalHonoursPid() {
        #expect(Notifier(environment: ["WATCHDOG_USEC": "4000000"]).watchdogInterval == HTDuration(millis: 4000))
        #expect(Notifier(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "\(getpid())"]).watchdogInterval == HTDuration(millis: 4000))
        #expect(Notifier(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
    }

    @Test func watchdogPingsAtHalfIntervalOnlyWhileTheLoopBeats() async throws {
        let sock = NotifySocket()
        let n = Notifier(environment: ["NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": "400000"])
        let heartbeat = Heartbeat()
        let beating = StopFlag()
        let beater = Thread {
            while !beating.isSet { heartbeat.beat(); Thread.sleep(forTimeInterval: 0.01) }
        }
        beater.start()
        let task = Task {
            await SystemdService.watchdogLoop(notifier: n, heartbeat: heartbeat, interval: HTDuration(millis: n.watchdogInterval!.millis / 2),
                                              logger: Logger(label: "test"))
        }
        // The cadence is measured from a ping on: under a full parallel test run, tests that block the
        // (two-thread) cooperative pool can delay the loop's task for seconds, so a disturbed window is
        // measured again, up to five times. A loop without the right cadence fails every attempt.
        func gaps(_ pings: [(Date, String)]) -> [Double] { zip(pings.dropFirst(), pings).map { $0.0.0.timeIntervalSince($0.1.0) } }
        func steady(_ pings: [(Date, String)]) -> Bool { (4...7).contains(pings.count) && gaps(pings).allSatisfy { $0 > 0.15 && $0 < 0.4 } }
        var alive: [(Date, String)] = []
        for _ in 0..<5 {
            guard let start = sock.first(within: 20) else { break }
            alive = [start] + sock.receive(for: 0.85)
            if steady(alive) { break }
        }
        beating.set()  // the loop hangs from here on
        let hung = sock.receive(for: 1.0)
        task.cancel()
        _ = await task.value
        #expect(alive.allSatisfy { $0.1 == "WATCHDOG=1" })
        // 200 ms cadence over ~1 s: about 5 pings, never bursts.
        #expect((4...7).contains(alive.count), "\(alive.count) pings")
        #expect(gaps(alive).allSatisfy { $0 > 0.15 && $0 < 0.4 }, "\(gaps(alive))")
        // At most the one ping already due when the beat stopped.
        #expect(hung.count <= 1, "\(hung.count) pings after the loop stopped")
    }
}

@Suite struct LogFormatTests {
    @Test func journaldFields() {
        let f = JournaldLogHandler.fields(level: .warning, message: "broker down", identifier: "trendd",
                                          metadata: ["partition": "3", "topic": "tweets", "error_kind": "_TRANSPORT",
                                                     "window-end": "2026-01-01T00:00:00.000Z", "_pid": "1", "9x": "y"])
        #expect(f == ["MESSAGE=broker down", "PRIORITY=4", "SYSLOG_IDENTIFIER=trendd", "DAEMON=trendd",
                      "F_9X=y", "PID=1", "ERROR_KIND=_TRANSPORT", "PARTITION=3", "TOPIC=tweets", "WINDOW_END=2026-01-01T00:00:00.000Z"])
        #expect(JournaldLogHandler.priority(.critical) == 2)
        #expect(JournaldLogHandler.priority(.debug) == 7)
    }

    @Test func textLines() {
        let line = TextLogHandler.format(timeMillis: 0, level: .info, identifier: "sinkd", message: "file committed",
                                         metadata: ["rows": "12", "path": "a b"])
        #expect(line == "1970-01-01T00:00:00.000Z info    sinkd: file committed path=\"a b\" rows=12")
    }

    @Test func journalStreamMustMatchStderr() {
        #expect(!LogSetup.stderrIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
        var st = stat()
        fstat(2, &st)
        #expect(LogSetup.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]))
    }
}
