import ArgumentParser
import Dispatch
import Foundation
import HashtrendCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole pipeline locally (broker, ingestd, trendd, sinkd) and show the live trends table.",
        discussion: """
        Starts the embedded broker, ingestd (synthetic posts, or --source replay --file F), trendd with 1-minute \
        windows sliding by 5 s and early updates every second, and sinkd writing Parquet under --dir; then \
        runs `hashtrend top` in the foreground. Leaving the table (q or Ctrl-C) stops everything and prints \
        where the Parquet files are. The daemons log to <dir>/logs/. DEMO_SOURCE and DEMO_FILE set the \
        source from the environment. A previous run's table and logs are moved to <dir>/previous/<time>/. \
        See docs/demo.md.
        """)

    @Option(help: "Directory for the Parquet table, logs and the broker's address file.")
    var dir: String = "./demo-data"

    @Option(help: "synthetic or replay (default: $DEMO_SOURCE, else synthetic).")
    var source: String?

    @Option(help: "replay: JSONL file(s) of posts, any shape of docs/input-formats.md (default: $DEMO_FILE; repeatable).")
    var file: [String] = []

    @Option(help: "Posts per second (synthetic; for replay 0 means as fast as possible).")
    var rate: Double?

    @Option(help: "replay: pace by the posts' own event times, this many times faster (0: off).")
    var speed: Double = 0

    @Option(help: "Instead of the live table: wait this long (e.g. 20s), print `hashtrend top --once`, stop everything.")
    var onceAfter: String?

    @Option(help: "How long each process may take to stop after SIGTERM before it is killed.")
    var stopTimeout: String = "15s"

    func validate() throws {
        let src = resolvedSource
        guard src == "synthetic" || src == "replay" else { throw ValidationError("--source must be synthetic or replay") }
        if src == "replay" && resolvedFiles.isEmpty { throw ValidationError("replay needs --file F (or DEMO_FILE)") }
        for f in resolvedFiles where !FileManager.default.isReadableFile(atPath: f) {
            throw ValidationError("cannot read \(f)")
        }
        if let onceAfter { _ = try HTDuration(parsing: onceAfter) }
        _ = try HTDuration(parsing: stopTimeout)
        if let rate, rate < 0 { throw ValidationError("--rate must not be negative") }
    }

    private var resolvedSource: String { source ?? ProcessInfo.processInfo.environment["DEMO_SOURCE"] ?? "synthetic" }
    private var resolvedFiles: [String] {
        if !file.isEmpty { return file }
        if let f = ProcessInfo.processInfo.environment["DEMO_FILE"], !f.isEmpty { return [f] }
        return []
    }

    func run() throws {
        let bin = DemoSupervisor.executableDirectory()
        for b in ["hashtrend", "ingestd", "trendd", "sinkd"] where !FileManager.default.isExecutableFile(atPath: bin + "/" + b) {
            Self.say("cannot find \(b) next to this executable (in \(bin)); build all products first (make release)")
            throw ExitCode(2)
        }
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        let logs = root + "/logs"
        try DemoSupervisor.archivePreviousRun(root: root)
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let bootstrapFile = root + "/broker.bootstrap"
        try? FileManager.default.removeItem(atPath: bootstrapFile)

        let sup = DemoSupervisor(stopTimeout: try HTDuration(parsing: stopTimeout))
        sup.installSignalHandlers()
        defer { sup.stopAll() }

        // 1. The broker; its address file appears once it listens.
        try sup.startDaemon("broker", bin + "/hashtrend",
                            ["broker", "--topic", "tweets:8", "--topic", "trends:1", "--topic", "tweets.dlq:1",
                             "--bootstrap-file", bootstrapFile], log: logs + "/broker.log")
        guard let brokers = sup.waitForFile(bootstrapFile, timeout: 15) else {
            Self.say("the broker did not start; see \(logs)/broker.log")
            throw ExitCode(1)
        }
        let common = ["--brokers", brokers, "--kafka", "session.timeout.ms=6000", "--shutdown-timeout", "10s"]

        // 2. trendd and sinkd before ingestd, so their consumers are in their groups when posts arrive.
        try sup.startDaemon("trendd", bin + "/trendd", common + [
            "--window", "60s", "--slide", "5s", "--early-every", "1s", "--idle-timeout", "2s", "--lateness", "2s",
        ], log: logs + "/trendd.log")
        try sup.startDaemon("sinkd", bin + "/sinkd", common + ["--root", root, "--rotate-interval", "10s"],
                            log: logs + "/sinkd.log")
        var ingest = common + ["--source", resolvedSource]
        if resolvedSource == "replay" {
            for f in resolvedFiles { ingest += ["--file", URL(fileURLWithPath: f).standardizedFileURL.path] }
            ingest += ["--rate", Self.number(rate ?? 0)]
            if speed > 0 { ingest += ["--speed", Self.number(speed)] }
        } else {
            ingest += ["--rate", Self.number(rate ?? 200)]
        }
        try sup.startDaemon("ingestd", bin + "/ingestd", ingest, log: logs + "/ingestd.log")
        Self.say("started " + sup.children.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
                 + "; broker \(brokers); logs in \(logs)/")
        if resolvedSource == "synthetic" { Self.say(Self.burstNote(nowMillis: Self.nowMillis())) }

        // 3. The table in the foreground (or one snapshot for --once-after).
        var status: Int32 = 0
        if let onceAfter {
            let wait = try HTDuration(parsing: onceAfter)
            sup.sleep(seconds: wait.seconds)
            if !sup.stopRequested {
                let top = try sup.startForeground(bin + "/hashtrend", ["top", "--bootstrap-file", bootstrapFile, "--once", "--wait", "15s"])
                status = sup.waitForeground(top)
            }
        } else {
            Self.say("starting the live table: q or Ctrl-C quits and stops the pipeline")
            let top = try sup.startForeground(bin + "/hashtrend", ["top", "--bootstrap-file", bootstrapFile])
            status = sup.waitForeground(top)
        }

        // 4. Stop in pipeline order, so each daemon flushes what the one before it sent.
        // A replay's ingestd ends by itself with status 0; anything else that ended early failed.
        let failed = sup.children.filter { !$0.isRunning && $0.exitCode != 0 }.map { "\($0.name) (\($0.exitDescription))" }
        sup.stopAll()
        if !failed.isEmpty { Self.say("failed before the end: \(failed.joined(separator: ", ")); see \(logs)/") }
        Self.say("stopped " + sup.stopOrder.map { "\($0.name) (\($0.exitDescription))" }.joined(separator: ", "))
        print(Self.summary(root: root))
        if status != 0 { throw ExitCode(status) }
    }

    static func say(_ s: String) { FileHandle.standardError.write(Data("hashtrend demo: \(s)\n".utf8)) }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int64(v)) : String(v) }

    /// The synthetic generator ramps a rising tag up for 3 minutes of every 10 (epoch-aligned event time).
    static func burstNote(nowMillis: Int64) -> String {
        let g = PostGenerator(seed: 1, startMillis: 0, ratePerSecond: 1)
        let every = g.burstEveryMillis, length = g.burstLengthMillis
        let into = nowMillis % every
        func hhmm(_ m: Int64) -> String { String(EventTime.format(millis: m).dropFirst(11).prefix(5)) }
        if into < length {
            return "a burst (one rising tag) is under way until \(hhmm(nowMillis - into + length)) UTC; the next starts at \(hhmm(nowMillis - into + every)) UTC"
        }
        let next = nowMillis - into + every
        return "the next burst (one rising tag, for \(length / 60_000) min every \(every / 60_000) min) starts at \(hhmm(next)) UTC"
    }

    static func summary(root: String) -> String {
        let files = TrendsTableReader.files(root: root)
        let bytes = files.reduce(Int64(0)) { acc, f in
            acc + ((try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int64) ?? 0)
        }
        let glob = root + "/trends/**/*.parquet"
        // `make demo` exports the project venv's python (which has duckdb) as HASHTREND_PYTHON.
        let python = ProcessInfo.processInfo.environment["HASHTREND_PYTHON"].flatMap {
            FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil
        } ?? "python3"
        return """
        Parquet files: \(files.count) file(s), \(bytes) bytes under \(root)/trends/
        Query them with DuckDB:
          duckdb -c "SELECT window_end, rank, display, count FROM read_parquet('\(glob)', hive_partitioning=true) ORDER BY window_end DESC, rank LIMIT 20"
          \(python) -c "import duckdb; duckdb.sql(\\"SELECT display, sum(count) AS total FROM read_parquet('\(glob)') GROUP BY 1 ORDER BY 2 DESC LIMIT 10\\").show()"
        Chart them:
          hashtrend plot --root \(root) --top 8 --out trends.svg
        """
    }
}

