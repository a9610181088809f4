/// Physical storage types we write (the subset of parquet.thrift `Type` that Hashtrend needs).
public enum ParquetPhysicalType: Int32, Sendable {
    case int32 = 1
    case int64 = 2
    case double = 5
    case byteArray = 6
}

/// Flat schemas only: REQUIRED or OPTIONAL (no REPEATED), so repetition levels never appear.
public enum ParquetRepetition: Int32, Sendable {
    case required = 0
    case optional = 1
}

/// Logical annotations. Each is written both as the modern `LogicalType` union and as the legacy
/// `converted_type`, so old readers (Hive, early Spark) interpret the column the same way.
public enum ParquetLogicalType: Sendable, Equatable {
    /// BYTE_ARRAY holding UTF-8 (converted type UTF8).
    case string
    /// INT64 milliseconds since the epoch, instant semantics (isAdjustedToUTC=true; TIMESTAMP_MILLIS).
    case timestampMillisUTC
}

public struct ParquetColumn: Sendable {
    public var name: String
    public var type: ParquetPhysicalType
    public var repetition: ParquetRepetition
    public var logical: ParquetLogicalType?

    public init(name: String, type: ParquetPhysicalType, repetition: ParquetRepetition = .required,
                logical: ParquetLogicalType? = nil) {
        self.name = name
        self.type = type
        self.repetition = repetition
        self.logical = logical
    }
}

public struct ParquetSchema: Sendable {
    public var columns: [ParquetColumn]
    public init(_ columns: [ParquetColumn]) { self.columns = columns }
}

/// Variable-length values packed into one byte buffer plus end offsets: one allocation for a whole
/// column instead of one per string.
public struct ParquetByteArrays: Sendable, Equatable {
    public private(set) var bytes: [UInt8] = []
    /// `ends[i]` is the end of value i in `bytes`; value i starts at `ends[i-1]` (or 0).
    public private(set) var ends: [Int] = []

    public init() {}
    public init(_ strings: [String]) {
        for s in strings { append(s) }
    }

    public var count: Int { ends.count }

    public mutating func reserve(values: Int, bytes n: Int) {
        ends.reserveCapacity(values)
        bytes.reserveCapacity(n)
    }

    public mutating func append(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
        ends.append(bytes.count)
    }

    public mutating func append(bytes value: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: value)
        ends.append(bytes.count)
    }

    public mutating func append<C: Collection>(contentsOf value: C) where C.Element == UInt8 {
        bytes.append(contentsOf: value)
        ends.append(bytes.count)
    }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
        ends.removeAll(keepingCapacity: keepingCapacity)
    }

    @inline(__always) public func start(_ i: Int) -> Int { i == 0 ? 0 : ends[i - 1] }

    public subscript(_ i: Int) -> ArraySlice<UInt8> { bytes[start(i)..<ends[i]] }
}

/// One column's values for a batch of rows. For OPTIONAL columns the arrays hold only the non-null
/// values, densely; `ParquetColumnData.validity` says which rows have one.
public enum ColumnValues: Sendable {
    case int32([Int32])
    case int64([Int64])
    case double([Double])
    case byteArray(ParquetByteArrays)

    public var count: Int {
        switch self {
        case .int32(let v): return v.count
        case .int64(let v): return v.count
        case .double(let v): return v.count
        case .byteArray(let v): return v.count
        }
    }

    var physicalType: ParquetPhysicalType {
        switch self {
        case .int32: return .int32
        case .int64: return .int64
        case .double: return .double
        case .byteArray: return .byteArray
        }
    }
}

public struct ParquetColumnData: Sendable {
    public var values: ColumnValues
    /// nil: every row has a value. Otherwise one flag per row; `values.count` must equal the number of
    /// `true` flags.
    public var validity: [Bool]?
    /// nil: one value per row. Otherwise `values[i]` fills the next `runLengths[i]` rows. Columns that are
    /// constant per window (window bounds, posts, emitted_at) arrive this way, so the writer does one
    /// dictionary lookup and writes one RLE run per window instead of per row. REQUIRED columns only.
    public private(set) var runLengths: [Int32]?
    private var runRows = 0

    public init(_ values: ColumnValues, validity: [Bool]? = nil) {
        self.values = values
        self.validity = validity
    }

    /// Run-length form: `values.count == runLengths.count`, every length >= 0 (the writer checks both).
    public init(_ values: ColumnValues, runLengths: [Int32]) {
        self.values = values
        self.runLengths = runLengths
        for n in runLengths { runRows += Int(n) }
    }

    public var rowCount: Int { runLengths == nil ? validity?.count ?? values.count : runRows }
}
