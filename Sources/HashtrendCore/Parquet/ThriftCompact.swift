/// Thrift compact protocol, just enough for Parquet metadata. Parquet's footer and page headers are
/// Thrift structs in this encoding; we write them by hand instead of generating code.
enum ThriftType: UInt8 {
    case stop = 0, boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
    case binary = 8, list = 9, set = 10, map = 11, structure = 12
}

/// Appends compact-protocol bytes to `out`. Field ids must be written in increasing order within a
/// struct (the delta form relies on it, and readers do not care otherwise).
struct ThriftCompactWriter {
    var out: [UInt8]
    private var lastField: Int16 = 0
    private var fieldStack: [Int16] = []

    init(capacity: Int = 256) {
        out = []
        out.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    @inline(__always)
    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    private mutating func fieldHeader(_ id: Int16, _ type: ThriftType) {
        let delta = Int(id) - Int(lastField)
        if delta > 0 && delta <= 15 {
            out.append(UInt8(delta << 4) | type.rawValue)
        } else {
            out.append(type.rawValue)
            zigzag(Int64(id))
        }
        lastField = id
    }

    mutating func i32(_ id: Int16, _ v: Int32) { fieldHeader(id, .i32); zigzag(Int64(v)) }
    mutating func i16(_ id: Int16, _ v: Int16) { fieldHeader(id, .i16); zigzag(Int64(v)) }
    mutating func i64(_ id: Int16, _ v: Int64) { fieldHeader(id, .i64); zigzag(v) }
    mutating func i8(_ id: Int16, _ v: Int8) { fieldHeader(id, .byte); out.append(UInt8(bitPattern: v)) }
    mutating func bool(_ id: Int16, _ v: Bool) { fieldHeader(id, v ? .boolTrue : .boolFalse) }
    mutating func binary(_ id: Int16, _ bytes: [UInt8]) {
        fieldHeader(id, .binary)
        varint(UInt64(bytes.count))
        out.append(contentsOf: bytes)
    }
    mutating func string(_ id: Int16, _ s: String) { binary(id, Array(s.utf8)) }

    /// Opens a struct-valued field; close it with `endStruct()`.
    mutating func beginStruct(_ id: Int16) {
        fieldHeader(id, .structure)
        beginNested()
    }
    /// Opens a struct that is a list element (no field header).
    mutating func beginNested() {
        fieldStack.append(lastField)
        lastField = 0
    }
    mutating func endStruct() {
        out.append(ThriftType.stop.rawValue)
        lastField = fieldStack.popLast() ?? 0
    }
    /// An empty struct-valued field (used by unions such as LogicalType.STRING).
    mutating func emptyStruct(_ id: Int16) { beginStruct(id); endStruct() }

    mutating func listHeader(_ id: Int16, _ elem: ThriftType, count: Int) {
        fieldHeader(id, .list)
        if count < 15 {
            out.append(UInt8(count << 4) | elem.rawValue)
        } else {
            out.append(0xF0 | elem.rawValue)
            varint(UInt64(count))
        }
    }
    mutating func listI32(_ id: Int16, _ values: [Int32]) {
        listHeader(id, .i32, count: values.count)
        for v in values { zigzag(Int64(v)) }
    }
    mutating func listString(_ id: Int16, _ values: [String]) {
        listHeader(id, .binary, count: values.count)
        for s in values {
            let b = Array(s.utf8)
            varint(UInt64(b.count))
            out.append(contentsOf: b)
        }
    }
    /// Ends the top-level struct.
    mutating func finish() { out.append(ThriftType.stop.rawValue) }
}

/// A decoded compact-protocol value. The reader builds a small tree instead of typed structs: footers are
/// small, and a generic tree lets us skip every field we do not model.
indirect enum ThriftValue: Equatable {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case binary([UInt8])
    case list([ThriftValue])
    case structure([Int16: ThriftValue])

    subscript(_ id: Int16) -> ThriftValue? {
        if case .structure(let f) = self { return f[id] }
        return nil
    }
    var int: Int64? { if case .int(let v) = self { return v }; return nil }
    var bool: Bool? { if case .bool(let v) = self { return v }; return nil }
    var bytes: [UInt8]? { if case .binary(let v) = self { return v }; return nil }
    var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
    var list: [ThriftValue] { if case .list(let v) = self { return v }; return [] }
}

public struct ThriftDecodingError: Error, CustomStringConvertible {
    public var description: String
}

struct ThriftCompactReader {
    private let bytes: [UInt8]
    private(set) var position: Int
    private var depth = 0

    init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw ThriftDecodingError(description: "truncated thrift data") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ThriftDecodingError(description: "varint too long") }
        }
    }

    private mutating func zigzag() throws -> Int64 {
        let u = try varint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// Reads one struct (until STOP) starting at the current position.
    mutating func readStruct() throws -> ThriftValue {
        depth += 1
        defer { depth -= 1 }
        guard depth < 64 else { throw ThriftDecodingError(description: "thrift nesting too deep") }
        var fields: [Int16: ThriftValue] = [:]
        var last: Int16 = 0
        while true {
            let header = try byte()
            if header == 0 { return .structure(fields) }
            let delta = header >> 4
            guard let type = ThriftType(rawValue: header & 0x0F) else {
                throw ThriftDecodingError(description: "bad thrift type \(header & 0x0F)")
            }
            let id: Int16
            if delta != 0 {
                id = last &+ Int16(delta)
            } else {
                let z = try zigzag()
                guard let i = Int16(exactly: z) else { throw ThriftDecodingError(description: "bad field id") }
                id = i
            }
            last = id
            fields[id] = try readValue(type)
        }
    }

    private mutating func readValue(_ type: ThriftType) throws -> ThriftValue {
        switch type {
        case .boolTrue: return .bool(true)
        case .boolFalse: return .bool(false)
        case .byte: return .int(Int64(Int8(bitPattern: try byte())))
        case .i16, .i32, .i64: return .int(try zigzag())
        case .double:
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(try byte()) << (8 * UInt64(i)) }
            return .double(Double(bitPattern: bits))
        case .binary:
            let n = Int(try varint())
            guard n >= 0, position + n <= bytes.count else {
                throw ThriftDecodingError(description: "binary length \(n) beyond data")
            }
            defer { position += n }
            return .binary(Array(bytes[position..<(position + n)]))
        case .list, .set:
            let h = try byte()
            var count = Int(h >> 4)
            if count == 15 { count = Int(try varint()) }
            guard let elem = ThriftType(rawValue: h & 0x0F) else {
                throw ThriftDecodingError(description: "bad list element type")
            }
            guard count <= bytes.count - position else { throw ThriftDecodingError(description: "list too long") }
            var items: [ThriftValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                if elem == .boolTrue || elem == .boolFalse {
                    items.append(.bool(try byte() == 1))
                } else {
                    items.append(try readValue(elem))
                }
            }
            return .list(items)
        case .map:
            let n = Int(try varint())
            if n == 0 { return .list([]) }
            let kv = try byte()
            guard let kt = ThriftType(rawValue: kv >> 4), let vt = ThriftType(rawValue: kv & 0x0F) else {
                throw ThriftDecodingError(description: "bad map types")
            }
            var items: [ThriftValue] = []
            for _ in 0..<n {
                items.append(try readValue(kt))
                items.append(try readValue(vt))
            }
            return .list(items)
        case .structure: return try readStruct()
        case .stop: throw ThriftDecodingError(description: "unexpected stop")
        }
    }
}
