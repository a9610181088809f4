import ArgumentParser
import Dispatch
import Foundation
import HashtrendCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "The live trends table: the current window's top hashtags, read from the trends topic.",
        discussion: """
        Reads the last --backlog records of each partition (no consumer group, no commits), then follows the \
        topic and redraws in place. q quits, as do Ctrl-C and SIGTERM; the terminal is restored.

        Piped, it prints a plain table per update; --json prints one JSON object per update; --once prints \
        the latest window and exits (status 1 when no window arrives within --wait). See docs/top.md.
        """)

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "Topic with the window records.")
    var topic: String = "trends"

    @Flag(help: "Print the table for the latest window available and exit.")
    var once = false

    @Flag(help: "One JSON object per refresh (one line each) instead of the table.")
    var json = false

    @Option(help: "Table rows (default: what fits the terminal, else 20).")
    var rows: Int?

    @Option(help: "With --once: how long to wait for the topic and a window before exiting with status 1.")
    var wait: String = "10s"

    @Option(help: "Sparkline length, in windows.")
    var history: Int = 12

    @Option(help: "Records read back from the end of each partition at start (early updates publish several records per hop).")
    var backlog: Int = 1000

    @Option(help: "Scores at or above this are marked rising (\(TopRenderer.risingMarker)).")
    var rising: Double = 2

    @Flag(help: "Show only final windows, never a provisional (early) update.")
    var finalOnly = false

    @Option(help: "Output width in columns (default: the terminal's, else $COLUMNS, else 80).")
    var width: Int?

    @Option(help: "auto (a terminal, TERM not dumb, NO_COLOR unset; never with --once), always, or never.")
    var color: String = "auto"

    @Option(help: "Redraw period of the live table (the lag column moves with the clock).")
    var refresh: String = "1s"

    @Option(help: "Take this time (RFC 3339) as now for the lag column: reproducible captures and tests.")
    var now: String?

    func validate() throws {
        if let rows, rows < 1 { throw ValidationError("--rows must be at least 1") }
        if let width, width < 20 { throw ValidationError("--width must be at least 20") }
        guard (1...500).contains(history) else { throw ValidationError("--history must be between 1 and 500") }
        guard backlog >= 0 else { throw ValidationError("--backlog must not be negative") }
        guard ["auto", "always", "never"].contains(color) else { throw ValidationError("--color must be auto, always or never") }
        guard try HTDuration(parsing: refresh).millis >= 50 else { throw ValidationError("--refresh must be at least 50ms") }
        _ = try HTDuration(parsing: wait)
        if let now, EventTime.parse(now) == nil { throw ValidationError("--now must be RFC 3339, e.g. 2026-01-01T00:10:00Z") }
    }

    func run() throws {
        let stdoutTTY = isatty(1) == 1
        let interactive = !once && !json && stdoutTTY
        let env = ProcessInfo.processInfo.environment
        let useColor: Bool
        switch color {
        case "always": useColor = true
        case "never": useColor = false
        default:
            let term = env["TERM"] ?? ""
            useColor = interactive && !term.isEmpty && term != "dumb" && (env["NO_COLOR"] ?? "").isEmpty
        }
        let fixedNow = now.flatMap(EventTime.parse)
        func clockNow() -> Int64 { fixedNow ?? Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
        let waitMillis = try HTDuration(parsing: wait).millis
        let refreshMillis = try HTDuration(parsing: refresh).millis

        let stop = Atomic<Bool>(false)
        let resized = Atomic<Bool>(false)
        let suspend = Atomic<Bool>(false)
        // Ctrl-Z on the full screen: the loop puts the terminal back before stopping (see below).
        let sources = ProcessSignals.handle([SIGINT, SIGTERM, SIGHUP, SIGWINCH] + (interactive ? [SIGTSTP] : [])) { sig in
            switch sig {
            case SIGWINCH: resized.store(true, ordering: .relaxed)
            case SIGTSTP: suspend.store(true, ordering: .relaxed)
            default: stop.store(true, ordering: .relaxed)
            }
        }
        defer { _ = sources }

        // librdkafka's complaints would scribble over a full-screen table: there they go to the footer.
        let recent = RecentLog()
        let logger = Logger(label: "hashtrend.top") { _ in
            var h = RecentLogHandler(recent: recent, echo: !interactive)
            h.logLevel = .warning
            return h
        }
        var config = try kafka.config()
        config["group.id"] = "hashtrend-top-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        config["enable.partition.eof"] = "true"
        if config["client.id"] == nil { config["client.id"] = "hashtrend-top" }
        let consumer = try KafkaConsumer(config: config, logger: logger)
        defer { consumer.close() }

        let terminal = interactive ? TerminalSession() : nil
        terminal?.enter()
        defer { terminal?.restore() }

        let out = OutputWriter.standardOutput
        let startedUptime = DispatchTime.now().uptimeNanoseconds
        func elapsedMillis() -> Int64 { Int64((DispatchTime.now().uptimeNanoseconds - startedUptime) / 1_000_000) }
        let bootstrap = config["bootstrap.servers"] ?? "?"

        /// Width, and the rows that fit with `below` lines under the table (footer; the shell prompt after --once).
        func geometry(below: Int = 0) -> (width: Int, rows: Int) {
            let size = stdoutTTY ? terminalSize() : nil
            let w = width ?? size?.cols ?? Int(env["COLUMNS"] ?? "").flatMap { $0 >= 20 ? $0 : nil } ?? 80
            let r = rows ?? size.map { max(1, $0.rows - TopRenderer.headerLines - below) } ?? 20
            return (max(20, w), r)
        }

        // Find the partitions, then start a little before the end of each.
        var partitions = 0
        var lastWaitDraw: Int64 = -1_000_000
        var discoveryError: Error? = nil
        while !stop.load(ordering: .relaxed) {
            do {
                if let n = try consumer.partitionCount(topic: topic, timeout: .seconds(2)), n > 0 {
                    partitions = n
                    break
                }
                discoveryError = nil
            } catch {
                discoveryError = error
            }
            if elapsedMillis() >= waitMillis && once {
                if let discoveryError {
                    throw failure("cannot read the topics of \(bootstrap) (waited \(wait)): \(discoveryError)")
                }
                throw failure("topic '\(topic)' does not exist or has no partitions (waited \(wait))")
            }
            if let terminal, elapsedMillis() - lastWaitDraw >= 1000 {
                lastWaitDraw = elapsedMillis()
                terminal.draw(["hashtrend top  waiting for topic '\(topic)' at \(bootstrap)", "", "q quit"], height: terminalSize()?.rows ?? 24)
            }
            if let terminal, terminal.quitKeyPressed() { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        if stop.load(ordering: .relaxed) { return }

        var targets: [Int32: Int64] = [:]
        var caughtUp = Set<Int32>()
        var assignments: [PartitionOffset] = []
        for p in 0..<Int32(partitions) {
            let tp = TopicPartition(topic, p)
            let (lo, hi) = try consumer.watermarks(tp, timeout: .seconds(10))
            let start = max(lo, hi - Int64(backlog))
            targets[p] = hi
            if start >= hi { caughtUp.insert(p) }
            assignments.append(PartitionOffset(tp, offset: start))
        }
        try consumer.assign(assignments)

        var model = TopModel(capacity: max(256, history * 4))
        var recordsRead = 0
        var badRecords = 0
        var lastBad: String? = nil
        var dirty = true
        var lastDraw: Int64 = -1_000_000
        var lastEmitted: String? = nil
        var idlePoll = false

        func options(rows: Int, footer: [String]?) -> TopRenderer.Options {
            TopRenderer.Options(rows: rows, history: history, risingScore: rising, finalOnly: finalOnly, footer: footer)
        }
        func footerLines() -> [String] {
            var s = "q quit  \(topic) @ \(bootstrap)  \(recordsRead) record(s), \(model.windows.count) window(s)"
            if badRecords > 0 { s += ", \(badRecords) unreadable" }
            return [s] + [recent.last ?? lastBad].compactMap { $0 }
        }

        while !stop.load(ordering: .relaxed) {
            if let m = consumer.poll(timeoutMillis: idlePoll ? 100 : 0) {
                idlePoll = false
                if let e = m.error {
                    if e.name == "_PARTITION_EOF" { caughtUp.insert(m.partition) } else { recent.note("kafka: \(e)") }
                    continue
                }
                recordsRead += 1
                do {
                    if model.feed(try TrendWindow(json: m.valueBytes)) { dirty = true }
                } catch {
                    badRecords += 1
                    let why = (error as? TrendWindowJSONError)?.description ?? "not valid JSON"
                    lastBad = "unreadable record \(topic)[\(m.partition)]@\(m.offset): \(why)"
                    if !interactive && badRecords <= 5 { stderrLine("hashtrend top: \(lastBad!)") }
                }
                if m.offset + 1 >= targets[m.partition] ?? 0 { caughtUp.insert(m.partition) }
                // Keep draining while records flow; draw between batches.
                if elapsedMillis() - lastDraw < 100 { continue }
            } else {
                idlePoll = true
            }
            // The backlog is read before the first table, so it does not flicker through old windows.
            let ready = caughtUp.count == partitions || (!once && elapsedMillis() >= 2000)

            if once {
                if ready, model.currentWindowEnd(finalOnly: finalOnly) != nil {
                    let g = geometry(below: 1)
                    if json {
                        out.line(TopRenderer.json(model, now: clockNow(), options: options(rows: g.rows, footer: nil))!)
                    } else {
                        out.write(TopRenderer.render(model, width: g.width, color: useColor, now: clockNow(), options: options(rows: g.rows, footer: nil)))
                    }
                    guard out.flush() else { throw ExitCode(1) }
                    return
                }
                if elapsedMillis() >= waitMillis {
                    let what = badRecords > 0 ? ", \(badRecords) unreadable" : ""
                    throw failure("no window in topic '\(topic)' within \(wait) (\(recordsRead) record(s) read\(what))")
                }
                continue
            }

            if let terminal {
                if terminal.quitKeyPressed() { break }
                if suspend.exchange(false, ordering: .relaxed) {
                    terminal.restore()
                    kill(getpid(), SIGSTOP)
                    // Continued (fg): take the screen back and redraw it whole.
                    terminal.enter()
                    resized.store(true, ordering: .relaxed)
                }
                let tick = elapsedMillis() - lastDraw >= refreshMillis
                let resize = resized.exchange(false, ordering: .relaxed)
                if ready && (dirty || tick || resize) {
                    let footer = footerLines()
                    let g = geometry(below: footer.count + 1)
                    let text = TopRenderer.render(model, width: g.width, color: useColor, now: clockNow(),
                                                  options: options(rows: g.rows, footer: footer))
                    terminal.draw(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init),
                                  height: terminalSize()?.rows ?? 24, clear: resize)
                    lastDraw = elapsedMillis()
                    dirty = false
                }
            } else if ready && dirty && elapsedMillis() - lastDraw >= min(refreshMillis, 250) {
                // Piped: one table (or JSON object) per change of the model, none for clock ticks alone.
                let g = geometry()
                let text: String?
                if json {
                    text = TopRenderer.json(model, now: clockNow(), options: options(rows: g.rows, footer: nil)).map { $0 + "\n" }
                } else if model.currentWindowEnd(finalOnly: finalOnly) != nil {
                    text = TopRenderer.render(model, width: g.width, color: useColor, now: clockNow(), options: options(rows: g.rows, footer: nil)) + "\n"
                } else {
                    text = nil
                }
                if let text, text != lastEmitted {
                    out.write(text)
                    guard out.flush() else { break }
                    lastEmitted = text
                }
                lastDraw = elapsedMillis()
                dirty = false
            }
        }
    }

    private func failure(_ message: String) -> ExitCode {
        stderrLine("hashtrend top: \(message)")
        return ExitCode(1)
    }
}

/// The full-screen terminal: alternate screen, hidden cursor, and (when stdin is a terminal) raw input
/// for the `q` key. `restore` puts everything back and is safe to call more than once.
final class TerminalSession {
    private var saved = termios()
    private var raw = false
    private var active = false

    func enter() {
        if isatty(0) == 1, tcgetattr(0, &saved) == 0 {
            var t = saved
            t.c_lflag &= ~tcflag_t(ICANON | ECHO)
            withUnsafeMutableBytes(of: &t.c_cc) { cc in
                cc[Int(VMIN)] = 0
                cc[Int(VTIME)] = 0
            }
            raw = tcsetattr(0, TCSANOW, &t) == 0
        }
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
        active = true
    }

    func restore() {
        guard active else { return }
        active = false
        write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        if raw { _ = tcsetattr(0, TCSANOW, &saved); raw = false }
    }

    deinit { restore() }

    /// Lines drawn from the top-left, each cleared to its end, nothing below; never more than the
    /// screen's height (a last line feed would scroll the screen).
    func draw(_ lines: [String], height: Int, clear: Bool = false) {
        var s = clear ? "\u{1B}[2J\u{1B}[H" : "\u{1B}[H"
        for (i, l) in lines.prefix(max(1, height)).enumerated() {
            if i > 0 { s += "\r\n" }
            s += l + "\u{1B}[K"
        }
        s += "\u{1B}[J"
        write(s)
    }

    /// Reads pending keys without blocking: true for q, Q or Ctrl-C.
    func quitKeyPressed() -> Bool {
        guard raw else { return false }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(0, &buf, buf.count)
        guard n > 0 else { return false }
        return buf[..<n].contains { $0 == UInt8(ascii: "q") || $0 == UInt8(ascii: "Q") || $0 == 3 }
    }

    private func write(_ s: String) {
        let w = OutputWriter(fd: 1, limit: 1 << 20)
        w.write(s)
        w.flush()
    }
}

func terminalSize() -> (cols: Int, rows: Int)? {
    var ws = winsize()
    guard ioctl(1, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 else { return nil }
    return (Int(ws.ws_col), Int(ws.ws_row))
}

/// The latest warning, for the footer of the full-screen table.
final class RecentLog: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func note(_ s: String) { lock.withLock { message = s } }
    var last: String? { lock.withLock { message } }
}

struct RecentLogHandler: LogHandler {
    let recent: RecentLog
    let echo: Bool
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recent.note("\(event.level): \(event.message)")
        if echo { stderrLine("hashtrend top: \(event.level): \(event.message)") }
    }
}