/// Starts and stops the demo's child processes. Daemons get their own process group, so a Ctrl-C at
/// the terminal reaches only `top` (and this process, which then stops the daemons in order).
final class DemoSupervisor: @unchecked Sendable {
    final class Child {
        let name: String
        let pid: pid_t
        private(set) var status: Int32?
        init(name: String, pid: pid_t) { self.name = name; self.pid = pid }

        /// Reaps the child if it has exited.
        var isRunning: Bool {
            if status != nil { return false }
            var s: Int32 = 0
            let r = waitpid(pid, &s, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) { status = r == pid ? s : 0; return false }
            return true
        }

        var exitDescription: String {
            guard let s = status else { return "running" }
            if s & 0x7F == 0 { return "exit \((s >> 8) & 0xFF)" }
            return "signal \(s & 0x7F)"
        }
        var exitCode: Int32 {
            guard let s = status else { return -1 }
            return s & 0x7F == 0 ? (s >> 8) & 0xFF : 128 + (s & 0x7F)
        }
    }

    let stopTimeout: HTDuration
    private(set) var children: [Child] = []
    private var foreground: Child?
    private let stopFlag = Atomic<Bool>(false)
    private var sources: [SignalRoute] = []
    private var stopped = false

    init(stopTimeout: HTDuration) { self.stopTimeout = stopTimeout }

