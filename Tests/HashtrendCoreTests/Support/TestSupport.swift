import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Paths and processes for tests that run the real binaries.
enum TestSupport {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binDir: URL {
        if let d = ProcessInfo.processInfo.environment["HASHTREND_BIN_DIR"] { return URL(fileURLWithPath: d) }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    static func binary(_ name: String) -> String { binDir.appendingPathComponent(name).path }

    static var sharedDir: URL {
        if let d = ProcessInfo.processInfo.environment["HASHTREND_SHARED"] { return URL(fileURLWithPath: d) }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    static var python: String { ProcessInfo.processInfo.environment["HASHTREND_PYTHON"] ?? "python3" }

    static func tempDir(_ prefix: String = "hashtrend-test") -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A child process with pipes; output is collected on background threads so a chatty child never blocks.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let outDone = DispatchSemaphore(value: 0)
    private let errDone = DispatchSemaphore(value: 0)

    init(_ path: String, _ args: [String], environment: [String: String] = [:], stdoutFile: URL? = nil) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardInput = stdinPipe
        process.standardError = stderrPipe
        if let stdoutFile {
            _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
            outDone.signal()
        } else {
            process.standardOutput = stdoutPipe
            drain(stdoutPipe.fileHandleForReading, isStdout: true, done: outDone)
        }
        drain(stderrPipe.fileHandleForReading, isStdout: false, done: errDone)
        try process.run()
    }

    private func drain(_ h: FileHandle, isStdout: Bool, done: DispatchSemaphore) {
        Thread.detachNewThread { [self] in
            while true {
                let d = h.availableData
                if d.isEmpty { break }
                lock.withLock { if isStdout { out.append(d) } else { err.append(d) } }
            }
            done.signal()
        }
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }
    var pid: Int32 { process.processIdentifier }

    func write(_ s: String) { stdinPipe.fileHandleForWriting.write(Data(s.utf8)) }
    func closeStdin() { try? stdinPipe.fileHandleForWriting.close() }

    /// Waits until stdout has at least `lines` lines, or the deadline passes.
    func waitForStdoutLines(_ lines: Int, timeout: TimeInterval) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let s = stdout
            let parts = s.split(separator: "\n", omittingEmptySubsequences: false)
            if parts.count > lines { return parts.prefix(lines).map(String.init) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return stdout.split(separator: "\n").map(String.init)
    }

    func waitForStderr(containing text: String, count: Int = 1, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.components(separatedBy: text).count - 1 >= count { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit up to `timeout`, then kills; returns the exit status (or nil if it had to be killed).
    @discardableResult
    func wait(timeout: TimeInterval) -> Int32? {
        if let r = lock.withLock({ result }) { return r }
        let r = waitOnce(timeout: timeout)
        lock.withLock { result = .some(r) }
        return r
    }

    private var result: Int32?? = nil

    private func waitOnce(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            _ = outDone.wait(timeout: .now() + 2); _ = errDone.wait(timeout: .now() + 2)
            return nil
        }
        process.waitUntilExit()
        _ = outDone.wait(timeout: .now() + 5); _ = errDone.wait(timeout: .now() + 5)
        return process.terminationStatus
    }

    var isRunning: Bool { process.isRunning }
}

/// `hashtrend broker` as a child process, with its control channel on stdin.
final class BrokerProcess: @unchecked Sendable {
    let child: ChildProcess
    let bootstrap: String
    private var replies = 1
    private let lock = NSLock()

    init(nodes: Int = 1, topics: [String]) throws {
        child = try ChildProcess(TestSupport.binary("hashtrend"), ["broker", "--nodes", "\(nodes)"] + topics.flatMap { ["--topic", $0] })
        let first = child.waitForStdoutLines(1, timeout: 10)
        guard let addr = first.first, addr.contains(":") else {
            throw NSError(domain: "test", code: 1, userInfo: [NSLocalizedDescriptionKey: "broker did not start: \(child.stderr)"])
        }
        bootstrap = addr
    }

    /// Sends one control command and returns its reply line.
    func command(_ line: String) -> String {
        lock.lock(); defer { lock.unlock() }
        child.write(line + "\n")
        replies += 1
        return child.waitForStdoutLines(replies, timeout: 10).last ?? ""
    }

    func stop() {
        child.signal(SIGTERM)
        child.wait(timeout: 10)
    }
}
