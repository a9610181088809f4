import Foundation
@testable import HashtrendCore

/// tests/fakes/webhdfs_server.py as a child process: its ports, its on-disk root, and its stdin
/// control channel (fault injection, request log).
final class FakeWebHDFS: @unchecked Sendable {
    let child: ChildProcess
    let namenodePort: Int
    let datanodePort: Int
    let root: URL
    private var replies = 1
    private let lock = NSLock()

    static var script: String { TestSupport.packageRoot.appendingPathComponent("tests/fakes/webhdfs_server.py").path }

    let secure: Bool

    init(user: String? = nil, delegation: String? = nil, tls: (cert: String, key: String)? = nil) throws {
        root = TestSupport.tempDir("webhdfs-fake")
        secure = tls != nil
        var args = [Self.script, "--root", root.path]
        if let tls { args += ["--tls-cert", tls.cert, "--tls-key", tls.key] }
        if let user { args += ["--user", user] }
        if let delegation { args += ["--delegation", delegation] }
        child = try ChildProcess("/usr/bin/env", [TestSupport.python] + args)
        let first = child.waitForStdoutLines(1, timeout: 20).first ?? ""
        guard let o = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
              let nn = o["namenode"] as? Int, let dn = o["datanode"] as? Int else {
            throw NSError(domain: "test", code: 1, userInfo: [NSLocalizedDescriptionKey: "fake WebHDFS did not start: \(first) \(child.stderr)"])
        }
        namenodePort = nn
        datanodePort = dn
    }

    deinit { stop() }

    var url: String { "\(secure ? "swebhdfs" : "webhdfs")://127.0.0.1:\(namenodePort)/" }

    func client(_ options: WebHDFSOptions = WebHDFSOptions(retry: WebHDFSRetryPolicy(attempts: 5, baseDelay: HTDuration(millis: 50), maxDelay: HTDuration(millis: 500)))) throws -> WebHDFSClient {
        try WebHDFSClient(url, options: options)
    }

    /// Sends one control line and returns the JSON reply.
    @discardableResult
    func command(_ line: String) -> Any? {
        lock.lock(); defer { lock.unlock() }
        child.write(line + "\n")
        replies += 1
        let reply = child.waitForStdoutLines(replies, timeout: 10).last ?? ""
        return try? JSONSerialization.jsonObject(with: Data(reply.utf8))
    }

    struct LogEntry {
        var side: String
        var method: String
        var path: String
        var op: String
        var query: [String: String]
        var bodyBytes: Int
        var status: String
    }

    func log() -> [LogEntry] {
        let arr = command("log") as? [[String: Any]] ?? []
        return arr.map { e in
            LogEntry(side: e["side"] as? String ?? "", method: e["method"] as? String ?? "", path: e["path"] as? String ?? "",
                     op: e["op"] as? String ?? "", query: e["query"] as? [String: String] ?? [:],
                     bodyBytes: e["body_bytes"] as? Int ?? -1,
                     status: (e["status"] as? Int).map(String.init) ?? (e["status"] as? String ?? "?"))
        }
    }

    /// The bytes the fake stores for an HDFS path.
    func stored(_ hdfsPath: String) -> [UInt8]? {
        (try? Data(contentsOf: root.appendingPathComponent(String(hdfsPath.drop(while: { $0 == "/" }))))).map { [UInt8]($0) }
    }

    func stop() {
        guard child.isRunning else { return }
        child.closeStdin()
        child.signal(SIGTERM)
        child.wait(timeout: 5)
        try? FileManager.default.removeItem(at: root)
    }
}
