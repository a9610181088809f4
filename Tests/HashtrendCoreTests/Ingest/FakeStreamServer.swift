import Foundation
import Synchronization
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// `tests/fakes/fake_stream_server.py`, started for one test with its own script and request log.
final class FakeStreamServer: @unchecked Sendable {
    let child: ChildProcess
    let port: Int
    let dir: URL
    let logURL: URL

    static var scriptPath: String {
        TestSupport.packageRoot.appendingPathComponent("tests/fakes/fake_stream_server.py").path
    }

    /// HASHTREND_PYTHON else python3, resolved on PATH (Process needs a path).
    static var pythonPath: String {
        let py = TestSupport.python
        if py.contains("/") { return py }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(dir)/\(py)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/" + py
    }

    init(script: [String: Any]) throws {
        dir = TestSupport.tempDir("fake-stream")
        let scriptURL = dir.appendingPathComponent("script.json")
        logURL = dir.appendingPathComponent("requests.jsonl")
        try JSONSerialization.data(withJSONObject: script).write(to: scriptURL)
        child = try ChildProcess(Self.pythonPath, [Self.scriptPath, "--script", scriptURL.path, "--log", logURL.path])
        let first = child.waitForStdoutLines(1, timeout: 15).first ?? ""
        guard let p = Int(first.trimmingCharacters(in: .whitespaces)) else {
            child.signal(SIGKILL)
            throw FakeServerError(message: "fake server did not print its port; stderr: \(child.stderr)")
        }
        port = p
    }

    deinit { stop() }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private let stopped = Atomic<Bool>(false)

    /// SIGKILL and reap: the test process may hand its children SIGTERM ignored, and the fake has
    /// nothing to flush (its request log is written line by line).
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        child.signal(SIGKILL)
        child.process.waitUntilExit()
    }

    /// The request log: one dictionary per request, in arrival order.
    func requests() -> [[String: Any]] {
        guard let data = try? Data(contentsOf: logURL) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func streamRequests() -> [[String: Any]] { requests().filter { ($0["kind"] as? String) == "stream" } }
}

struct FakeServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Everything a stream reported, with arrival times.
final class StreamRecorder: @unchecked Sendable {
    struct Snapshot {
        var lines: [String] = []
        var posts: [Post] = []
        var bad: [(reason: String, prefix: [UInt8])] = []
        var statuses: [(time: Double, status: StreamStatus)] = []
    }
    private let state = Mutex(Snapshot())

    var snapshot: Snapshot { state.withLock { $0 } }

    var handlers: StreamHandlers {
        StreamHandlers(onLine: { line in
            let s = String(decoding: line, as: UTF8.self)
            self.state.withLock { $0.lines.append(s) }
        }, onPost: { post in
            self.state.withLock { $0.posts.append(post) }
        }, onBadLine: { reason, prefix in
            self.state.withLock { $0.bad.append((reason, prefix)) }
        }, onStatus: { status in
            let t = Date().timeIntervalSince1970
            self.state.withLock { $0.statuses.append((t, status)) }
        })
    }
}

enum StreamHarness {
    /// Runs `stream` on its own thread until `until` holds (or it ends by itself, or the timeout),
    /// then stops it; returns what `run()` threw, if anything.
    static func run(_ stream: any PostStream, timeout: Double, until: () -> Bool) -> (any Error)? {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(any Error)?>(nil)
        let finished = Atomic<Bool>(false)
        let thread = Thread {
            do { try stream.run() } catch { result.withLock { $0 = error } }
            finished.store(true, ordering: .sequentiallyConsistent)
            done.signal()
        }
        thread.start()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && !finished.load(ordering: .sequentiallyConsistent) && !until() {
            Thread.sleep(forTimeInterval: 0.02)
        }
        stream.stop()
        _ = done.wait(timeout: .now() + 10)
        return result.withLock { $0 }
    }
}

/// Stream settings for tests: plain HTTP on loopback, fast policy.
func testStreamSettings(timeScale: Double = 0.1, stall: Double = 10) -> StreamSettings {
    var s = StreamSettings()
    s.policy = ReconnectPolicy(timeScale: timeScale)
    s.stallTimeout = stall
    s.connectTimeout = 5
    s.maxLineBytes = 64 << 10
    return s
}
