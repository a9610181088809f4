import ArgumentParser
import Foundation
import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

/// `hashtrend sink`: backfills the trends table from window records in a file (or stdin), through the
/// same committed-file protocol as sinkd, so the table gets the same layout, names and exactly-once rules.
/// The file stands in for one input partition whose offsets are the line indexes (0-based); recovery runs
/// first, so re-running the same backfill writes nothing new and an interrupted one resumes.
struct SinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "Write the final windows of a file of window records into the trends table (a backfill).",
        discussion: """
        Input: the JSON lines of `hashtrend trends` (the trends topic's records), e.g. `hashtrend trends posts.jsonl | hashtrend sink --root ./hashtrend-data`. Final windows only, each written once, in the layout sinkd writes (docs/sinkd.md).

        Line i (from 0) is offset i of input partition --partition: pick a partition number sinkd does not use for the same root (sinkd uses the trends topic's partitions). Running the same input again writes nothing new; an interrupted run resumes where its last committed file ends. Windows not newer than the last one written for the partition are skipped, as in sinkd.
        """)

    @Option(help: "Table root: a local directory, or webhdfs://namenode:9870/path (swebhdfs:// for https).")
    var root: String

    @Option(help: "The input partition number the file stands for (in the file names, 0...99999).")
    var partition: Int32 = 0

    @Option(help: "HDFS user name sent as user.name (WebHDFS without Kerberos).")
    var hdfsUser: String?

    @Option(help: "File with a WebHDFS delegation token.")
    var hdfsTokenFile: String?

    @Option(help: "Commit a file once it holds this many rows (files are also cut at each hour of window_end).")
    var flushRows: Int = 100_000

    @Argument(help: "Input file of window records; - or nothing for standard input.")
    var file: String = "-"

    func validate() throws {
        guard (0...99_999).contains(partition) else { throw ValidationError("--partition must be between 0 and 99999") }
        guard flushRows >= 1 else { throw ValidationError("--flush-rows must be at least 1") }
        guard !root.isEmpty else { throw ValidationError("--root must not be empty") }
    }

    func makeTarget() throws -> any TableTarget {
        guard root.hasPrefix("webhdfs://") || root.hasPrefix("swebhdfs://") else {
            return try SinkSettings.target(root: root, configuration: nil)
        }
        var options = WebHDFSOptions()
        if let hdfsTokenFile {
            options.auth = try WebHDFSAuth.delegationToken(file: hdfsTokenFile)
        } else if let hdfsUser, !hdfsUser.isEmpty {
            options.auth = .user(hdfsUser)
        }
        let client = try WebHDFSClient(root, options: options)
        try client.mkdirs("")
        return WebHDFSTableTarget(client: client)
    }

    func run() throws {
        let target: any TableTarget
        do { target = try makeTarget() } catch { throw ValidationError("--root \(root): \(error)") }
        let recovery: TrendsRecovery
        do { recovery = try TrendsTableRecovery.recover(target: target, partitions: [partition]) } catch {
            throw SinkFailure("cannot read the table at \(target.location): \(error)")
        }
        let resume = recovery.partitions[partition]
        if let resume {
            stderrLine("hashtrend sink: partition \(partition) resumes at line \(resume.nextOffset)"
                + (resume.lastWindowEndMillis.map { " (last window end \(EventTime.format(millis: $0)))" } ?? ""))
        }
        if !recovery.removedTemporaryFiles.isEmpty {
            stderrLine("hashtrend sink: removed \(recovery.removedTemporaryFiles.count) leftover temporary file(s)")
        }
        let writer = TrendsPartitionWriter(target: target, partition: partition, resume: resume, maxRowsPerFile: flushRows)
        let reader: LineReader
        do { reader = try LineReader(path: file) } catch {
            throw SinkFailure("cannot read \(file): \((error as NSError).localizedDescription)")
        }

        var stats = SinkStats()
        let progress = SinkProgress(enabled: true)
        var offset: Int64 = -1
        var failure: SinkFailure? = nil
        func note(_ files: [TrendsFileName]) {
            stats.files += files.count
        }
        while let line = try reader.next() {
            offset += 1
            stats.lines += 1
            if offset < writer.nextOffset {
                stats.alreadyWritten += 1
                continue
            }
            if reader.lastLineTruncated {
                failure = SinkFailure("line \(offset + 1): longer than \(reader.maxLineBytes) bytes")
                break
            }
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) {
                writer.skip(offset: offset)
                continue
            }
            let window: TrendWindow
            do { window = try TrendWindow(json: line) } catch {
                failure = SinkFailure("line \(offset + 1): not a window record: \(error)")
                break
            }
            if !window.final {
                stats.notFinal += 1
            } else if !writer.accepts(window) {
                stats.notNewer += 1
            } else {
                stats.windows += 1
                stats.rowsAccepted += Int64(window.top.count)
            }
            do { note(try retrying("writing", { try writer.append(window, offset: offset) })) } catch {
                failure = SinkFailure("writing to \(target.location) failed at line \(offset + 1): \(error)")
                break
            }
            progress.tick(stats, bytes: reader.bytesRead)
        }
        // What was read before a bad line still goes in: the table stays consistent, and a re-run resumes.
        do { if let f = try retrying("committing the last file", { try writer.flush() }) { note([f]) } } catch {
            if failure == nil { failure = SinkFailure("writing to \(target.location) failed: \(error)") }
        }
        progress.done()
        stderrLine("hashtrend sink: \(stats.lines) line(s): \(stats.windows) final window(s) (\(stats.rowsAccepted) rows) written in \(stats.files) new file(s); "
            + "\(stats.alreadyWritten) line(s) already in the table, \(stats.notNewer) window(s) not newer than the last written, "
            + "\(stats.notFinal) early update(s) skipped")
        if let failure { throw failure }
    }
}

