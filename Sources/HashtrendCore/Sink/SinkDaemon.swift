import Foundation
import Logging

/// sinkd's settings (flags, `HASHTREND_*`, env file; docs/configuration.md).
public enum SinkSettings {
    public static let specs: [SettingSpec] = [
        SettingSpec("topic", default: "trends", help: "Topic of window records to store."),
        SettingSpec("group", default: "sinkd", help: "Consumer group (offsets are committed for monitoring; the resume point comes from the files)."),
        SettingSpec("root", default: "./hashtrend-data", help: "Table root: a local directory, or webhdfs://namenode:9870/path (swebhdfs:// for https)."),
        SettingSpec("flush-rows", default: "100000", help: "Commit a file once it holds this many rows."),
        SettingSpec("flush-bytes", default: "64MiB", help: "Commit a file once its rows are estimated at this many bytes (64 bytes a row)."),
        SettingSpec("rotate-interval", default: "5m", help: "Commit an open file at least this often, so rows reach the table within this delay."),
        SettingSpec("max-buffered-rows", default: "2000000", help: "While the target is unavailable, stop consuming once this many rows wait in memory."),
        SettingSpec("hdfs-user", default: "", help: "HDFS user name sent as user.name (WebHDFS without Kerberos)."),
        SettingSpec("hdfs-token-file", default: "", help: "File with a WebHDFS delegation token (else $CREDENTIALS_DIRECTORY/webhdfs-delegation-token when present)."),
    ]

    public static let summary = "Stores the final windows of the trends topic as Parquet files (HDFS over WebHDFS, or a local directory), exactly once."

    /// The table target for a `--root` value.
    public static func target(root: String, configuration c: Configuration?) throws -> any TableTarget {
        if root.hasPrefix("webhdfs://") || root.hasPrefix("swebhdfs://") {
            return try WebHDFSTableTarget.make(root: root, configuration: c)
        }
        var path = root
        if path.hasPrefix("file://") { path = String(path.dropFirst(7)) }
        guard !path.isEmpty else { throw TableTargetError.io("--root is empty") }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return LocalTableTarget(root: path)
    }
}

/// One input partition's writer plus its bookkeeping.
final class SinkPartition {
    var writer: TrendsPartitionWriter
    var openedAt: DispatchTime? = nil
    var committedThrough: Int64 = -1
    /// Records consumed while the writer refused them (a failed commit, or the hour cut's flush),
    /// in offset order, nil for records that only move the offset on. The consumer has moved past
    /// them, so they wait here and go to the writer, before anything newer, once the target works.
    var backlog: [(window: TrendWindow?, offset: Int64)] = []
    var backlogRows = 0
    init(writer: TrendsPartitionWriter) { self.writer = writer }
}

/// The sinkd loop: consume window records, keep the final ones, write them per input partition through
/// the committed-file protocol (TrendsPartitionWriter), commit Kafka offsets after each rename.
/// The resume point comes from the committed file names (not from Kafka), so a crash at any moment
/// neither loses nor duplicates a window (DESIGN.md, "Exactly once").
public final class SinkProcessor: @unchecked Sendable {
    let ctx: DaemonContext
    let topic: String
    let root: String
    let target: any TableTarget
    let maxRows: Int
    let rotate: HTDuration
    let maxBuffered: Int
    let kafka: KafkaConfig

    private var consumer: KafkaConsumer?
    private var partitions: [Int32: SinkPartition] = [:]
    private var paused = false
    private var filesWritten = 0
    /// Rows of final windows accepted for writing (committed to files at the next rotation).
    private var rowsWritten: Int64 = 0
    private var lastWindowEnd: Int64? = nil
    private var targetError: String? = nil

