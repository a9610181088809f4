#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum ParquetCompression: Sendable, Equatable {
    case uncompressed
    /// Level 1 is Arrow's default for ZSTD: near the best ratio for this data at a fraction of the time.
    case zstd(level: Int32)
}

/// Data page header version. v1 is what every reader handles; v2 keeps levels uncompressed.
public enum ParquetDataPageVersion: Sendable, Equatable {
    case v1
    case v2
}

public struct ParquetWriterOptions: Sendable {
    /// `created_by` in the footer. Readers parse "<app> version <x.y.z> (build <id>)".
    public static let defaultCreatedBy = "hashtrend version 0.1.0 (build hashtrend-core)"

    public var compression: ParquetCompression
    /// Dictionary-encode every column (falls back to PLAIN per column chunk past the limit below).
    public var dictionary: Bool
    /// PLAIN size of a chunk's dictionary past which the rest of that chunk is written PLAIN.
    public var dictionaryPageLimitBytes: Int
    /// A data page is closed once its encoded (uncompressed) size reaches this.
    public var pageTargetBytes: Int
    /// A row group is closed once its encoded size reaches this.
    public var rowGroupTargetBytes: Int
    public var createdBy: String
    public var dataPageVersion: ParquetDataPageVersion

    public init(compression: ParquetCompression = .zstd(level: 1), dictionary: Bool = true,
                dictionaryPageLimitBytes: Int = 1 << 20, pageTargetBytes: Int = 1 << 20,
                rowGroupTargetBytes: Int = 128 << 20, createdBy: String = ParquetWriterOptions.defaultCreatedBy,
                dataPageVersion: ParquetDataPageVersion = .v1) {
        self.dataPageVersion = dataPageVersion
        self.compression = compression
        self.dictionary = dictionary
        self.dictionaryPageLimitBytes = dictionaryPageLimitBytes
        self.pageTargetBytes = pageTargetBytes
        self.rowGroupTargetBytes = rowGroupTargetBytes
        self.createdBy = createdBy
    }
}

/// Where a ParquetWriter's bytes go, in order.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Collects a file in memory (the trends files are small; the storage target uploads them whole).
public final class MemoryByteSink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ b: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: b) }
}

public struct ParquetIOError: Error, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    public init(_ operation: String, path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }
    public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

/// Writes straight to a new file (for large files such as benchmarks and offline exports).
public final class FileByteSink: ByteSink {
    public let path: String
    private var fd: Int32

    /// Creates `path`; fails if it exists.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw ParquetIOError("open", path: path) }
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    public func write(_ b: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < b.count {
            let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw ParquetIOError("write", path: path)
            }
            off += n
        }
    }

    /// fsync, then close.
    public func close(sync: Bool = true) throws {
        guard fd >= 0 else { return }
        defer { _ = Glibc.close(fd); fd = -1 }
        if sync && fsync(fd) != 0 { throw ParquetIOError("fsync", path: path) }
    }
}