/// The writer's states make a failed step safe to repeat (a failed close leaves the rows buffered, a
/// failed rename leaves the complete temporary file), so a storage error is retried with backoff, as
/// sinkd does, before the backfill gives up. A final name that already exists is never retried.
func retrying<T>(_ what: String, attempts: Int = 8, _ body: () throws -> T) throws -> T {
    var delay = 0.5
    var attempt = 1
    while true {
        do { return try body() } catch {
            if case TableTargetError.alreadyExists = error { throw error }
            if attempt >= attempts { throw error }
            stderrLine("hashtrend sink: \(what) failed (\(error)); retry \(attempt) of \(attempts - 1) in \(delay) s")
            Thread.sleep(forTimeInterval: delay)
            delay = min(delay * 2, 10)
            attempt += 1
        }
    }
}

struct SinkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

struct SinkStats {
    var lines = 0
    var windows = 0
    var rowsAccepted: Int64 = 0
    var files = 0
    var alreadyWritten = 0
    var notNewer = 0
    var notFinal = 0
}

/// Progress on stderr: a rewritten line on a terminal, otherwise a plain line every 10 s (logs stay short).
final class SinkProgress {
    private let tty = isatty(2) == 1
    private let enabled: Bool
    private var last = DispatchTime.now()
    private var shown = false
    init(enabled: Bool) { self.enabled = enabled }

    func tick(_ s: SinkStats, bytes: Int64) {
        guard enabled, s.lines & 0x3FF == 0 else { return }
        let now = DispatchTime.now()
        let every: UInt64 = tty ? 1_000_000_000 : 10_000_000_000
        guard now.uptimeNanoseconds - last.uptimeNanoseconds >= every else { return }
        last = now
        let text = "hashtrend sink: \(s.lines) lines (\(bytes >> 20) MiB), \(s.windows) windows, \(s.files) files committed"
        if tty {
            FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8))
            shown = true
        } else {
            stderrLine(text)
        }
    }

    func done() { if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}