    public init(context: DaemonContext) throws {
        ctx = context
        let c = context.configuration
        topic = c.requireString("topic")
        root = c.requireString("root")
        let rows = c.int("flush-rows", range: 1...100_000_000)
        let bytes = c.byteSize("flush-bytes")
        maxRows = max(1, min(rows, Int(bytes / 64)))
        rotate = c.duration("rotate-interval", min: HTDuration(millis: 100))
        maxBuffered = c.int("max-buffered-rows", range: 1000...1_000_000_000)
        var k = context.kafka.withDefaults(["isolation.level": "read_committed"])
        k["group.id"] = c.requireString("group")
        kafka = k
        guard c.problems.isEmpty else { throw ConfigError(problems: []) }
        do { target = try SinkSettings.target(root: root, configuration: c) } catch {
            throw ConfigError(problems: ["--root (HASHTREND_ROOT): \(error)"])
        }
    }

    public func run(_ control: LoopControl) throws {
        let logger = ctx.logger
        let consumer = try KafkaConsumer(config: kafka, logger: logger) { [unowned self] in self.rebalance($0) }
        self.consumer = consumer
        defer { consumer.close() }
        guard ctx.waitForKafka("topic \(topic)", control: control, probe: {
            try consumer.partitionCount(topic: topic, timeout: .seconds(2)) != nil
        }) else { return }
        try consumer.subscribe([topic])
        ctx.notifier.ready(status: "storing \(topic) in \(target.location)")
        logger.info("sinkd started", metadata: ["topic": "\(topic)", "root": "\(target.location)"])
        var lastStatus = DispatchTime.now()
        var retryAt = DispatchTime.now()
        var backoff = 0.5
        let statusEvery = UInt64(ctx.configuration.duration("status-interval").millis) * 1_000_000
        while !control.shouldStop {
            ctx.heartbeat.beat()
            if let m = consumer.poll(timeoutMillis: 100) {
                if let e = m.error {
                    if e.isFatal { throw e }
                    logger.warning("consumer: \(e)", metadata: ["error_kind": "\(e.name)"])
                } else if let part = partitions[m.partition] {
                    handle(m, part)
                }
            }
            let now = DispatchTime.now()
            if now >= retryAt {
                if commitDue(now: now) {
                    backoff = 0.5
                    if paused { try setPaused(false) }
                } else {
                    retryAt = now + backoff
                    backoff = min(backoff * 2, 30)
                    if !paused && bufferedRows() >= maxBuffered { try setPaused(true) }
                }
            }
            if now.uptimeNanoseconds - lastStatus.uptimeNanoseconds > statusEvery {
                lastStatus = now
                ctx.notifier.status(statusLine())
            }
        }
        ctx.notifier.status("stopping: committing open files")
        for (_, p) in partitions where drain(p) { try? flush(p) }
        commitOffsets()
        logger.info("sinkd stopped", metadata: ["files": "\(filesWritten)", "rows": "\(rowsWritten)"])
    }

    private func handle(_ m: KafkaMessage, _ part: SinkPartition) {
        var window: TrendWindow? = nil
        do { window = try TrendWindow(json: m.valueBytes) } catch {
            // trendd wrote it, so this is a bug or a foreign producer: loud, counted, and skipped.
            ctx.logger.error("undecodable window record skipped: \(error)", metadata: ["partition": "\(m.partition)", "offset": "\(m.offset)", "error_kind": "bad_record"])
        }
        if window?.final != true { window = nil }
        if part.backlog.isEmpty {
            do {
                try apply(window, offset: m.offset, part)
                return
            } catch {
                noteTargetError(error)
            }
        }
        // Dropping it here would leave its offset in no file: a lost window (the writer only takes
        // an offset once, in order).
        if part.backlog.isEmpty {
            ctx.logger.warning("holding records until the target takes writes again", metadata: ["partition": "\(m.partition)", "offset": "\(m.offset)"])
        }
        part.backlog.append((window, m.offset))
        part.backlogRows += window?.top.count ?? 0
    }