public struct ParquetWriterError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Streams row batches into a Parquet file: `PAR1`, row groups (per column: dictionary page, data pages
/// v1), Thrift footer, footer length, `PAR1`. Not thread-safe; one writer per file.
public final class ParquetWriter {
    public let schema: ParquetSchema
    public let options: ParquetWriterOptions
    private let sink: any ByteSink
    private let columns: [ColumnChunkWriter]
    private var position: Int64 = 0
    private var rowGroups: [ParquetRowGroupInfo] = []
    private var rowGroupRows = 0
    private var closed = false
    /// Rows written so far, including buffered ones.
    public private(set) var rowCount: Int64 = 0

    /// Rows per step between row-group size checks: a batch larger than this is split, so row groups
    /// follow the byte target even for one huge batch.
    private static let rowGroupCheckRows = 16_384

    public init(schema: ParquetSchema, options: ParquetWriterOptions = ParquetWriterOptions(), sink: any ByteSink) throws {
        guard !schema.columns.isEmpty else { throw ParquetWriterError("schema has no columns") }
        var seen = Set<String>()
        for c in schema.columns {
            guard !c.name.isEmpty, seen.insert(c.name).inserted else {
                throw ParquetWriterError("column names must be unique and non-empty: '\(c.name)'")
            }
            switch (c.logical, c.type) {
            case (.string?, .byteArray), (.timestampMillisUTC?, .int64), (nil, _): break
            default: throw ParquetWriterError("column \(c.name): \(String(describing: c.logical)) needs another physical type")
            }
        }
        self.schema = schema
        self.options = options
        self.sink = sink
        columns = schema.columns.map { ColumnChunkWriter(column: $0, options: options) }
        try emit(Array("PAR1".utf8))
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try sink.write($0) }
        position += Int64(bytes.count)
    }

    /// Appends rows: one entry per schema column, all with the same row count.
    public func write(_ batch: [ParquetColumnData]) throws {
        guard !closed else { throw ParquetWriterError("writer is closed") }
        guard batch.count == columns.count else {
            throw ParquetWriterError("batch has \(batch.count) columns, schema has \(columns.count)")
        }
        let rows = batch[0].rowCount
        for (i, d) in batch.enumerated() {
            let c = schema.columns[i]
            guard d.values.physicalType == c.type else {
                throw ParquetWriterError("column \(c.name): values are \(d.values.physicalType), schema says \(c.type)")
            }
            guard d.rowCount == rows else {
                throw ParquetWriterError("column \(c.name) has \(d.rowCount) rows, column 0 has \(rows)")
            }
            if let runs = d.runLengths {
                guard runs.count == d.values.count, runs.allSatisfy({ $0 >= 0 }) else {
                    throw ParquetWriterError("column \(c.name): \(runs.count) run lengths (all >= 0) for \(d.values.count) values")
                }
            }
            if let v = d.validity {
                guard c.repetition == .optional else { throw ParquetWriterError("column \(c.name) is REQUIRED but has nulls") }
                var present = 0
                for b in v where b { present += 1 }
                guard present == d.values.count else {
                    throw ParquetWriterError("column \(c.name): \(present) valid rows but \(d.values.count) values")
                }
            }
        }
        var cursors = [ColumnCursor](repeating: ColumnCursor(), count: columns.count)
        var r = 0
        while r < rows {
            let end = min(rows, r + ParquetWriter.rowGroupCheckRows)
            for (i, col) in columns.enumerated() {
                col.append(batch[i], rows: r..<end, cursor: &cursors[i])
            }
            rowGroupRows += end - r
            rowCount += Int64(end - r)
            r = end
            try checkFailure()
            if columns.reduce(0, { $0 + $1.estimatedBytes }) >= options.rowGroupTargetBytes {
                try flushRowGroup()
            }
        }
    }

    private func checkFailure() throws {
        if let f = columns.lazy.compactMap(\.failure).first {
            closed = true
            throw ParquetWriterError("page compression failed, the file is unusable: \(f)")
        }
    }

    /// Ends the current row group now (no-op when it is empty).
    public func flushRowGroup() throws {
        guard rowGroupRows > 0 else { return }
        var infos: [ParquetColumnChunkInfo] = []
        var total: Int64 = 0
        for col in columns {
            let (info, parts) = try col.finishChunk(offset: position)
            try checkFailure()
            for p in parts { try emit(p) }
            total += info.totalUncompressedSize
            infos.append(info)
            col.reset()
        }
        rowGroups.append(ParquetRowGroupInfo(columns: infos, numRows: Int64(rowGroupRows), totalByteSize: total))
        rowGroupRows = 0
    }

    /// Flushes, writes the footer with `keyValueMetadata` (sorted by key) and the trailer. Returns the footer
    /// as written, so callers can keep statistics without re-reading the file.
    @discardableResult
    public func close(keyValueMetadata: [String: String] = [:]) throws -> ParquetFileMetadata {
        guard !closed else { throw ParquetWriterError("writer is already closed") }
        try flushRowGroup()
        closed = true
        let kv = keyValueMetadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        let footer = ParquetThrift.encodeFileMetadata(schema: schema, rowGroups: rowGroups, numRows: rowCount,
                                                      keyValueMetadata: kv, createdBy: options.createdBy)
        var trailer = footer
        let len = UInt32(footer.count)
        for k in 0..<4 { trailer.append(UInt8(truncatingIfNeeded: len >> (8 * UInt32(k)))) }
        trailer.append(contentsOf: "PAR1".utf8)
        try emit(trailer)
        return ParquetFileMetadata(version: 2, numRows: rowCount, rowGroups: rowGroups,
                                   keyValueMetadata: kv.map { ($0.key, Optional($0.value)) },
                                   createdBy: options.createdBy, columnNames: schema.columns.map(\.name))
    }
}

// MARK: - Column chunks

/// Fixed-width physical values, handled through their 64-bit pattern so one dictionary serves all.
protocol ParquetFixedValue {
    static var byteWidth: Int { get }
    static var isFloatingPoint: Bool { get }
    var key: UInt64 { get }
}

extension Int32: ParquetFixedValue {
    static var byteWidth: Int { 4 }
    static var isFloatingPoint: Bool { false }
    @inline(__always) var key: UInt64 { UInt64(UInt32(bitPattern: self)) }
}

extension Int64: ParquetFixedValue {
    static var byteWidth: Int { 8 }
    static var isFloatingPoint: Bool { false }
    @inline(__always) var key: UInt64 { UInt64(bitPattern: self) }
}

extension Double: ParquetFixedValue {
    static var byteWidth: Int { 8 }
    static var isFloatingPoint: Bool { true }
    @inline(__always) var key: UInt64 { bitPattern }
}

/// Where a column's next value is in a batch: the value index, and for run-length input the rows of
/// that value's run already written.
struct ColumnCursor {
    var value = 0
    var inRun = 0
}

/// One column chunk in the making. The state touched per run of values is marked
/// `@exclusivity(unchecked)`: the writer is single-threaded and never holds two accesses to one property
/// at once, so the runtime checks (a call each, per access) would only cost time.
final class ColumnChunkWriter {
    let column: ParquetColumn
    private let optional: Bool
    private let pageTarget: Int
    private let dictionaryLimit: Int
    private let dictionaryEnabled: Bool
    private let compressor: PageCompressor

