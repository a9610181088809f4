/// Names and layout of committed trends files (docs/parquet.md):
/// `trends/dt=YYYY-MM-DD/hour=HH/trends+<partition:5>+<startOffset:20>+<endOffset:20>.parquet`.
/// Zero padding makes lexicographic order equal numeric order for listings; parsing accepts any width.
public struct TrendsFileName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let tableDirectory = "trends"
    public static let temporaryDirectory = "_tmp"
    public static let partitionDigits = 5
    public static let offsetDigits = 20

    public var partition: Int32
    public var startOffset: Int64
    public var endOffset: Int64
    /// Start of the UTC hour (epoch millis) of the windows' ends: the file's `dt=`/`hour=` directory.
    public var hourStartMillis: Int64

    public init(partition: Int32, startOffset: Int64, endOffset: Int64, hourStartMillis: Int64) {
        self.partition = partition
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.hourStartMillis = hourStartMillis
    }

    /// The hour bucket of a window end: floor to the hour, UTC.
    public static func hourStart(ofWindowEnd millis: Int64) -> Int64 {
        let h: Int64 = 3_600_000
        return millis >= 0 ? millis / h * h : -((-millis + h - 1) / h) * h
    }

    static func padded(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    public var fileName: String {
        "trends+\(Self.padded(Int64(partition), Self.partitionDigits))+\(Self.padded(startOffset, Self.offsetDigits))"
            + "+\(Self.padded(endOffset, Self.offsetDigits)).parquet"
    }

    /// `dt=YYYY-MM-DD/hour=HH`
    public var partitionDirectory: String {
        let days = Int(hourStartMillis / 86_400_000) - (hourStartMillis % 86_400_000 < 0 ? 1 : 0)
        let (y, m, d) = EventTime.civilFromDays(days)
        let hour = Int((hourStartMillis - Int64(days) * 86_400_000) / 3_600_000)
        return "dt=\(Self.padded(Int64(y), 4))-\(Self.padded(Int64(m), 2))-\(Self.padded(Int64(d), 2))/hour=\(Self.padded(Int64(hour), 2))"
    }

    /// Root-relative path of the committed file.
    public var path: String { "\(Self.tableDirectory)/\(partitionDirectory)/\(fileName)" }

    public var description: String { path }

    /// Parses a committed file's root-relative path; nil for anything that is not exactly our layout.
    public init?(path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.tableDirectory,
              parts[1].hasPrefix("dt="), parts[2].hasPrefix("hour="),
              let (p, s, e) = Self.parseFileName(parts[3]) else { return nil }
        let dt = parts[1].dropFirst(3).split(separator: "-")
        guard dt.count == 3, let y = Int(dt[0]), let m = Int(dt[1]), let d = Int(dt[2]),
              let h = Int(parts[2].dropFirst(5)), (0..<24).contains(h), (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        self.init(partition: p, startOffset: s, endOffset: e,
                  hourStartMillis: Int64(EventTime.daysFromCivil(year: y, month: m, day: d)) * 86_400_000 + Int64(h) * 3_600_000)
    }

    /// `trends+P+S+E.parquet` -> (P, S, E), with S <= E and all non-negative.
    static func parseFileName<S: StringProtocol>(_ name: S) -> (Int32, Int64, Int64)? {
        guard name.hasPrefix("trends+"), name.hasSuffix(".parquet") else { return nil }
        let core = name.dropFirst("trends+".count).dropLast(".parquet".count)
        let f = core.split(separator: "+", omittingEmptySubsequences: false)
        guard f.count == 3, f.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let p = Int32(f[0]), let s = Int64(f[1]), let e = Int64(f[2]), s <= e else { return nil }
        return (p, s, e)
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.partition, a.startOffset, a.endOffset) < (b.partition, b.startOffset, b.endOffset)
    }
}

/// Where one input partition resumes after a restart.
public struct TrendsPartitionResume: Sendable, Equatable {
    public var partition: Int32
    /// First input offset not yet in a committed file (max endOffset + 1).
    public var nextOffset: Int64
    /// The last window end written for this partition (from the newest file's footer); windows ending
    /// at or before it are skipped.
    public var lastWindowEndMillis: Int64?
    public var lastFile: TrendsFileName

