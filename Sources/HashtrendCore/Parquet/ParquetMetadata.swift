/// Column chunk statistics as stored in the footer: min/max in PLAIN encoding (little-endian numbers,
/// raw bytes for strings).
public struct ParquetStatistics: Sendable, Equatable {
    public var min: [UInt8]?
    public var max: [UInt8]?
    public var nullCount: Int64?
    public var nanCount: Int64?

    public init(min: [UInt8]? = nil, max: [UInt8]? = nil, nullCount: Int64? = nil, nanCount: Int64? = nil) {
        self.min = min
        self.max = max
        self.nullCount = nullCount
        self.nanCount = nanCount
    }
}

public struct ParquetColumnChunkInfo: Sendable, Equatable {
    public var path: String
    public var physicalType: Int32
    public var encodings: [Int32]
    public var codec: Int32
    public var numValues: Int64
    public var totalUncompressedSize: Int64
    public var totalCompressedSize: Int64
    public var dataPageOffset: Int64
    public var dictionaryPageOffset: Int64?
    public var statistics: ParquetStatistics?
    /// (page type, encoding, count) triples: lets readers see whether every data page is dictionary-encoded.
    var encodingStats: [(pageType: Int32, encoding: Int32, count: Int32)] = []

    public static func == (a: Self, b: Self) -> Bool {
        a.path == b.path && a.physicalType == b.physicalType && a.encodings == b.encodings && a.codec == b.codec
            && a.numValues == b.numValues && a.totalUncompressedSize == b.totalUncompressedSize
            && a.totalCompressedSize == b.totalCompressedSize && a.dataPageOffset == b.dataPageOffset
            && a.dictionaryPageOffset == b.dictionaryPageOffset && a.statistics == b.statistics
    }
}

public struct ParquetRowGroupInfo: Sendable, Equatable {
    public var columns: [ParquetColumnChunkInfo]
    public var numRows: Int64
    public var totalByteSize: Int64
}

/// The parts of a file's FileMetaData that Hashtrend reads back (recovery, tests, tools).
public struct ParquetFileMetadata: Sendable, Equatable {
    public var version: Int32
    public var numRows: Int64
    public var rowGroups: [ParquetRowGroupInfo]
    /// File-level key/value metadata, in file order.
    public var keyValueMetadata: [(key: String, value: String?)]
    public var createdBy: String?
    /// Leaf column names in schema order.
    public var columnNames: [String]

    public subscript(metadata key: String) -> String? {
        keyValueMetadata.first { $0.key == key }?.value ?? nil
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.version == b.version && a.numRows == b.numRows && a.rowGroups == b.rowGroups
            && a.keyValueMetadata.map { "\($0.key)=\($0.value ?? "")" } == b.keyValueMetadata.map { "\($0.key)=\($0.value ?? "")" }
            && a.createdBy == b.createdBy && a.columnNames == b.columnNames
    }
}

public struct ParquetFormatError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Thrift encoding (field ids from parquet.thrift)

enum ParquetThrift {
    static let encodingPlain: Int32 = 0
    static let encodingRLE: Int32 = 3
    static let encodingRLEDictionary: Int32 = 8
    static let pageData: Int32 = 0
    static let pageDictionary: Int32 = 2
    static let pageDataV2: Int32 = 3

    static func writeStatistics(_ w: inout ThriftCompactWriter, id: Int16, _ s: ParquetStatistics, legacy: Bool) {
        w.beginStruct(id)
        if legacy, let max = s.max, let min = s.min {
            // Deprecated min/max: signed order, so only meaningful (and only written) for numbers.
            w.binary(1, max)
            w.binary(2, min)
        }
        if let n = s.nullCount { w.i64(3, n) }
        if let max = s.max, let min = s.min {
            w.binary(5, max)
            w.binary(6, min)
        }
        if let n = s.nanCount { w.i64(9, n) }
        w.endStruct()
    }

    static func writeSchemaElement(_ w: inout ThriftCompactWriter, _ c: ParquetColumn) {
        w.beginNested()
        w.i32(1, c.type.rawValue)
        w.i32(3, c.repetition.rawValue)
        w.string(4, c.name)
        switch c.logical {
        case .string?:
            w.i32(6, 0)  // UTF8
            w.beginStruct(10)
            w.emptyStruct(1)  // StringType
            w.endStruct()
        case .timestampMillisUTC?:
            w.i32(6, 9)  // TIMESTAMP_MILLIS
            w.beginStruct(10)
            w.beginStruct(8)  // TimestampType
            w.bool(1, true)
            w.beginStruct(2)  // TimeUnit
            w.emptyStruct(1)  // MILLIS
            w.endStruct()
            w.endStruct()
            w.endStruct()
        case nil:
            break
        }
        w.endStruct()
    }

