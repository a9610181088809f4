/// Cuts a byte stream that arrives in arbitrary chunks into complete lines (`\n`, with a preceding
/// `\r` removed), holding at most `maxLineBytes` of one unfinished line. A longer line is not kept:
/// its first `prefixBytes` go to `oversized` with its full length once its end arrives, so a runaway
/// sender cannot make the daemon buffer without bound.
///
/// Lines are delivered with a pointer valid only during the call (no per-line allocation). Bytes after
/// the last newline stay pending; `discardPartial()` drops them when the connection ends, because a
/// line cut by a disconnect is not a line.
public struct LineAssembler {
    public let maxLineBytes: Int
    public let prefixBytes: Int
    private var pending: [UInt8] = []
    private var skipping = false
    private var skippedBytes = 0
    private var skippedPrefix: [UInt8] = []
    private var skippedLastCR = false

    public init(maxLineBytes: Int, prefixBytes: Int = 1024) {
        precondition(maxLineBytes > 0)
        self.maxLineBytes = maxLineBytes
        self.prefixBytes = min(prefixBytes, maxLineBytes)
        pending.reserveCapacity(min(maxLineBytes, 64 << 10))
    }

    /// Bytes of an unfinished line (or of a line being skipped).
    public var pendingBytes: Int { skipping ? skippedBytes : pending.count }

    /// Feeds one chunk. `line` returns false to stop early (the rest of the chunk is dropped).
    /// Returns false when `line` asked to stop.
    @discardableResult
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>,
                              line: (UnsafeBufferPointer<UInt8>) -> Bool,
                              oversized: (_ prefix: [UInt8], _ length: Int) -> Void) -> Bool {
        var i = 0
        let n = chunk.count
        while i < n {
            // Find the next newline in the rest of the chunk.
            var j = i
            while j < n && chunk[j] != 10 { j += 1 }
            let run = UnsafeBufferPointer(rebasing: chunk[i..<j])
            let complete = j < n
            if skipping {
                skippedBytes += run.count
                if let last = run.last { skippedLastCR = last == 13 }
                if complete {
                    var length = skippedBytes
                    if skippedLastCR { length -= 1 }
                    oversized(skippedPrefix, length)
                    skipping = false
                    skippedBytes = 0
                    skippedPrefix = []
                }
            } else if pending.isEmpty && complete {
                // Fast path: the whole line is inside this chunk.
                var end = run.count
                if end > 0 && run[end - 1] == 13 { end -= 1 }
                if end > maxLineBytes {
                    oversized(Array(run[0..<prefixBytes]), end)
                } else if !line(UnsafeBufferPointer(rebasing: run[0..<end])) {
                    return false
                }
            } else {
                // Without its `\r` a line may be exactly maxLineBytes long, so allow one extra byte here.
                if pending.count + run.count > maxLineBytes + 1 {
                    startSkipping(with: run)
                    if complete {
                        var length = skippedBytes
                        if run.last == 13 { length -= 1 }
                        oversized(skippedPrefix, length)
                        skipping = false
                        skippedBytes = 0
                        skippedPrefix = []
                    }
                } else {
                    pending.append(contentsOf: run)
                    if complete {
                        if pending.last == 13 { pending.removeLast() }
                        if pending.count > maxLineBytes {
                            oversized(Array(pending[0..<prefixBytes]), pending.count)
                            pending.removeAll(keepingCapacity: true)
                        } else {
                            let go = pending.withUnsafeBufferPointer { line($0) }
                            pending.removeAll(keepingCapacity: true)
                            if !go { return false }
                        }
                    }
                }
            }
            i = complete ? j + 1 : j
        }
        return true
    }

    private mutating func startSkipping(with run: UnsafeBufferPointer<UInt8>) {
        skipping = true
        skippedBytes = pending.count + run.count
        var prefix = Array(pending.prefix(prefixBytes))
        if prefix.count < prefixBytes { prefix.append(contentsOf: run.prefix(prefixBytes - prefix.count)) }
        skippedPrefix = prefix
        skippedLastCR = run.last == 13
        pending.removeAll(keepingCapacity: true)
    }

    /// Drops an unfinished line; returns how many bytes were dropped.
    @discardableResult
    public mutating func discardPartial() -> Int {
        let dropped = pendingBytes
        pending.removeAll(keepingCapacity: true)
        skipping = false
        skippedBytes = 0
        skippedPrefix = []
        return dropped
    }
}
