/// Whether the `n` bytes at `a` and at `b` are equal: eight at a time, then one by one. Inline for the
/// short strings of the hot path (keys, tags), where a call to `memcmp` cost more than the compare.
/// Reads only those `n` bytes of each side.
@inline(__always)
func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i &+ 8 <= n {
        if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) {
            return false
        }
        i &+= 8
    }
    while i < n {
        if a[i] != b[i] { return false }
        i &+= 1
    }
    return true
}
