import Foundation
@testable import HashtrendCore


/// Test-side column values with nulls as nil.
enum TestValues {
    case int32([Int32?])
    case int64([Int64?])
    case double([Double?])
    case string([String?])

    var count: Int {
        switch self {
        case .int32(let v): return v.count
        case .int64(let v): return v.count
        case .double(let v): return v.count
        case .string(let v): return v.count
        }
    }

    /// The writer's dense form for rows `range`.
    func columnData(_ range: Range<Int>, optional: Bool) -> ParquetColumnData {
        func split<T>(_ v: [T?]) -> ([T], [Bool]) {
            let s = v[range]
            return (s.compactMap { $0 }, s.map { $0 != nil })
        }
        let values: ColumnValues
        let validity: [Bool]
        switch self {
        case .int32(let v): let (d, m) = split(v); values = .int32(d); validity = m
        case .int64(let v): let (d, m) = split(v); values = .int64(d); validity = m
        case .double(let v): let (d, m) = split(v); values = .double(d); validity = m
        case .string(let v): let (d, m) = split(v); values = .byteArray(ParquetByteArrays(d)); validity = m
        }
        return ParquetColumnData(values, validity: optional ? validity : nil)
    }

    /// The run-length form of rows `range`: one value per piece of `runs` (row counts) inside the range.
    /// The rows of a run must hold equal values.
    func runColumnData(_ range: Range<Int>, runs: [Int32]) -> ParquetColumnData {
        var starts: [Int] = []
        var lengths: [Int32] = []
        var row = 0
        for n in runs {
            let lo = max(row, range.lowerBound), hi = min(row + Int(n), range.upperBound)
            if hi > lo || (n == 0 && range.contains(row)) {
                starts.append(lo)
                lengths.append(Int32(max(0, hi - lo)))
            }
            row += Int(n)
        }
        // A zero-length run points at the next row's value, or at any value when it is the last one.
        func pick<T>(_ v: [T?]) -> [T] { starts.map { v[min($0, v.count - 1)]! } }
        switch self {
        case .int32(let v): return ParquetColumnData(.int32(pick(v)), runLengths: lengths)
        case .int64(let v): return ParquetColumnData(.int64(pick(v)), runLengths: lengths)
        case .double(let v): return ParquetColumnData(.double(pick(v)), runLengths: lengths)
        case .string(let v): return ParquetColumnData(.byteArray(ParquetByteArrays(pick(v))), runLengths: lengths)
        }
    }