    var stopRequested: Bool { stopFlag.load(ordering: .acquiring) }

    /// SIGINT, SIGTERM and SIGHUP ask for a clean stop instead of killing the supervisor.
    func installSignalHandlers() {
        sources += ProcessSignals.handle([SIGINT, SIGTERM, SIGHUP]) { [self] _ in stopFlag.store(true, ordering: .releasing) }
    }

    static func executableDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().standardizedFileURL.path
    }

    /// Moves the table and logs of an earlier run to `<root>/previous/<time>/`: sinkd resumes from the
    /// offsets in committed file names, which mean nothing to a fresh broker.
    static func archivePreviousRun(root: String) throws {
        let fm = FileManager.default
        let parts = ["trends", "_tmp", "logs"].filter { fm.fileExists(atPath: root + "/" + $0) }
        guard !parts.isEmpty else { return }
        let stamp = EventTime.format(millis: DemoCommand.nowMillis()).replacingOccurrences(of: ":", with: "-")
        let dest = root + "/previous/" + stamp
        try fm.createDirectory(atPath: dest, withIntermediateDirectories: true)
        for p in parts { try fm.moveItem(atPath: root + "/" + p, toPath: dest + "/" + p) }
        DemoCommand.say("moved the previous run's files to \(dest)/")
    }

    func startDaemon(_ name: String, _ path: String, _ args: [String], log: String) throws {
        let pid = try Self.spawn(path, args, newProcessGroup: true, log: log)
        children.append(Child(name: name, pid: pid))
    }

    func startForeground(_ path: String, _ args: [String]) throws -> Child {
        let c = Child(name: "top", pid: try Self.spawn(path, args, newProcessGroup: false, log: nil))
        foreground = c
        return c
    }

    /// Waits for the foreground child; a stop request is passed on to it as SIGTERM.
    func waitForeground(_ c: Child) -> Int32 {
        var forwarded = false
        while c.isRunning {
            if stopRequested && !forwarded { kill(c.pid, SIGTERM); forwarded = true }
            usleep(50_000)
        }
        foreground = nil
        return c.exitCode
    }

    /// Sleeps up to `seconds`, returning early on a stop request.
    func sleep(seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !stopRequested { usleep(50_000) }
    }

    func waitForFile(_ path: String, timeout: Double) -> String? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end && !stopRequested && children.allSatisfy(\.isRunning) {
            if let s = try? String(contentsOfFile: path, encoding: .utf8) {
                let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                if !t.isEmpty { return t }
            }
            usleep(20_000)
        }
        return nil
    }

    /// Stops the producer first and the broker last: SIGTERM, wait up to the stop timeout, then SIGKILL.
    func stopAll() {
        if stopped { return }
        stopped = true
        if let f = foreground, f.isRunning { stop(f) }
        for c in stopOrder { stop(c) }
    }

    /// Producer first, broker last: each daemon can still flush to the next one.
    var stopOrder: [Child] {
        let order = ["ingestd", "trendd", "sinkd", "broker"]
        return children.sorted { (order.firstIndex(of: $0.name) ?? 9) < (order.firstIndex(of: $1.name) ?? 9) }
    }

    private func stop(_ c: Child) {
        guard c.isRunning else { return }
        kill(c.pid, SIGTERM)
        let end = Date().addingTimeInterval(stopTimeout.seconds)
        while c.isRunning && Date() < end { usleep(20_000) }
        if c.isRunning {
            DemoCommand.say("\(c.name) (pid \(c.pid)) did not stop within \(stopTimeout); killing it")
            kill(c.pid, SIGKILL)
            while c.isRunning { usleep(10_000) }
        }
    }

    /// posix_spawn with default signal dispositions and an empty mask (this process ignores SIGINT and
    /// friends, and ignored signals would otherwise stay ignored in the child).
    static func spawn(_ path: String, _ args: [String], newProcessGroup: Bool, log: String?) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let log {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        guard rc == 0 else {
            throw ValidationError("cannot start \(path): \(String(cString: strerror(rc)))")
        }
        return pid
    }
}