    public init(partition: Int32, nextOffset: Int64, lastWindowEndMillis: Int64?, lastFile: TrendsFileName) {
        self.partition = partition
        self.nextOffset = nextOffset
        self.lastWindowEndMillis = lastWindowEndMillis
        self.lastFile = lastFile
    }
}

public struct TrendsRecovery: Sendable {
    public var partitions: [Int32: TrendsPartitionResume]
    public var committedFiles: [TrendsFileName]
    /// Leftover temporary files that were deleted.
    public var removedTemporaryFiles: [String]
    /// Files under trends/ whose names are not ours (left alone).
    public var foreignFiles: [String]
}

public enum TrendsTableRecovery {
    /// Start-up recovery: lists committed files, computes each partition's resume point, and deletes
    /// leftover temporary files of `partitions` (all partitions when nil; pass the assigned ones when
    /// several sinks share a root, so one never deletes another's file in progress).
    public static func recover(target: any TableTarget, partitions: Set<Int32>? = nil) throws -> TrendsRecovery {
        var committed: [TrendsFileName] = []
        var foreign: [String] = []
        for path in try target.listFiles(under: TrendsFileName.tableDirectory) {
            if let name = TrendsFileName(path: path) {
                committed.append(name)
            } else {
                foreign.append(path)
            }
        }
        committed.sort()
        var newest: [Int32: TrendsFileName] = [:]
        for f in committed where partitions?.contains(f.partition) ?? true {
            if let cur = newest[f.partition], cur.endOffset >= f.endOffset { continue }
            newest[f.partition] = f
        }
        var resume: [Int32: TrendsPartitionResume] = [:]
        for (p, f) in newest {
            let md = try target.readParquetFooter(f.path)
            let end = md[metadata: TrendsTable.lastWindowEndKey].flatMap { EventTime.parse($0) }
            resume[p] = TrendsPartitionResume(partition: p, nextOffset: f.endOffset + 1, lastWindowEndMillis: end, lastFile: f)
        }
        var removed: [String] = []
        for path in try target.listFiles(under: TrendsFileName.temporaryDirectory) {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            if let partitions {
                guard let p = TemporaryName.partition(of: name), partitions.contains(p) else { continue }
            }
            try target.delete(path)
            removed.append(path)
        }
        return TrendsRecovery(partitions: resume, committedFiles: committed, removedTemporaryFiles: removed,
                              foreignFiles: foreign)
    }
}

enum TemporaryName {
    /// `_tmp/trends+P+S+E.<random>.parquet.tmp`: outside trends/ so no glob over the table sees it.
    static func make(for final: TrendsFileName) -> String {
        let r = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return "\(TrendsFileName.temporaryDirectory)/\(final.fileName.dropLast(".parquet".count)).\(r).parquet.tmp"
    }

    static func partition(of name: String) -> Int32? {
        guard name.hasPrefix("trends+") else { return nil }
        return name.dropFirst(7).split(separator: "+").first.flatMap { Int32($0) }
    }
}

/// Writes one input partition's windows into committed files (kafka-connect-hdfs style).
///
/// States: `idle` -> `writing` (rows buffered in memory) -> `closed` (complete file durable under
/// `_tmp/`) -> `committed` (renamed to its final name) -> `writing` ... A failed `close` leaves the
/// writer `writing` and a failed `commit` leaves it `closed`, so the caller can retry either step.
public final class TrendsPartitionWriter {
    public enum State: Sendable, Equatable {
        case idle
        case writing(TrendsFileName, windows: Int, rows: Int)
        case closed(temporaryPath: String, final: TrendsFileName)
        case committed(TrendsFileName)
    }

    public let target: any TableTarget
    public let partition: Int32
    public let options: ParquetWriterOptions
    /// A file is committed once it holds this many rows (it is also cut at every hour of window_end).
    public let maxRowsPerFile: Int
    public private(set) var state: State = .idle
    /// The next input offset this writer expects; records below it are already in committed files.
    public private(set) var nextOffset: Int64
    /// Windows ending at or before this are skipped (already written or out of order).
    public private(set) var lastWindowEndMillis: Int64?

    private var batcher = TrendRowBatcher()
    private var pending: TrendsFileName?
    private var pendingWindows = 0
    private var pendingLastEnd: Int64?