    static func writeColumnChunk(_ w: inout ThriftCompactWriter, _ c: ParquetColumnChunkInfo) {
        w.beginNested()
        w.i64(2, c.dictionaryPageOffset ?? c.dataPageOffset)
        w.beginStruct(3)
        w.i32(1, c.physicalType)
        w.listI32(2, c.encodings)
        w.listString(3, [c.path])
        w.i32(4, c.codec)
        w.i64(5, c.numValues)
        w.i64(6, c.totalUncompressedSize)
        w.i64(7, c.totalCompressedSize)
        w.i64(9, c.dataPageOffset)
        if let d = c.dictionaryPageOffset { w.i64(11, d) }
        if let s = c.statistics {
            writeStatistics(&w, id: 12, s, legacy: c.physicalType != ParquetPhysicalType.byteArray.rawValue)
        }
        if !c.encodingStats.isEmpty {
            w.listHeader(13, .structure, count: c.encodingStats.count)
            for e in c.encodingStats {
                w.beginNested()
                w.i32(1, e.pageType)
                w.i32(2, e.encoding)
                w.i32(3, e.count)
                w.endStruct()
            }
        }
        w.endStruct()
        w.endStruct()
    }

    static func encodeFileMetadata(schema: ParquetSchema, rowGroups: [ParquetRowGroupInfo], numRows: Int64,
                                   keyValueMetadata: [(key: String, value: String)], createdBy: String) -> [UInt8] {
        var w = ThriftCompactWriter(capacity: 1024 + rowGroups.count * schema.columns.count * 160)
        w.i32(1, 2)
        w.listHeader(2, .structure, count: schema.columns.count + 1)
        w.beginNested()
        w.string(4, "schema")
        w.i32(5, Int32(schema.columns.count))
        w.endStruct()
        for c in schema.columns { writeSchemaElement(&w, c) }
        w.i64(3, numRows)
        w.listHeader(4, .structure, count: rowGroups.count)
        var fileOffset: Int64 = 4
        for (ordinal, rg) in rowGroups.enumerated() {
            w.beginNested()
            w.listHeader(1, .structure, count: rg.columns.count)
            for c in rg.columns { writeColumnChunk(&w, c) }
            w.i64(2, rg.totalByteSize)
            w.i64(3, rg.numRows)
            if let first = rg.columns.first { fileOffset = first.dictionaryPageOffset ?? first.dataPageOffset }
            w.i64(5, fileOffset)
            w.i64(6, rg.columns.reduce(0) { $0 + $1.totalCompressedSize })
            if ordinal <= Int(Int16.max) {
                // i16 on the wire is a zigzag varint like i32, but its type id must say i16.
                w.i16(7, Int16(ordinal))
            }
            w.endStruct()
        }
        if !keyValueMetadata.isEmpty {
            w.listHeader(5, .structure, count: keyValueMetadata.count)
            for kv in keyValueMetadata {
                w.beginNested()
                w.string(1, kv.key)
                w.string(2, kv.value)
                w.endStruct()
            }
        }
        w.string(6, createdBy)
        w.listHeader(7, .structure, count: schema.columns.count)
        for _ in schema.columns {
            w.beginNested()
            w.emptyStruct(1)  // TYPE_ORDER
            w.endStruct()
        }
        w.finish()
        return w.out
    }

    static func encodeDataPageHeader(uncompressed: Int, compressed: Int, numValues: Int, encoding: Int32,
                                     into out: inout [UInt8]) {
        var w = ThriftCompactWriter(capacity: 32)
        w.i32(1, pageData)
        w.i32(2, Int32(uncompressed))
        w.i32(3, Int32(compressed))
        w.beginStruct(5)
        w.i32(1, Int32(numValues))
        w.i32(2, encoding)
        w.i32(3, encodingRLE)
        w.i32(4, encodingRLE)
        w.endStruct()
        w.finish()
        out.append(contentsOf: w.out)
    }

