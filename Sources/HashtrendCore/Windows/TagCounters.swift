#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Per-pane tag counters: exact dictionaries, or bounded Space-Saving summaries.

/// Byte-wise equality. `String ==` uses canonical equivalence, which would merge spellings that differ in
/// bytes and make the kept one depend on arrival order.
@inline(__always)
func sameBytes(_ a: String, _ b: String) -> Bool {
    let x = a.utf8, y = b.utf8
    guard x.count == y.count else { return false }
    let fast = x.withContiguousStorageIfAvailable { p in
        y.withContiguousStorageIfAvailable { q in
            p.count == 0 || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0
        }
    }
    if let f = fast, let r = f { return r }
    return x.elementsEqual(y)
}

/// Order of `tag asc` and of display ties: UTF-8 bytes (= code point order), never locale or
/// canonical-equivalence order, so results do not depend on the platform's String comparison.
@inline(__always)
func bytesLess(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// How often each spelling of one tag was seen. Almost every tag has one spelling, kept inline.
struct Spellings {
    struct Extra {
        var spelling: String
        var count: Int64
    }

    var first: String = ""
    var firstCount: Int64 = 0
    var more: [Extra]? = nil

    init() {}

    init(_ s: String, _ c: Int64) {
        first = s
        firstCount = c
    }

    mutating func add(_ s: String, _ c: Int64) {
        if firstCount == 0 {
            first = s
            firstCount = c
            return
        }
        if sameBytes(first, s) {
            firstCount += c
            return
        }
        if more == nil {
            more = [Extra(spelling: s, count: c)]
            return
        }
        for i in more!.indices where sameBytes(more![i].spelling, s) {
            more![i].count += c
            return
        }
        more!.append(Extra(spelling: s, count: c))
    }

    mutating func add(_ other: Spellings) {
        if other.firstCount > 0 { add(other.first, other.firstCount) }
        if let m = other.more { for e in m { add(e.spelling, e.count) } }
    }

    mutating func remove(_ s: String, _ c: Int64) {
        if firstCount > 0 && sameBytes(first, s) {
            firstCount -= c
            if firstCount <= 0 {
                if let m = more, !m.isEmpty {
                    first = m[0].spelling
                    firstCount = m[0].count
                    more = m.count > 1 ? Array(m.dropFirst()) : nil
                } else {
                    first = ""
                    firstCount = 0
                }
            }
            return
        }
        guard let m = more, let i = m.firstIndex(where: { sameBytes($0.spelling, s) }) else { return }
        more![i].count -= c
        if more![i].count <= 0 {
            more!.remove(at: i)
            if more!.isEmpty { more = nil }
        }
    }

    mutating func remove(_ other: Spellings) {
        if other.firstCount > 0 { remove(other.first, other.firstCount) }
        if let m = other.more { for e in m { remove(e.spelling, e.count) } }
    }

    /// Most seen; ties go to the smallest UTF-8 byte sequence.
    var best: String {
        var b = first
        var bc = firstCount
        if let m = more {
            for e in m where e.count > bc || (e.count == bc && bytesLess(e.spelling, b)) {
                b = e.spelling
                bc = e.count
            }
        }
        return b
    }
}

struct TagCell {
    var count: Int64
    var spellings: Spellings
}

/// Space-Saving (Metwally, Agrawal, El Abbadi 2005) with at most `capacity` counters. A new key
/// replaces the counter with the smallest count c and starts at c + 1, so a kept count overestimates
/// the true one by at most its `error` <= N / capacity (N = increments seen). The minimum is found
/// with a binary min-heap; `position` maps a key to its heap slot.
struct SpaceSaving {
    struct Counter {
        var key: String
        var count: Int64
        var error: Int64
        var spellings: Spellings
    }

    let capacity: Int
    private(set) var heap: [Counter] = []
    private var position: [String: Int] = [:]
    /// Increments seen (N in the bound).
    private(set) var total: Int64 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    var minCount: Int64 { heap.count < capacity ? 0 : heap[0].count }

    mutating func add(key: String, display: String) {
        total += 1
        if let i = position[key] {
            heap[i].count += 1
            heap[i].spellings.add(display, 1)
            siftDown(i)
            return
        }
        if heap.count < capacity {
            heap.append(Counter(key: key, count: 1, error: 0, spellings: Spellings(display, 1)))
            position[key] = heap.count - 1
            siftUp(heap.count - 1)
            return
        }
        let evicted = heap[0]
        position.removeValue(forKey: evicted.key)
        heap[0] = Counter(key: key, count: evicted.count + 1, error: evicted.count, spellings: Spellings(display, 1))
        position[key] = 0
        siftDown(0)
    }

    func count(of key: String) -> Int64 {
        guard let i = position[key] else { return 0 }
        return heap[i].count
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        heap.swapAt(i, j)
        position[heap[i].key] = i
        position[heap[j].key] = j
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].count < heap[parent].count else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let l = 2 * i + 1
            guard l < n else { return }
            var smallest = l
            let r = l + 1
            if r < n && heap[r].count < heap[l].count { smallest = r }
            guard heap[smallest].count < heap[i].count else { return }
            swapAt(i, smallest)
            i = smallest
        }
    }
}