    @exclusivity(unchecked) private var fixedDict = FixedDictionary()
    @exclusivity(unchecked) private var bytesDict = BytesDictionary()
    @exclusivity(unchecked) private var dictActive: Bool
    @exclusivity(unchecked) private var indices: [UInt32] = []
    @exclusivity(unchecked) private var plain: [UInt8] = []
    @exclusivity(unchecked) private var defLevels: [UInt32] = []
    @exclusivity(unchecked) private var pageRows = 0
    /// Per-run scratch (`checkEvery` entries): hashed keys, and indices before they join the page.
    private let keyScratch = UnsafeMutablePointer<BytesDictionary.Key>.allocate(capacity: ColumnChunkWriter.checkEvery)
    private let indexScratch = UnsafeMutablePointer<UInt32>.allocate(capacity: ColumnChunkWriter.checkEvery)

    /// Finished pages (header + body), one array each: no regrowing copies of a whole chunk.
    private var dataPages: [[UInt8]] = []
    /// Page buffers of the previous row group, reused so their memory is not faulted in again.
    private var pagePool: [[UInt8]] = []
    private var body: [UInt8] = []
    private var levelBytes: [UInt8] = []
    private let pageVersion: ParquetDataPageVersion
    /// A page that could not be compressed; the writer reports it and refuses to go on.
    private(set) var failure: Error?
    private var compressed: [UInt8] = []
    private var chunkUncompressed = 0
    private var chunkCompressed = 0
    private var dictPageCount = 0
    private var plainPageCount = 0
    @exclusivity(unchecked) private var chunkRows = 0
    @exclusivity(unchecked) private var nullCount = 0
    @exclusivity(unchecked) private var nanCount = 0
    // Statistics of values written PLAIN (dictionary entries are scanned at the end instead).
    @exclusivity(unchecked) private var plainMin: UInt64 = 0
    @exclusivity(unchecked) private var plainMax: UInt64 = 0
    @exclusivity(unchecked) private var plainHasStats = false
    @exclusivity(unchecked) private var plainMinBytes: [UInt8]?
    @exclusivity(unchecked) private var plainMaxBytes: [UInt8]?

    init(column: ParquetColumn, options: ParquetWriterOptions) {
        self.column = column
        optional = column.repetition == .optional
        pageTarget = max(1, options.pageTargetBytes)
        dictionaryLimit = options.dictionaryPageLimitBytes
        dictionaryEnabled = options.dictionary
        dictActive = options.dictionary
        compressor = PageCompressor(options.compression)
        pageVersion = options.dataPageVersion
        fixedDict.maxCount = dictionaryLimit / max(byteWidth, 1)
        bytesDict.maxPlainSize = dictionaryLimit
    }

    private var byteWidth: Int {
        switch column.type {
        case .int32: return 4
        case .int64, .double: return 8
        case .byteArray: return 0
        }
    }

    private var dictCount: Int { column.type == .byteArray ? bytesDict.count : fixedDict.count }
    private var dictPlainSize: Int {
        column.type == .byteArray ? bytesDict.plainSize : fixedDict.count * byteWidth
    }

    private var pageEstimate: Int {
        let levels = defLevels.count / 8
        if dictActive {
            return levels + (indices.count * max(1, parquetBitWidth(UInt32(max(dictCount, 1))))) / 8
        }
        return levels + plain.count
    }

    /// Encoded size of the buffered row group part of this column (for row-group sizing).
    var estimatedBytes: Int { chunkCompressed + pageEstimate + (dictActive ? dictPlainSize : 0) }

    /// Appends rows `rows` of `data`, taking values from `cursor` on and advancing it.
    func append(_ data: ParquetColumnData, rows: Range<Int>, cursor: inout ColumnCursor) {
        if let runs = data.runLengths {
            switch data.values {
            case .int32(let v): v.withUnsafeBufferPointer { appendFixedRuns($0, runs, rows.count, &cursor) }
            case .int64(let v): v.withUnsafeBufferPointer { appendFixedRuns($0, runs, rows.count, &cursor) }
            case .double(let v): v.withUnsafeBufferPointer { appendFixedRuns($0, runs, rows.count, &cursor) }
            case .byteArray(let v): appendBytesRuns(v, runs, rows.count, &cursor)
            }
            return
        }
        let first = cursor.value
        switch data.values {
        case .int32(let v): cursor.value = v.withUnsafeBufferPointer { appendFixed($0, data.validity, rows, first) }
        case .int64(let v): cursor.value = v.withUnsafeBufferPointer { appendFixed($0, data.validity, rows, first) }
        case .double(let v): cursor.value = v.withUnsafeBufferPointer { appendFixed($0, data.validity, rows, first) }
        case .byteArray(let v): cursor.value = appendBytes(v, data.validity, rows, first)
        }
    }