    public init(target: any TableTarget, partition: Int32, resume: TrendsPartitionResume? = nil,
                options: ParquetWriterOptions = TrendsTable.defaultWriterOptions, maxRowsPerFile: Int = 1_000_000) {
        self.target = target
        self.partition = partition
        self.options = options
        self.maxRowsPerFile = max(1, maxRowsPerFile)
        nextOffset = resume?.nextOffset ?? 0
        lastWindowEndMillis = resume?.lastWindowEndMillis
    }

    /// True when `window` is newer than everything written or buffered.
    public func accepts(_ window: TrendWindow) -> Bool {
        guard let last = pendingLastEnd ?? lastWindowEndMillis else { return true }
        return window.windowEndMillis > last
    }

    /// Adds the record at `offset`. Records below `nextOffset` are ignored (replayed after a restart);
    /// early updates (`final == false`) and windows not newer than the last one written only extend the
    /// file's offset range: the table holds each window once, as finally emitted. A window in a new hour
    /// first commits the open file. Returns the files committed by this call.
    @discardableResult
    public func append(_ window: TrendWindow, offset: Int64) throws -> [TrendsFileName] {
        guard offset >= nextOffset else { return [] }
        guard window.final, accepts(window) else {
            skip(offset: offset)
            return []
        }
        var committed: [TrendsFileName] = []
        // A commit that failed earlier is retried before anything new is buffered.
        if case .closed = state { committed.append(try commit()) }
        let hour = TrendsFileName.hourStart(ofWindowEnd: window.windowEndMillis)
        if let p = pending, p.hourStartMillis != hour, let f = try flush() { committed.append(f) }
        if var p = pending {
            p.endOffset = offset
            pending = p
        } else {
            pending = TrendsFileName(partition: partition, startOffset: offset, endOffset: offset, hourStartMillis: hour)
        }
        batcher.append(window)
        pendingWindows += 1
        pendingLastEnd = window.windowEndMillis
        nextOffset = offset + 1
        state = .writing(pending!, windows: pendingWindows, rows: batcher.rowCount)
        if batcher.rowCount >= maxRowsPerFile, let f = try flush() { committed.append(f) }
        return committed
    }

    /// Notes a consumed record that is not written (not final, already written): it extends the open
    /// file's offset range so the resume point moves past it.
    public func skip(offset: Int64) {
        guard offset >= nextOffset else { return }
        nextOffset = offset + 1
        // Only a file still being written can take the offset; a closed one already has its name.
        if case .writing = state, var p = pending {
            p.endOffset = offset
            pending = p
            state = .writing(p, windows: pendingWindows, rows: batcher.rowCount)
        }
    }

    /// writing -> closed: encodes the file and writes it durably under `_tmp/`.
    public func close() throws {
        guard case .writing = state, let final = pending else { return }
        var kv = [
            TrendsTable.partitionKey: String(partition),
            TrendsTable.startOffsetKey: String(final.startOffset),
            TrendsTable.endOffsetKey: String(final.endOffset),
            TrendsTable.windowCountKey: String(pendingWindows),
        ]
        if let end = pendingLastEnd { kv[TrendsTable.lastWindowEndKey] = EventTime.format(millis: end) }
        let sink = MemoryByteSink()
        let writer = try ParquetWriter(schema: TrendsTable.schema, options: options, sink: sink)
        if batcher.rowCount > 0 { try writer.write(batcher.columns()) }
        try writer.close(keyValueMetadata: kv)
        let temp = TemporaryName.make(for: final)
        try target.createFile(temp, bytes: sink.bytes)
        state = .closed(temporaryPath: temp, final: final)
    }

    /// closed -> committed: renames the temporary file to its final name. An existing final name is an
    /// error (`TableTargetError.alreadyExists`), never overwritten.
    @discardableResult
    public func commit() throws -> TrendsFileName {
        guard case .closed(let temp, let final) = state else {
            throw TableTargetError.io("trends writer for partition \(partition): nothing to commit (\(state))")
        }
        try target.rename(temp, to: final.path)
        state = .committed(final)
        if let end = pendingLastEnd { lastWindowEndMillis = end }
        pending = nil
        pendingWindows = 0
        pendingLastEnd = nil
        batcher.removeAll()
        return final
    }

    /// close + commit of whatever is open (also finishes a commit left pending by an earlier failure).
    @discardableResult
    public func flush() throws -> TrendsFileName? {
        if case .writing = state { try close() }
        if case .closed = state { return try commit() }
        return nil
    }
}
