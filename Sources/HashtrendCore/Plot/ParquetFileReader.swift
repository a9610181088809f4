import CZstd
import Foundation

/// A minimal Parquet reader for the files our own writer produces (docs/parquet.md): flat schema of
/// REQUIRED columns, v1 data pages, PLAIN or dictionary (PLAIN dictionary page + RLE_DICTIONARY /
/// PLAIN_DICTIONARY data pages, with PLAIN fallback pages), ZSTD or uncompressed. Anything else is
/// refused with a `ParquetFormatError` rather than misread. It exists so `hashtrend plot` needs no
/// Python or Arrow; it reads whole files into memory (trend files are small).
public struct ParquetFileReader {
    public let metadata: ParquetFileMetadata
    /// Physical type and repetition of each leaf column, from the footer's schema elements.
    public let columnTypes: [ParquetPhysicalType]
    private let repetitions: [Int64]
    private let bytes: [UInt8]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ParquetFormatError("cannot read \(path)")
        }
        try self.init(bytes: [UInt8](data))
    }

    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 12, bytes[0..<4].elementsEqual("PAR1".utf8) else {
            throw ParquetFormatError("not a Parquet file (no leading PAR1)")
        }
        self.bytes = bytes
        metadata = try ParquetFooter.read(fileTail: bytes)
        // ParquetFooter does not keep types and repetition, so read the schema list again.
        let n = bytes.count
        let len = Int(UInt32(bytes[n - 8]) | UInt32(bytes[n - 7]) << 8 | UInt32(bytes[n - 6]) << 16
                      | UInt32(bytes[n - 5]) << 24)
        var r = ThriftCompactReader(bytes, position: n - 8 - len)
        let fm = try r.readStruct()
        var types: [ParquetPhysicalType] = []
        var reps: [Int64] = []
        for element in (fm[2]?.list ?? []).dropFirst() {
            if element[5]?.int != nil { throw ParquetFormatError("nested schemas are not supported") }
            guard let t = element[1]?.int, let pt = ParquetPhysicalType(rawValue: Int32(t)) else {
                throw ParquetFormatError("unsupported physical type in column \(element[4]?.string ?? "?")")
            }
            types.append(pt)
            reps.append(element[3]?.int ?? 0)
        }
        columnTypes = types
        repetitions = reps
    }

    public var columnNames: [String] { metadata.columnNames }

    /// The values of column `name` over all row groups, in row order.
    public func column(_ name: String) throws -> ColumnValues {
        guard let index = metadata.columnNames.firstIndex(of: name) else {
            throw ParquetFormatError("no column named \(name)")
        }
        return try column(at: index)
    }

    public func column(at index: Int) throws -> ColumnValues {
        guard index >= 0, index < columnTypes.count else { throw ParquetFormatError("no column \(index)") }
        var acc = ColumnAccumulator(columnTypes[index])
        for g in metadata.rowGroups.indices { try readChunk(rowGroup: g, column: index, into: &acc) }
        return acc.values
    }

    /// The values of one column chunk.
    public func column(at index: Int, rowGroup: Int) throws -> ColumnValues {
        guard index >= 0, index < columnTypes.count, metadata.rowGroups.indices.contains(rowGroup) else {
            throw ParquetFormatError("no column \(index) in row group \(rowGroup)")
        }
        var acc = ColumnAccumulator(columnTypes[index])
        try readChunk(rowGroup: rowGroup, column: index, into: &acc)
        return acc.values
    }

    private func readChunk(rowGroup: Int, column: Int, into acc: inout ColumnAccumulator) throws {
        let info = metadata.rowGroups[rowGroup].columns[column]
        guard repetitions[column] == 0 else {
            throw ParquetFormatError("column \(info.path) is not REQUIRED (only REQUIRED columns are read)")
        }
        let type = columnTypes[column]
        let codec = info.codec
        guard codec == 0 || codec == 6 else { throw ParquetFormatError("codec \(codec) is not supported") }
        var position = Int(info.dictionaryPageOffset ?? info.dataPageOffset)
        let chunkEnd = position + Int(info.totalCompressedSize)
        guard position >= 4, chunkEnd <= bytes.count - 8, chunkEnd > position else {
            throw ParquetFormatError("column chunk \(info.path) lies outside the file")
        }
        var dictionary: ColumnAccumulator? = nil
        var remaining = Int(info.numValues)
        while remaining > 0 {
            guard position < chunkEnd else { throw ParquetFormatError("column chunk \(info.path) ends early") }
            var r = ThriftCompactReader(bytes, position: position)
            let header = try r.readStruct()
            let bodyStart = r.position
            guard let pageType = header[1]?.int, let uncompressed = header[2]?.int.map(Int.init),
                  let compressed = header[3]?.int.map(Int.init), compressed >= 0, uncompressed >= 0,
                  bodyStart + compressed <= chunkEnd else {
                throw ParquetFormatError("bad page header in \(info.path)")
            }
            let body = try decompress(bytes[bodyStart..<(bodyStart + compressed)], codec: codec, size: uncompressed)
            position = bodyStart + compressed
            switch pageType {
            case 2:  // DICTIONARY_PAGE
                guard let dp = header[7], let n = dp[1]?.int else { throw ParquetFormatError("bad dictionary page header") }
                let encoding = dp[2]?.int ?? 0
                guard encoding == 0 || encoding == 2 else { throw ParquetFormatError("dictionary encoding \(encoding)") }
                var d = ColumnAccumulator(type)
                try d.appendPlain(body, count: Int(n))
                dictionary = d
            case 0:  // DATA_PAGE (v1)
                guard let dp = header[5], let n = dp[1]?.int.map(Int.init), let encoding = dp[2]?.int,
                      n >= 0, n <= remaining else {
                    throw ParquetFormatError("bad data page header in \(info.path)")
                }
                switch encoding {
                case 0:
                    try acc.appendPlain(body, count: n)
                case 2, 8:
                    guard let dictionary else { throw ParquetFormatError("dictionary-encoded page without a dictionary") }
                    let indices = try Self.decodeIndices(body, count: n)
                    try acc.append(indices: indices, from: dictionary)
                default:
                    throw ParquetFormatError("encoding \(encoding) is not supported")
                }
                remaining -= n
            case 3:
                throw ParquetFormatError("data page v2 is not supported")
            default:
                break  // index pages and unknown pages carry no values
            }
        }
    }

    private func decompress(_ page: ArraySlice<UInt8>, codec: Int32, size: Int) throws -> [UInt8] {
        if codec == 0 {
            guard page.count == size else { throw ParquetFormatError("page size mismatch") }
            return Array(page)
        }
        var out = [UInt8](repeating: 0, count: size)
        if size == 0 { return out }
        let got = page.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in ZSTD_decompress(dst.baseAddress, size, src.baseAddress, src.count) }
        }
        guard ZSTD_isError(got) == 0, got == size else {
            throw ParquetFormatError("zstd page does not decompress to \(size) bytes")
        }
        return out
    }

    /// RLE_DICTIONARY page body: one byte of bit width, then the RLE/bit-packed hybrid without a length prefix.
    static func decodeIndices(_ body: [UInt8], count: Int) throws -> [UInt32] {
        guard let width = body.first.map(Int.init), width <= 32 else { throw ParquetFormatError("bad index bit width") }
        var out: [UInt32] = []
        out.reserveCapacity(count)
        var p = 1
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard p < body.count else { throw ParquetFormatError("truncated RLE run header") }
                let b = body[p]; p += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
                if shift > 35 { throw ParquetFormatError("RLE run header too long") }
            }
        }
        let valueBytes = (width + 7) / 8
        while out.count < count {
            let header = try varint()
            if header & 1 == 0 {
                let run = Int(header >> 1)
                guard p + valueBytes <= body.count else { throw ParquetFormatError("truncated RLE run") }
                var v: UInt32 = 0
                for i in 0..<valueBytes { v |= UInt32(body[p + i]) << (8 * UInt32(i)) }
                p += valueBytes
                out.append(contentsOf: repeatElement(v, count: min(run, count - out.count)))
            } else {
                let values = Int(header >> 1) * 8
                let byteCount = values * width / 8
                guard p + byteCount <= body.count else { throw ParquetFormatError("truncated bit-packed run") }
                if width == 0 {
                    out.append(contentsOf: repeatElement(0, count: min(values, count - out.count)))
                } else {
                    var bit = 0
                    let mask: UInt64 = width == 32 ? 0xFFFF_FFFF : (1 << UInt64(width)) - 1
                    for _ in 0..<values where out.count < count {
                        var v: UInt64 = 0
                        var got = 0
                        while got < width {
                            let byte = UInt64(body[p + (bit + got) / 8])
                            let offset = (bit + got) % 8
                            let take = min(8 - offset, width - got)
                            v |= ((byte >> UInt64(offset)) & ((1 << UInt64(take)) - 1)) << UInt64(got)
                            got += take
                        }
                        out.append(UInt32(v & mask))
                        bit += width
                    }
                }
                p += byteCount
            }
        }
        return out
    }
}