    func json() -> String {
        switch self {
        case .int32(let v): return "[" + v.map { $0.map { String($0) } ?? "null" }.joined(separator: ",") + "]"
        case .int64(let v): return "[" + v.map { $0.map { String($0) } ?? "null" }.joined(separator: ",") + "]"
        case .double(let v):
            return "[" + v.map { $0.map { "\"0x" + String($0.bitPattern, radix: 16).leftPadded(16) + "\"" } ?? "null" }
                .joined(separator: ",") + "]"
        case .string(let v): return "[" + v.map { $0.map(jsonString) ?? "null" }.joined(separator: ",") + "]"
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += "\\u" + String(u.value, radix: 16).leftPadded(4) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}

/// One Parquet file plus the expectations readback.py checks it against.
struct ParquetCase {
    var name: String
    var columns: [(ParquetColumn, TestValues)]
    var options = ParquetWriterOptions()
    /// Rows per `write` call (nil: one call).
    var batchRows: Int?
    /// Extra top-level JSON members, e.g. `"min_row_groups": 3`.
    var extraJSON: [String: String] = [:]
    var keyValueMetadata: [String: String] = [:]
    /// Columns handed to the writer in run-length form, with `runs` (row counts, summing to the row count).
    var runColumns: Set<String> = []
    var runs: [Int32] = []

    var rowCount: Int { columns.first?.1.count ?? 0 }

    /// Writes `<dir>/<name>.parquet` and `<dir>/<name>.expected.json`; returns the file's bytes.
    @discardableResult
    func write(to dir: URL) throws -> [UInt8] {
        let schema = ParquetSchema(columns.map { $0.0 })
        let sink = MemoryByteSink()
        let writer = try ParquetWriter(schema: schema, options: options, sink: sink)
        var r = 0
        let step = max(1, batchRows ?? rowCount)
        while r < rowCount {
            let end = min(rowCount, r + step)
            try writer.write(columns.map { c, v in
                runColumns.contains(c.name) ? v.runColumnData(r..<end, runs: runs)
                    : v.columnData(r..<end, optional: c.repetition == .optional)
            })
            r = end
        }
        try writer.close(keyValueMetadata: keyValueMetadata)
        try Data(sink.bytes).write(to: dir.appendingPathComponent(name + ".parquet"))
        try expectedJSON().write(to: dir.appendingPathComponent(name + ".expected.json"), atomically: true, encoding: .utf8)
        return sink.bytes
    }

    func expectedJSON() -> String {
        func physical(_ t: ParquetPhysicalType) -> String {
            switch t {
            case .int32: return "INT32"
            case .int64: return "INT64"
            case .double: return "DOUBLE"
            case .byteArray: return "BYTE_ARRAY"
            }
        }
        let cols = columns.map { c, _ in
            let logical: String
            switch c.logical {
            case .string?: logical = "\"string\""
            case .timestampMillisUTC?: logical = "\"timestamp_ms_utc\""
            case nil: logical = "null"
            }
            return "{\"name\":\(jsonString(c.name)),\"physical\":\"\(physical(c.type))\",\"logical\":\(logical),"
                + "\"repetition\":\"\(c.repetition == .optional ? "OPTIONAL" : "REQUIRED")\"}"
        }
        let values = columns.map { c, v in "\(jsonString(c.name)):\(v.json())" }
        let codec: String
        switch options.compression {
        case .uncompressed: codec = "UNCOMPRESSED"
        case .zstd: codec = "ZSTD"
        }
        var members = [
            "\"file\":\(jsonString(name + ".parquet"))",
            "\"num_rows\":\(rowCount)",
            "\"codec\":\"\(codec)\"",
            "\"created_by_prefix\":\"hashtrend version \"",
            "\"columns\":[\(cols.joined(separator: ","))]",
            "\"values\":{\(values.joined(separator: ","))}",
            "\"key_value_metadata\":{\(keyValueMetadata.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ","))}",
        ]
        for (k, v) in extraJSON { members.append("\(jsonString(k)):\(v)") }
        return "{" + members.joined(separator: ",") + "}\n"
    }
}

struct PythonResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The report's mismatches, or a parse failure as one entry.
    var mismatches: [String] {
        guard let data = stdout.split(separator: "\n").last.map({ Data($0.utf8) }),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let m = obj["mismatches"] as? [String] else { return ["unparseable report: \(stdout) \(stderr)"] }
        return m
    }
    var checks: Int {
        guard let data = stdout.split(separator: "\n").last.map({ Data($0.utf8) }),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return 0 }
        return obj["checks"] as? Int ?? 0
    }
}

enum ParquetTestEnv {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var python: String {
        if let p = ProcessInfo.processInfo.environment["HASHTREND_PYTHON"], !p.isEmpty { return p }
        return "python3"
    }

    static func tempDir(_ label: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("hashtrend-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Removes a test directory unless HASHTREND_KEEP_TEST_FILES is set (to inspect files with other readers).
    static func cleanup(_ dir: URL) {
        if ProcessInfo.processInfo.environment["HASHTREND_KEEP_TEST_FILES"] != nil {
            print("kept test files in \(dir.path)")
            return
        }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs tests/parquet/readback.py with `arguments`.
    static func readback(_ arguments: [String]) throws -> PythonResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, packageRoot.appendingPathComponent("tests/parquet/readback.py").path] + arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read before waiting so a large report cannot fill the pipe and deadlock.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return PythonResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                            stderr: String(decoding: e, as: UTF8.self))
    }
}

/// Walks a column chunk's pages with our own Thrift reader (tests page counts and header sizes).
struct PageWalk {
    var dictionaryPages = 0
    var dataPages = 0
    var values: Int64 = 0
    var encodings = Set<Int64>()

    init(file: [UInt8], chunk: ParquetColumnChunkInfo) throws {
        var pos = Int(chunk.dictionaryPageOffset ?? chunk.dataPageOffset)
        let end = pos + Int(chunk.totalCompressedSize)
        while pos < end {
            var r = ThriftCompactReader(file, position: pos)
            let h = try r.readStruct()
            guard let type = h[1]?.int, let compressed = h[3]?.int else { throw ParquetFormatError("bad page header") }
            if type == 2 {
                dictionaryPages += 1
            } else if type == 0 || type == 3 {
                let header = type == 0 ? h[5] : h[8]
                dataPages += 1
                values += header?[1]?.int ?? 0
                if let e = header?[type == 0 ? 2 : 4]?.int { encodings.insert(e) }
            }
            pos = r.position + Int(compressed)
        }
        if pos != end { throw ParquetFormatError("pages end at \(pos), chunk ends at \(end)") }
    }
}