    /// Walks run-length input (`ParquetColumnData.runLengths`) in pieces of at most `checkEvery` rows, so
    /// pages still close near their byte target when one value covers many rows.
    @inline(__always)
    private static func forEachRunPiece(_ runs: [Int32], rows: Int, _ cursor: inout ColumnCursor,
                                        _ body: (_ value: Int, _ count: Int) -> Void) {
        var left = rows
        runs.withUnsafeBufferPointer { runs in
            while left > 0 {
                let runLength = Int(runs[cursor.value])
                let n = min(left, runLength - cursor.inRun, checkEvery)
                if n > 0 {
                    body(cursor.value, n)
                    cursor.inRun += n
                    left -= n
                }
                if cursor.inRun == runLength {
                    cursor.value += 1
                    cursor.inRun = 0
                }
            }
        }
    }

    private func appendFixedRuns<T: ParquetFixedValue>(_ values: UnsafeBufferPointer<T>, _ runs: [Int32], _ rows: Int,
                                                       _ cursor: inout ColumnCursor) {
        chunkRows += rows
        if dictActive {
            // The values these rows take, so their dictionary slots can be touched up front.
            var end = cursor.value
            var covered = -cursor.inRun
            runs.withUnsafeBufferPointer { runs in
                while covered < rows && end < runs.count {
                    covered += Int(runs[end])
                    end += 1
                }
            }
            fixedDict.touch(values, cursor.value..<end)
        }
        var lastKey = ~(values.first?.key ?? 0)
        var lastIndex: UInt32 = 0
        Self.forEachRunPiece(runs, rows: rows, &cursor) { v, n in
            let key = values[v].key
            pageRows += n
            let nan = T.isFloatingPoint && Self.isNaN(key)
            if nan { nanCount += n }
            if dictActive {
                var inserted = false
                if key != lastKey {
                    lastIndex = fixedDict.index(of: key, inserted: &inserted)
                    lastKey = key
                }
                Self.appendRepeated(lastIndex, n, to: &indices)
                if inserted && fixedDict.count * T.byteWidth > dictionaryLimit {
                    finishPage()
                    dictActive = false
                    return
                }
            } else {
                let base = plain.count
                plain.append(contentsOf: repeatElement(0, count: n * T.byteWidth))
                plain.withUnsafeMutableBytes { out in
                    for k in 0..<n {
                        if T.byteWidth == 4 {
                            out.storeBytes(of: UInt32(truncatingIfNeeded: key).littleEndian, toByteOffset: base + 4 * k, as: UInt32.self)
                        } else {
                            out.storeBytes(of: key.littleEndian, toByteOffset: base + 8 * k, as: UInt64.self)
                        }
                    }
                }
                if !nan {
                    if !plainHasStats {
                        (plainMin, plainMax, plainHasStats) = (key, key, true)
                    } else {
                        if Self.less(key, plainMin, T.self) { plainMin = key }
                        if Self.less(plainMax, key, T.self) { plainMax = key }
                    }
                }
            }
            if pageEstimate >= pageTarget { finishPage() }
        }
    }

    private func appendBytesRuns(_ values: ParquetByteArrays, _ runs: [Int32], _ rows: Int, _ cursor: inout ColumnCursor) {
        chunkRows += rows
        values.bytes.withUnsafeBytes { all in
            let base = all.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!
            Self.forEachRunPiece(runs, rows: rows, &cursor) { v, n in
                let s = values.start(v)
                let p = UnsafeRawBufferPointer(start: base + s, count: values.ends[v] - s)
                pageRows += n
                if dictActive {
                    var inserted = false
                    let idx = bytesDict.index(of: base + s, count: p.count, inserted: &inserted)
                    Self.appendRepeated(idx, n, to: &indices)
                    if inserted && bytesDict.plainSize > dictionaryLimit {
                        finishPage()
                        dictActive = false
                        return
                    }
                } else {
                    for _ in 0..<n {
                        withUnsafeBytes(of: UInt32(p.count).littleEndian) { plain.append(contentsOf: $0) }
                        plain.append(contentsOf: p)
                    }
                    if let mn = plainMinBytes, let mx = plainMaxBytes {
                        if mn.withUnsafeBytes({ Self.compareBytes(p, $0) }) < 0 { plainMinBytes = Array(p) }
                        if mx.withUnsafeBytes({ Self.compareBytes(p, $0) }) > 0 { plainMaxBytes = Array(p) }
                    } else {
                        plainMinBytes = Array(p)
                        plainMaxBytes = Array(p)
                    }
                }
                if pageEstimate >= pageTarget { finishPage() }
            }
        }
    }

    @inline(__always)
    private static func appendRepeated(_ index: UInt32, _ n: Int, to indices: inout [UInt32]) {
        indices.append(contentsOf: repeatElement(index, count: n))
    }

    /// Rows per step of the per-value loops (page size and dictionary limit are checked between steps).
    private static let checkEvery = 512

    deinit {
        keyScratch.deallocate()
        indexScratch.deallocate()
    }

    @inline(__always)
    private static func isNaN(_ key: UInt64) -> Bool {
        key & 0x7FF0_0000_0000_0000 == 0x7FF0_0000_0000_0000 && key & 0x000F_FFFF_FFFF_FFFF != 0
    }

