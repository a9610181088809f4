/// A growable buffer of plain values that the hot path reuses (a decoder line after line, the window
/// engine record after record). Unlike an Array kept in a struct or class, an access costs no
/// uniqueness check, retain or call into the runtime. The owner (a class) calls `free()` in its deinit;
/// copies of the struct share the memory, so there is one owner.
struct ScratchBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 16) {
        self.capacity = max(1, capacity)
        base = .allocate(capacity: self.capacity)
    }

    func free() { base.deallocate() }

    var isEmpty: Bool { count == 0 }
    var indices: Range<Int> { 0..<count }
    var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

    subscript(i: Int) -> Element {
        get {
            precondition(i >= 0 && i < count, "ScratchBuffer index out of range")
            return base[i]
        }
        nonmutating set {
            precondition(i >= 0 && i < count, "ScratchBuffer index out of range")
            base[i] = newValue
        }
    }

    mutating func removeAll() { count = 0 }

    mutating func truncate(to n: Int) { count = max(0, min(count, n)) }

    @inline(__always)
    mutating func append(_ x: Element) {
        if count == capacity { grow() }
        (base + count).initialize(to: x)
        count &+= 1
    }

    /// Appends `x` and returns where it is, for filling in place; valid until the next append.
    mutating func appendNew(_ x: Element) -> UnsafeMutablePointer<Element> {
        append(x)
        return base + (count - 1)
    }

    /// Appends `x` until the buffer holds `n` elements.
    mutating func extend(to n: Int, with x: Element) {
        while count < n { append(x) }
    }

    private mutating func grow() {
        let n = capacity * 2
        let b = UnsafeMutablePointer<Element>.allocate(capacity: n)
        b.moveInitialize(from: base, count: count)
        base.deallocate()
        base = b
        capacity = n
    }
}

extension ScratchBuffer where Element: Equatable {
    @inline(__always)
    func contains(_ x: Element) -> Bool {
        var i = 0
        while i < count {
            if base[i] == x { return true }
            i &+= 1
        }
        return false
    }
}