    /// One record to the writer; nil only moves the offset on. Throws when the target refuses; the
    /// writer's state then allows the same call again (a no-op if the record was already buffered).
    private func apply(_ window: TrendWindow?, offset: Int64, _ part: SinkPartition) throws {
        guard let window else {
            part.writer.skip(offset: offset)
            return
        }
        // A commit left pending goes through flush, which also recognises a rename whose answer was lost.
        if case .closed = part.writer.state { try flush(part) }
        if part.openedAt == nil { part.openedAt = .now() }
        let accepted = part.writer.accepts(window)
        let files = try part.writer.append(window, offset: offset)
        if accepted { rowsWritten += Int64(window.top.count) }
        if !files.isEmpty { committed(files, part) }
    }

    /// Feeds a partition's backlog to its writer in order; false while the target still refuses.
    private func drain(_ p: SinkPartition) -> Bool {
        var done = 0
        defer {
            if done > 0 {
                p.backlog.removeFirst(done)
                p.backlogRows = p.backlog.reduce(0) { $0 + ($1.window?.top.count ?? 0) }
            }
        }
        for (w, off) in p.backlog {
            do { try apply(w, offset: off, p) } catch {
                noteTargetError(error)
                return false
            }
            done += 1
        }
        return true
    }

    /// Rotation and retries: returns false while the target refuses.
    private func commitDue(now: DispatchTime) -> Bool {
        var ok = true
        for (_, p) in partitions {
            if !p.backlog.isEmpty && !drain(p) {
                ok = false
                continue
            }
            let due: Bool
            switch p.writer.state {
            case .closed: due = true
            case .writing(_, _, let rows):
                // openedAt may be later than `now` (set by a drain just above): no unsigned underflow.
                let age = p.openedAt.map { now > $0 ? now.uptimeNanoseconds - $0.uptimeNanoseconds : 0 } ?? 0
                due = rows >= maxRows || age >= UInt64(rotate.millis) * 1_000_000
            default: due = false
            }
            if due {
                do { try flush(p) } catch { noteTargetError(error); ok = false }
            }
        }
        if ok && targetError != nil {
            ctx.logger.info("target available again", metadata: ["root": "\(target.location)"])
            targetError = nil
        }
        return ok
    }

    private func flush(_ p: SinkPartition) throws {
        do {
            if let f = try p.writer.flush() { committed([f], p) }
        } catch TableTargetError.alreadyExists(let what) {
            guard case .closed(let temp, let final) = p.writer.state, try adoptLostRename(p, temp: temp, final: final) else {
                throw TableTargetError.alreadyExists(what)
            }
        }
    }

    /// A RENAME that took effect but whose answer was lost past the client's retries leaves the writer
    /// `closed` with its file already under the final name, and every later try finds the name taken:
    /// the partition would stall until a restart. When the temporary file is gone and the final file's
    /// footer names the same offsets, the commit happened: go on from the files, as recovery would.
    private func adoptLostRename(_ p: SinkPartition, temp: String, final: TrendsFileName) throws -> Bool {
        do {
            _ = try target.fileSize(temp)
            return false
        } catch TableTargetError.notFound {}
        let md = try target.readParquetFooter(final.path)
        guard md[metadata: TrendsTable.startOffsetKey] == String(final.startOffset),
              md[metadata: TrendsTable.endOffsetKey] == String(final.endOffset) else { return false }
        let end = md[metadata: TrendsTable.lastWindowEndKey].flatMap { EventTime.parse($0) }
        let resume = TrendsPartitionResume(partition: final.partition, nextOffset: final.endOffset + 1,
                                           lastWindowEndMillis: end, lastFile: final)
        p.writer = TrendsPartitionWriter(target: target, partition: final.partition, resume: resume, maxRowsPerFile: maxRows)
        ctx.logger.warning("a rename's answer was lost; its file is committed", metadata: ["path": "\(final.path)"])
        committed([final], p)
        return true
    }

    private func committed(_ files: [TrendsFileName], _ p: SinkPartition) {
        for f in files {
            filesWritten += 1
            ctx.logger.info("file committed", metadata: ["path": "\(f.path)", "partition": "\(f.partition)",
                                                         "offsets": "\(f.startOffset)-\(f.endOffset)"])
            p.committedThrough = max(p.committedThrough, f.endOffset)
        }
        p.openedAt = nil
        if let e = p.writer.lastWindowEndMillis { lastWindowEnd = max(lastWindowEnd ?? .min, e) }
        commitOffsets()
    }