    @inline(__always)
    private static func less<T: ParquetFixedValue>(_ a: UInt64, _ b: UInt64, _: T.Type) -> Bool {
        if T.isFloatingPoint { return Double(bitPattern: a) < Double(bitPattern: b) }
        if T.byteWidth == 4 { return Int32(truncatingIfNeeded: a) < Int32(truncatingIfNeeded: b) }
        return Int64(bitPattern: a) < Int64(bitPattern: b)
    }

    /// What one run of the hot loop did.
    private struct RunResult {
        var rows = 0
        var values = 0
        var nulls = 0
        var nans = 0
        /// The dictionary passed its limit with the last row: close the page, continue PLAIN.
        var overflow = false
    }

    /// The per-value loop. Static, with the buffers passed inout, so the class's properties are accessed
    /// once per run rather than once per value (each class property access is a dynamic exclusivity check).
    private static func encodeFixedRun<T: ParquetFixedValue>(
        _ values: UnsafeBufferPointer<T>, _ firstValue: Int, _ validity: UnsafeBufferPointer<Bool>?,
        _ rows: Range<Int>, optional: Bool, dictionary: Bool, dictionaryLimit: Int,
        dict: inout FixedDictionary, indices: inout [UInt32], plain: inout [UInt8], levels: inout [UInt32],
        stats: inout (min: UInt64, max: UInt64, has: Bool), scratch: UnsafeMutablePointer<UInt32>
    ) -> RunResult {
        var res = RunResult()
        var vi = firstValue
        if dictionary && validity == nil && !optional {
            // Fast path (REQUIRED, dictionary): indices written through a pointer, and a repeat of the
            // previous value (window bounds repeat for a whole window) skips the hash lookup.
            // Indices go to the scratch buffer, then to the page in one copy.
            var lastKey = values[vi].key &+ 1
            var lastIndex: UInt32 = 0
            var o = 0
            for _ in rows {
                let key = values[vi].key
                vi &+= 1
                if T.isFloatingPoint && isNaN(key) { res.nans += 1 }
                if key != lastKey {
                    var inserted = false
                    lastIndex = dict.index(of: key, inserted: &inserted)
                    lastKey = key
                    scratch[o] = lastIndex
                    o &+= 1
                    if inserted && dict.count * T.byteWidth > dictionaryLimit {
                        res.overflow = true
                        break
                    }
                } else {
                    scratch[o] = lastIndex
                    o &+= 1
                }
            }
            indices.append(contentsOf: UnsafeBufferPointer(start: scratch, count: o))
            res.rows = o
            res.values = vi - firstValue
            return res
        }
        if !dictionary && validity == nil && !optional {
            // Fast path (REQUIRED, PLAIN): little-endian stores straight into the page buffer.
            let base = plain.count
            plain.append(contentsOf: repeatElement(0, count: rows.count * T.byteWidth))
            var st = stats
            plain.withUnsafeMutableBytes { out in
                var o = base
                for _ in rows {
                    let key = values[vi].key
                    vi += 1
                    if T.byteWidth == 4 {
                        out.storeBytes(of: UInt32(truncatingIfNeeded: key).littleEndian, toByteOffset: o, as: UInt32.self)
                    } else {
                        out.storeBytes(of: key.littleEndian, toByteOffset: o, as: UInt64.self)
                    }
                    o += T.byteWidth
                    if T.isFloatingPoint && isNaN(key) {
                        res.nans += 1
                        continue
                    }
                    // Branches, not conditional moves: new extremes are rare after the first values, and
                    // a conditional move chains every iteration to the previous one's compare.
                    if _slowPath(!st.has) {
                        st = (key, key, true)
                    } else {
                        if _slowPath(less(key, st.min, T.self)) { st.min = key }
                        if _slowPath(less(st.max, key, T.self)) { st.max = key }
                    }
                }
            }
            stats = st
            res.rows = rows.count
            res.values = rows.count
            return res
        }
        for row in rows {
            res.rows += 1
            if let validity {
                if !validity[row] {
                    levels.append(0)
                    res.nulls += 1
                    continue
                }
            }
            if optional { levels.append(1) }
            let key = values[vi].key
            vi += 1
            let nan = T.isFloatingPoint && isNaN(key)
            if nan { res.nans += 1 }
            if dictionary {
                var inserted = false
                indices.append(dict.index(of: key, inserted: &inserted))
                if inserted && dict.count * T.byteWidth > dictionaryLimit {
                    res.overflow = true
                    break
                }
            } else {
                withUnsafeBytes(of: key.littleEndian) { plain.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<T.byteWidth])) }
                if !nan {
                    if !stats.has {
                        stats = (key, key, true)
                    } else {
                        if less(key, stats.min, T.self) { stats.min = key }
                        if less(stats.max, key, T.self) { stats.max = key }
                    }
                }
            }
        }
        res.values = vi - firstValue
        return res
    }

    private func appendFixed<T: ParquetFixedValue>(_ values: UnsafeBufferPointer<T>, _ validity: [Bool]?,
                                                   _ rows: Range<Int>, _ firstValue: Int) -> Int {
        var vi = firstValue
        var r = rows.lowerBound
        chunkRows += rows.count
        var stats = (min: plainMin, max: plainMax, has: plainHasStats)
        let run = { (validity: UnsafeBufferPointer<Bool>?) in
            while r < rows.upperBound {
                let end = min(rows.upperBound, r + ColumnChunkWriter.checkEvery)
                let res = ColumnChunkWriter.encodeFixedRun(
                    values, vi, validity, r..<end, optional: self.optional, dictionary: self.dictActive,
                    dictionaryLimit: self.dictionaryLimit, dict: &self.fixedDict, indices: &self.indices,
                    plain: &self.plain, levels: &self.defLevels, stats: &stats, scratch: self.indexScratch)
                vi += res.values
                r += res.rows
                self.pageRows += res.rows
                self.nullCount += res.nulls
                self.nanCount += res.nans
                if res.overflow {
                    self.finishPage()
                    self.dictActive = false
                } else if self.pageEstimate >= self.pageTarget {
                    self.finishPage()
                }
            }
        }
        if let validity { validity.withUnsafeBufferPointer { run($0) } } else { run(nil) }
        (plainMin, plainMax, plainHasStats) = stats
        return vi
    }

    @inline(__always)
    private static func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0 {
            let c = memcmp(a.baseAddress!, b.baseAddress!, n)
            if c != 0 { return Int(c) }
        }
        return a.count - b.count
    }

    private static func encodeBytesRun(
        _ all: UnsafeRawBufferPointer, _ ends: UnsafeBufferPointer<Int>, _ firstValue: Int,
        _ validity: UnsafeBufferPointer<Bool>?, _ rows: Range<Int>, optional: Bool, dictionary: Bool,
        dictionaryLimit: Int, dict: inout BytesDictionary, indices: inout [UInt32], plain: inout [UInt8],
        levels: inout [UInt32], minBytes: inout [UInt8]?, maxBytes: inout [UInt8]?,
        keyScratch: UnsafeMutablePointer<BytesDictionary.Key>, indexScratch: UnsafeMutablePointer<UInt32>
    ) -> RunResult {
        var res = RunResult()
        var vi = firstValue
        // A non-null pointer for empty values (the dictionary hashes and copies zero bytes from it).
        let base = all.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!
        if dictionary && validity == nil && !optional {
            // Pass 1: hash every value and touch its slot (the misses overlap); pass 2: the lookups, into
            // the scratch buffer, then to the page in one copy.
            let keys = UnsafeMutableBufferPointer(start: keyScratch, count: rows.count)
            var v = vi
            for j in 0..<rows.count {
                let s = v == 0 ? 0 : ends[v &- 1]
                keys[j] = BytesDictionary.key(base + s, ends[v] &- s, readable: all.count &- s)
                v &+= 1
            }
            dict.touch(keys)
            var o = 0
            for j in 0..<rows.count {
                let s = vi == 0 ? 0 : ends[vi &- 1]
                let n = ends[vi] &- s
                vi &+= 1
                var inserted = false
                indexScratch[o] = dict.index(of: base + s, count: n, key: keys[j], inserted: &inserted)
                o &+= 1
                if inserted && dict.plainSize > dictionaryLimit {
                    res.overflow = true
                    break
                }
            }
            indices.append(contentsOf: UnsafeBufferPointer(start: indexScratch, count: o))
            res.rows = o
            res.values = vi - firstValue
            return res
        }
        for row in rows {
            res.rows += 1
            if let validity {
                if !validity[row] {
                    levels.append(0)
                    res.nulls += 1
                    continue
                }
            }
            if optional { levels.append(1) }
            let s = vi == 0 ? 0 : ends[vi - 1]
            let n = ends[vi] - s
            vi += 1
            if dictionary {
                var inserted = false
                indices.append(dict.index(of: base + s, count: n, inserted: &inserted))
                if inserted && dict.plainSize > dictionaryLimit {
                    res.overflow = true
                    break
                }
            } else {
                let p = UnsafeRawBufferPointer(start: base + s, count: n)
                withUnsafeBytes(of: UInt32(n).littleEndian) { plain.append(contentsOf: $0) }
                plain.append(contentsOf: p)
                if let mn = minBytes, let mx = maxBytes {
                    if mn.withUnsafeBytes({ compareBytes(p, $0) }) < 0 { minBytes = Array(p) }
                    if mx.withUnsafeBytes({ compareBytes(p, $0) }) > 0 { maxBytes = Array(p) }
                } else {
                    minBytes = Array(p)
                    maxBytes = Array(p)
                }
            }
        }
        res.values = vi - firstValue
        return res
    }

    private func appendBytes(_ values: ParquetByteArrays, _ validity: [Bool]?, _ rows: Range<Int>,
                             _ firstValue: Int) -> Int {
        var vi = firstValue
        var r = rows.lowerBound
        chunkRows += rows.count
        var mn = plainMinBytes
        var mx = plainMaxBytes
        plainMinBytes = nil
        plainMaxBytes = nil
        values.bytes.withUnsafeBytes { all in
            values.ends.withUnsafeBufferPointer { ends in
                let run = { (validity: UnsafeBufferPointer<Bool>?) in
                    while r < rows.upperBound {
                        let end = min(rows.upperBound, r + ColumnChunkWriter.checkEvery)
                        let res = ColumnChunkWriter.encodeBytesRun(
                            all, ends, vi, validity, r..<end, optional: self.optional, dictionary: self.dictActive,
                            dictionaryLimit: self.dictionaryLimit, dict: &self.bytesDict, indices: &self.indices,
                            plain: &self.plain, levels: &self.defLevels, minBytes: &mn, maxBytes: &mx,
                            keyScratch: self.keyScratch, indexScratch: self.indexScratch)
                        vi += res.values
                        r += res.rows
                        self.pageRows += res.rows
                        self.nullCount += res.nulls
                        if res.overflow {
                            self.finishPage()
                            self.dictActive = false
                        } else if self.pageEstimate >= self.pageTarget {
                            self.finishPage()
                        }
                    }
                }
                if let validity { validity.withUnsafeBufferPointer { run($0) } } else { run(nil) }
            }
        }
        plainMinBytes = mn
        plainMaxBytes = mx
        return vi
    }

    /// Encodes, compresses and frames the buffered page. v1: levels (with length prefix) and values
    /// compressed together; v2: levels uncompressed and unprefixed, then the compressed values.
    private func finishPage() {
        guard pageRows > 0, failure == nil else { return }
        body.removeAll(keepingCapacity: true)
        levelBytes.removeAll(keepingCapacity: true)
        var nulls = 0
        if optional {
            if pageVersion == .v1 {
                RLEHybrid.encodeDefinitionLevels(defLevels, into: &body)
            } else {
                defLevels.withUnsafeBufferPointer { RLEHybrid.encode($0, bitWidth: 1, into: &levelBytes) }
                for l in defLevels where l == 0 { nulls += 1 }
            }
        }
        let encoding: Int32
        if dictActive && dictCount > 0 {
            let width = parquetBitWidth(UInt32(dictCount - 1))
            body.append(UInt8(width))
            indices.withUnsafeBufferPointer { RLEHybrid.encode($0, bitWidth: width, into: &body) }
            encoding = ParquetThrift.encodingRLEDictionary
            dictPageCount += 1
        } else {
            body.append(contentsOf: plain)
            encoding = ParquetThrift.encodingPlain
            plainPageCount += 1
        }
        var payload = body
        if compressor.codec != .uncompressed {
            compressed.removeAll(keepingCapacity: true)
            do {
                _ = try compressor.compress(body, appendingTo: &compressed)
            } catch {
                failure = error
                return
            }
            payload = compressed
        }
        var page = pagePool.popLast() ?? []
        page.removeAll(keepingCapacity: true)
        page.reserveCapacity(levelBytes.count + payload.count + 48)
        let uncompressedSize = levelBytes.count + body.count
        let compressedSize = levelBytes.count + payload.count
        switch pageVersion {
        case .v1:
            ParquetThrift.encodeDataPageHeader(uncompressed: uncompressedSize, compressed: compressedSize,
                                               numValues: pageRows, encoding: encoding, into: &page)
        case .v2:
            ParquetThrift.encodeDataPageHeaderV2(uncompressed: uncompressedSize, compressed: compressedSize,
                                                 numValues: pageRows, numNulls: nulls, encoding: encoding,
                                                 levelsLength: levelBytes.count,
                                                 compressed: compressor.codec != .uncompressed, into: &page)
        }
        let header = page.count
        page.append(contentsOf: levelBytes)
        page.append(contentsOf: payload)
        chunkUncompressed += header + uncompressedSize
        chunkCompressed += header + compressedSize
        dataPages.append(page)
        indices.removeAll(keepingCapacity: true)
        plain.removeAll(keepingCapacity: true)
        defLevels.removeAll(keepingCapacity: true)
        pageRows = 0
    }

    private func fixedStats<T: ParquetFixedValue>(_: T.Type) -> ParquetStatistics {
        var has = plainHasStats
        var mn = plainMin
        var mx = plainMax
        if dictPageCount > 0 {
            for k in fixedDict.keys where !(T.isFloatingPoint && ColumnChunkWriter.isNaN(k)) {
                if !has { mn = k; mx = k; has = true; continue }
                if Self.less(k, mn, T.self) { mn = k }
                if Self.less(mx, k, T.self) { mx = k }
            }
        }
        var stats = ParquetStatistics(nullCount: Int64(nullCount), nanCount: T.isFloatingPoint ? Int64(nanCount) : nil)
        guard has else { return stats }
        if T.isFloatingPoint {
            // parquet.thrift: a zero min is written as -0.0 and a zero max as +0.0, so either sign matches.
            if Double(bitPattern: mn) == 0 { mn = (-0.0 as Double).bitPattern }
            if Double(bitPattern: mx) == 0 { mx = (0.0 as Double).bitPattern }
        }
        func le(_ k: UInt64) -> [UInt8] { (0..<T.byteWidth).map { UInt8(truncatingIfNeeded: k >> (8 * UInt64($0))) } }
        stats.min = le(mn)
        stats.max = le(mx)
        return stats
    }

    private func bytesStats() -> ParquetStatistics {
        var mn = plainMinBytes
        var mx = plainMaxBytes
        if dictPageCount > 0 {
            let d = bytesDict.values
            d.bytes.withUnsafeBytes { all in
                var minIdx = -1
                var maxIdx = -1
                func v(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: all[d.start(i)..<d.ends[i]]) }
                for i in 0..<d.count {
                    if minIdx < 0 || ColumnChunkWriter.compareBytes(v(i), v(minIdx)) < 0 { minIdx = i }
                    if maxIdx < 0 || ColumnChunkWriter.compareBytes(v(i), v(maxIdx)) > 0 { maxIdx = i }
                }
                if minIdx >= 0 {
                    if mn == nil || mn!.withUnsafeBytes({ ColumnChunkWriter.compareBytes(v(minIdx), $0) }) < 0 { mn = Array(v(minIdx)) }
                    if mx == nil || mx!.withUnsafeBytes({ ColumnChunkWriter.compareBytes(v(maxIdx), $0) }) > 0 { mx = Array(v(maxIdx)) }
                }
            }
        }
        return ParquetStatistics(min: mn, max: mx, nullCount: Int64(nullCount))
    }

    /// Closes the chunk: returns its metadata (offsets relative to the file, starting at `offset`) and the
    /// byte parts to write in order.
    func finishChunk(offset: Int64) throws -> (ParquetColumnChunkInfo, [[UInt8]]) {
        finishPage()
        var parts: [[UInt8]] = []
        var uncompressed = chunkUncompressed
        var compressedTotal = chunkCompressed
        var dictOffset: Int64?
        if dictPageCount > 0 {
            var dict: [UInt8] = []
            if column.type == .byteArray {
                let d = bytesDict.values
                dict.reserveCapacity(bytesDict.plainSize)
                for i in 0..<d.count {
                    let n = UInt32(d.ends[i] - d.start(i))
                    for k in 0..<4 { dict.append(UInt8(truncatingIfNeeded: n >> (8 * UInt32(k)))) }
                    dict.append(contentsOf: d.bytes[d.start(i)..<d.ends[i]])
                }
            } else {
                dict.reserveCapacity(fixedDict.count * byteWidth)
                for k in fixedDict.keys {
                    for b in 0..<byteWidth { dict.append(UInt8(truncatingIfNeeded: k >> (8 * UInt64(b)))) }
                }
            }
            var page: [UInt8] = []
            var payload = dict
            if compressor.codec != .uncompressed {
                payload = []
                _ = try compressor.compress(dict, appendingTo: &payload)
            }
            ParquetThrift.encodeDictionaryPageHeader(uncompressed: dict.count, compressed: payload.count,
                                                     numValues: dictCount, into: &page)
            uncompressed += page.count + dict.count
            compressedTotal += page.count + payload.count
            page.append(contentsOf: payload)
            dictOffset = offset
            parts.append(page)
        }
        let dataOffset = offset + Int64(parts.first?.count ?? 0)
        parts.append(contentsOf: dataPages)
        var encodings: [Int32] = []
        if dictPageCount > 0 || plainPageCount > 0 { encodings.append(ParquetThrift.encodingPlain) }
        encodings.append(ParquetThrift.encodingRLE)
        if dictPageCount > 0 { encodings.append(ParquetThrift.encodingRLEDictionary) }
        let stats: ParquetStatistics
        switch column.type {
        case .int32: stats = fixedStats(Int32.self)
        case .int64: stats = fixedStats(Int64.self)
        case .double: stats = fixedStats(Double.self)
        case .byteArray: stats = bytesStats()
        }
        var info = ParquetColumnChunkInfo(
            path: column.name, physicalType: column.type.rawValue, encodings: encodings,
            codec: compressor.thriftCodec, numValues: Int64(chunkRows), totalUncompressedSize: Int64(uncompressed),
            totalCompressedSize: Int64(compressedTotal), dataPageOffset: dataOffset, dictionaryPageOffset: dictOffset,
            statistics: stats)
        if dictPageCount > 0 {
            info.encodingStats.append((ParquetThrift.pageDictionary, ParquetThrift.encodingPlain, 1))
            info.encodingStats.append((dataPageType, ParquetThrift.encodingRLEDictionary, Int32(dictPageCount)))
        }
        if plainPageCount > 0 {
            info.encodingStats.append((dataPageType, ParquetThrift.encodingPlain, Int32(plainPageCount)))
        }
        return (info, parts)
    }

    private var dataPageType: Int32 { pageVersion == .v1 ? ParquetThrift.pageData : ParquetThrift.pageDataV2 }

    /// Starts a new chunk (next row group): dictionaries are per column chunk.
    func reset() {
        fixedDict.removeAll()
        bytesDict.removeAll()
        dictActive = dictionaryEnabled
        pagePool = dataPages
        dataPages.removeAll()
        chunkUncompressed = 0
        chunkCompressed = 0
        dictPageCount = 0
        plainPageCount = 0
        chunkRows = 0
        nullCount = 0
        nanCount = 0
        plainHasStats = false
        plainMinBytes = nil
        plainMaxBytes = nil
    }
}