    static func encodeDataPageHeaderV2(uncompressed: Int, compressed: Int, numValues: Int, numNulls: Int,
                                       encoding: Int32, levelsLength: Int, compressed isCompressed: Bool,
                                       into out: inout [UInt8]) {
        var w = ThriftCompactWriter(capacity: 40)
        w.i32(1, pageDataV2)
        w.i32(2, Int32(uncompressed))
        w.i32(3, Int32(compressed))
        w.beginStruct(8)
        w.i32(1, Int32(numValues))
        w.i32(2, Int32(numNulls))
        w.i32(3, Int32(numValues))  // flat schema: one value slot per row
        w.i32(4, encoding)
        w.i32(5, Int32(levelsLength))
        w.i32(6, 0)
        w.bool(7, isCompressed)
        w.endStruct()
        w.finish()
        out.append(contentsOf: w.out)
    }

    static func encodeDictionaryPageHeader(uncompressed: Int, compressed: Int, numValues: Int,
                                           into out: inout [UInt8]) {
        var w = ThriftCompactWriter(capacity: 32)
        w.i32(1, pageDictionary)
        w.i32(2, Int32(uncompressed))
        w.i32(3, Int32(compressed))
        w.beginStruct(7)
        w.i32(1, Int32(numValues))
        w.i32(2, encodingPlain)
        w.endStruct()
        w.finish()
        out.append(contentsOf: w.out)
    }
}

// MARK: - Reading footers back

public enum ParquetFooter {
    /// Length of the trailer: 4-byte footer length + "PAR1".
    public static let trailerLength = 8

    /// Parses a whole file's bytes (or any suffix of it that contains the complete footer and trailer).
    public static func read(fileTail bytes: [UInt8]) throws -> ParquetFileMetadata {
        let n = bytes.count
        guard n >= 8, bytes[(n - 4)...].elementsEqual("PAR1".utf8) else {
            throw ParquetFormatError("missing PAR1 trailer")
        }
        let len = Int(UInt32(bytes[n - 8]) | UInt32(bytes[n - 7]) << 8 | UInt32(bytes[n - 6]) << 16
                      | UInt32(bytes[n - 5]) << 24)
        guard len <= n - 8 else { throw ParquetFormatError("footer length \(len) exceeds the bytes given") }
        return try parse(footer: Array(bytes[(n - 8 - len)..<(n - 8)]))
    }

    /// Parses the Thrift FileMetaData struct.
    public static func parse(footer: [UInt8]) throws -> ParquetFileMetadata {
        var r = ThriftCompactReader(footer)
        let fm = try r.readStruct()
        guard let version = fm[1]?.int, let numRows = fm[3]?.int else {
            throw ParquetFormatError("FileMetaData lacks version or num_rows")
        }
        let schema = fm[2]?.list ?? []
        let names = schema.dropFirst().compactMap { $0[4]?.string }
        var groups: [ParquetRowGroupInfo] = []
        for rg in fm[4]?.list ?? [] {
            var cols: [ParquetColumnChunkInfo] = []
            for cc in rg[1]?.list ?? [] {
                guard let md = cc[3] else { throw ParquetFormatError("column chunk without meta_data") }
                var stats: ParquetStatistics?
                if let s = md[12] {
                    stats = ParquetStatistics(min: s[6]?.bytes ?? s[2]?.bytes, max: s[5]?.bytes ?? s[1]?.bytes,
                                              nullCount: s[3]?.int, nanCount: s[9]?.int)
                }
                var info = ParquetColumnChunkInfo(
                    path: (md[3]?.list ?? []).compactMap { $0.string }.joined(separator: "."),
                    physicalType: Int32(md[1]?.int ?? -1),
                    encodings: (md[2]?.list ?? []).compactMap { $0.int.map(Int32.init) },
                    codec: Int32(md[4]?.int ?? -1), numValues: md[5]?.int ?? 0,
                    totalUncompressedSize: md[6]?.int ?? 0, totalCompressedSize: md[7]?.int ?? 0,
                    dataPageOffset: md[9]?.int ?? 0, dictionaryPageOffset: md[11]?.int, statistics: stats)
                info.encodingStats = (md[13]?.list ?? []).map {
                    (Int32($0[1]?.int ?? -1), Int32($0[2]?.int ?? -1), Int32($0[3]?.int ?? 0))
                }
                cols.append(info)
            }
            groups.append(ParquetRowGroupInfo(columns: cols, numRows: rg[3]?.int ?? 0, totalByteSize: rg[2]?.int ?? 0))
        }
        let kv: [(key: String, value: String?)] = (fm[5]?.list ?? []).compactMap { item in
            guard let k = item[1]?.string else { return nil }
            return (k, item[2]?.string)
        }
        return ParquetFileMetadata(version: Int32(version), numRows: numRows, rowGroups: groups,
                                   keyValueMetadata: kv, createdBy: fm[6]?.string, columnNames: names)
    }
}
