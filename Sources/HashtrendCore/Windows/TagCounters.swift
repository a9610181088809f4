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

/// How often each spelling of one tag was seen (spellings as interned ids in the engine). Almost every
/// tag has one spelling, kept inline.
struct SpellingCounts<S: Equatable> {
    struct Extra {
        var spelling: S
        var count: Int64
    }

    var first: S
    var firstCount: Int64
    var more: [Extra]? = nil

    init(_ s: S, _ c: Int64) {
        first = s
        firstCount = c
    }

    @inline(__always)
    mutating func add(_ s: S, _ c: Int64) {
        if first == s {
            firstCount += c
            return
        }
        addSlow(s, c)
    }

    private mutating func addSlow(_ s: S, _ c: Int64) {
        if firstCount == 0 {
            first = s
            firstCount = c
            return
        }
        if more == nil {
            more = [Extra(spelling: s, count: c)]
            return
        }
        for i in more!.indices where more![i].spelling == s {
            more![i].count += c
            return
        }
        more!.append(Extra(spelling: s, count: c))
    }

    /// Every spelling held, counted or not.
    func forEachHeld(_ body: (S) -> Void) {
        body(first)
        if let m = more { for e in m { body(e.spelling) } }
    }

    func forEach(_ body: (S, Int64) -> Void) {
        if firstCount > 0 { body(first, firstCount) }
        if let m = more { for e in m where e.count > 0 { body(e.spelling, e.count) } }
    }
}

/// Space-Saving (Metwally, Agrawal, El Abbadi 2005) with at most `capacity` counters. A new key
/// replaces the counter with the smallest count c and starts at c + 1, so a kept count overestimates
/// the true one by at most its `error` <= N / capacity (N = increments seen). The minimum is found
/// with a binary min-heap; `position` maps a key to its heap slot.
struct SpaceSavingSummary<Key: Hashable> {
    struct Counter {
        var key: Key
        var count: Int64
        var error: Int64
        var spellings: SpellingCounts<Key>
    }

    let capacity: Int
    private(set) var heap: [Counter] = []
    private var position: [Key: Int] = [:]
    /// Increments seen (N in the bound).
    private(set) var total: Int64 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    var minCount: Int64 { heap.count < capacity ? 0 : heap[0].count }

    mutating func add(key: Key, display: Key) {
        total += 1
        if let i = position[key] {
            heap[i].count += 1
            heap[i].spellings.add(display, 1)
            siftDown(i)
            return
        }
        if heap.count < capacity {
            heap.append(Counter(key: key, count: 1, error: 0, spellings: SpellingCounts(display, 1)))
            position[key] = heap.count - 1
            siftUp(heap.count - 1)
            return
        }
        let evicted = heap[0]
        position.removeValue(forKey: evicted.key)
        heap[0] = Counter(key: key, count: evicted.count + 1, error: evicted.count, spellings: SpellingCounts(display, 1))
        position[key] = 0
        siftDown(0)
    }

    func count(of key: Key) -> Int64 {
        guard let i = position[key] else { return 0 }
        return heap[i].count
    }

    func counter(of key: Key) -> Counter? {
        guard let i = position[key] else { return nil }
        return heap[i]
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

/// String-keyed summary (tests use it directly).
typealias SpaceSaving = SpaceSavingSummary<String>