/// Values of one column as they are decoded, page by page.
private struct ColumnAccumulator {
    var values: ColumnValues

    init(_ type: ParquetPhysicalType) {
        switch type {
        case .int32: values = .int32([])
        case .int64: values = .int64([])
        case .double: values = .double([])
        case .byteArray: values = .byteArray(ParquetByteArrays())
        }
    }

    mutating func appendPlain(_ body: [UInt8], count n: Int) throws {
        switch values {
        case .int32(var a):
            guard body.count >= 4 * n else { throw ParquetFormatError("PLAIN INT32 page too short") }
            a.reserveCapacity(a.count + n)
            body.withUnsafeBytes { raw in for i in 0..<n { a.append(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) } }
            values = .int32(a)
        case .int64(var a):
            guard body.count >= 8 * n else { throw ParquetFormatError("PLAIN INT64 page too short") }
            a.reserveCapacity(a.count + n)
            body.withUnsafeBytes { raw in for i in 0..<n { a.append(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) } }
            values = .int64(a)
        case .double(var a):
            guard body.count >= 8 * n else { throw ParquetFormatError("PLAIN DOUBLE page too short") }
            a.reserveCapacity(a.count + n)
            body.withUnsafeBytes { raw in
                for i in 0..<n { a.append(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            }
            values = .double(a)
        case .byteArray(var a):
            var p = 0
            for _ in 0..<n {
                guard p + 4 <= body.count else { throw ParquetFormatError("PLAIN BYTE_ARRAY page too short") }
                let len = Int(UInt32(body[p]) | UInt32(body[p + 1]) << 8 | UInt32(body[p + 2]) << 16 | UInt32(body[p + 3]) << 24)
                p += 4
                guard p + len <= body.count else { throw ParquetFormatError("BYTE_ARRAY value beyond its page") }
                a.append(contentsOf: body[p..<(p + len)])
                p += len
            }
            values = .byteArray(a)
        }
    }

    mutating func append(indices: [UInt32], from dictionary: ColumnAccumulator) throws {
        let size = dictionary.values.count
        guard indices.allSatisfy({ Int($0) < size }) else { throw ParquetFormatError("dictionary index out of range") }
        switch (values, dictionary.values) {
        case (.int32(var a), .int32(let d)): a.append(contentsOf: indices.lazy.map { d[Int($0)] }); values = .int32(a)
        case (.int64(var a), .int64(let d)): a.append(contentsOf: indices.lazy.map { d[Int($0)] }); values = .int64(a)
        case (.double(var a), .double(let d)): a.append(contentsOf: indices.lazy.map { d[Int($0)] }); values = .double(a)
        case (.byteArray(var a), .byteArray(let d)):
            for i in indices { a.append(contentsOf: d[Int(i)]) }
            values = .byteArray(a)
        default:
            throw ParquetFormatError("dictionary type differs from its column")
        }
    }
}