    private func noteTargetError(_ error: Error) {
        let text = "\(error)"
        if targetError != text {
            ctx.logger.error("target unavailable: \(text)", metadata: ["root": "\(target.location)", "error_kind": "target"])
        }
        targetError = text
    }

    private func bufferedRows() -> Int {
        partitions.values.reduce(0) { acc, p in
            if case .writing(_, _, let rows) = p.writer.state { return acc + rows + p.backlogRows }
            return acc + p.backlogRows
        }
    }

    private func setPaused(_ pause: Bool) throws {
        guard let consumer else { return }
        let tps = partitions.keys.map { TopicPartition(topic, $0) }
        if pause { try consumer.pause(tps) } else { try consumer.resume(tps) }
        paused = pause
        ctx.logger.warning(pause ? "consumption paused: the target is unavailable and the buffer is full" : "consumption resumed")
    }

    /// Kafka offsets follow the files (for lag monitoring and tools); the resume point is the files.
    private func commitOffsets() {
        guard let consumer else { return }
        let offsets = partitions.compactMap { (p, s) -> PartitionOffset? in
            s.committedThrough >= 0 ? PartitionOffset(TopicPartition(topic, p), offset: s.committedThrough + 1) : nil
        }
        do { try consumer.commit(offsets) } catch { ctx.logger.debug("offset commit deferred: \(error)") }
    }

    private func statusLine() -> String {
        var s = "\(bufferedRows()) rows buffered, \(filesWritten) files written"
        if let e = lastWindowEnd { s += ", last window end \(EventTime.format(millis: e))" }
        if let t = targetError { s += "; target unavailable: \(t)" }
        if paused { s += " (paused)" }
        if let k = consumer?.lastError { s += "; kafka: \(k.name)" }
        return s
    }

    /// On assignment, the resume point of each partition comes from the committed files.
    private func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64]? {
        switch event {
        case .revoked(let tps, let lost):
            for tp in tps {
                if let p = partitions[tp.partition], !lost { try? flush(p) }
            }
            if !lost { commitOffsets() }
            for tp in tps { partitions.removeValue(forKey: tp.partition) }
            paused = false
            return nil
        case .assigned(let tps):
            var recovery: TrendsRecovery? = nil
            var attempt = 0
            while recovery == nil {
                do { recovery = try TrendsTableRecovery.recover(target: target, partitions: Set(tps.map(\.partition))) } catch {
                    attempt += 1
                    noteTargetError(error)
                    ctx.heartbeat.beat()
                    Thread.sleep(forTimeInterval: min(0.5 * Double(attempt), 10))
                }
            }
            var starts: [TopicPartition: Int64] = [:]
            for tp in tps {
                let resume = recovery!.partitions[tp.partition]
                partitions[tp.partition] = SinkPartition(writer: TrendsPartitionWriter(target: target, partition: tp.partition, resume: resume,
                                                                                     maxRowsPerFile: maxRows))
                partitions[tp.partition]!.committedThrough = (resume?.nextOffset ?? 0) - 1
                starts[tp] = resume?.nextOffset ?? KafkaOffset.beginning
                if let r = resume, let e = r.lastWindowEndMillis { lastWindowEnd = max(lastWindowEnd ?? .min, e) }
            }
            if let r = recovery, !r.removedTemporaryFiles.isEmpty {
                ctx.logger.info("removed leftover temporary files", metadata: ["count": "\(r.removedTemporaryFiles.count)"])
            }
            ctx.logger.info("resuming from committed files", metadata: ["partitions": "\(tps.count)",
                "offsets": "\(starts.sorted { $0.key < $1.key }.map { "\($0.key.partition):\($0.value)" }.joined(separator: ","))"])
            return starts
        }
    }
}
