/// The last `capacity` post ids seen, to drop duplicates a reconnect with backfill (or X itself,
/// which documents duplicate delivery) produces. Oldest id evicted first; memory is bounded.
/// Not thread-safe: one per stream, used on its thread.
public struct RecentIDs: Sendable {
    public let capacity: Int
    private var members: Set<String>
    private var ring: [String]
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        members = Set(minimumCapacity: capacity)
        ring = []
        ring.reserveCapacity(capacity)
    }

    public var count: Int { members.count }
    public func contains(_ id: String) -> Bool { members.contains(id) }

    /// Records `id`; returns false when it was already among the recent ids (a duplicate).
    @discardableResult
    public mutating func insert(_ id: String) -> Bool {
        guard !members.contains(id) else { return false }
        if ring.count < capacity {
            ring.append(id)
        } else {
            members.remove(ring[next])
            ring[next] = id
            next = (next + 1) % capacity
        }
        members.insert(id)
        return true
    }
}

/// A tiny JSON scan for one string value at a key path, without parsing the document: enough to key
/// and de-duplicate stream lines (`["data", "id"]` for v2, `["id_str"]` for v1.1) before the full
/// decoder runs elsewhere. Keys are matched only at the right depth, so an `"id"` inside
/// `entities.mentions` or `includes` does not count. Escapes inside the value are not decoded
/// (ids never contain any).
public enum JSONKeyScan {
    public static func stringValue(at path: [String], in b: UnsafeBufferPointer<UInt8>) -> String? {
        let keys = path.map { Array($0.utf8) }
        var depth = 0          // object/array nesting
        var matched = 0        // how many path components matched, by the enclosing objects
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if matched > 0 && depth == matched + 1 { return nil }  // leaving the object the path led into
                depth -= 1
                i += 1
            case UInt8(ascii: "\""):
                let start = i + 1
                var j = start
                while j < n && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                guard j < n else { return nil }
                let end = j
                j += 1
                while j < n, b[j] == 32 || b[j] == 9 || b[j] == 10 || b[j] == 13 { j += 1 }
                if j < n && b[j] == UInt8(ascii: ":") && depth == matched + 1 && matched < keys.count
                    && equal(b, start, end, keys[matched]) {
                    j += 1
                    while j < n, b[j] == 32 || b[j] == 9 || b[j] == 10 || b[j] == 13 { j += 1 }
                    if matched == keys.count - 1 {
                        guard j < n, b[j] == UInt8(ascii: "\"") else { return nil }
                        var k = j + 1
                        while k < n && b[k] != UInt8(ascii: "\"") { k += b[k] == UInt8(ascii: "\\") ? 2 : 1 }
                        guard k < n else { return nil }
                        return String(decoding: UnsafeBufferPointer(rebasing: b[(j + 1)..<k]), as: UTF8.self)
                    }
                    guard j < n, b[j] == UInt8(ascii: "{") else { return nil }
                    matched += 1
                }
                i = j
            default:
                i += 1
            }
        }
        return nil
    }

    private static func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, _ key: [UInt8]) -> Bool {
        guard e - s == key.count else { return false }
        for k in 0..<key.count where b[s + k] != key[k] { return false }
        return true
    }

    /// The first key of the top-level object (v1.1 control messages have a single distinctive key).
    public static func firstKey(in b: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        let n = b.count
        while i < n, b[i] == 32 || b[i] == 9 { i += 1 }
        guard i < n, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while i < n, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 }
        guard i < n, b[i] == UInt8(ascii: "\"") else { return nil }
        var j = i + 1
        while j < n && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
        guard j < n else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: b[(i + 1)..<j]), as: UTF8.self)
    }

    /// Whether the top-level object has `key` (depth-1 match).
    public static func hasTopLevelKey(_ key: String, in b: UnsafeBufferPointer<UInt8>) -> Bool {
        let k = Array(key.utf8)
        var depth = 0
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1; i += 1; continue }
            if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { depth -= 1; i += 1; continue }
            if c == UInt8(ascii: "\"") {
                let s = i + 1
                var j = s
                while j < n && b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                guard j < n else { return false }
                let e = j
                j += 1
                while j < n, b[j] == 32 || b[j] == 9 { j += 1 }
                if depth == 1, j < n, b[j] == UInt8(ascii: ":"), equal(b, s, e, k) { return true }
                i = j
                continue
            }
            i += 1
        }
        return false
    }
}
