import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads `\n`-separated lines from a file or stdin (`-`) in large blocks; `\r\n` endings lose the `\r`.
/// A line longer than `maxLineBytes` is returned empty with `lastLineTruncated` set, never buffered whole.
/// With `mapped`, a regular file is memory-mapped and its lines are lent straight from the mapping (no copy
/// through a buffer): for the offline tools, which read a file that nobody truncates under them (a mapped
/// file cut short while read raises SIGBUS, so the daemons keep `read`).
///
/// Not thread-safe (one reader owns it): its stored properties skip the dynamic exclusivity checks, which
/// cost ~1% of `hashtrend trends` (several per line).
public final class LineReader {
    private let fd: Int32
    private let ownsFD: Bool
    @exclusivity(unchecked) private var map: UnsafeBufferPointer<UInt8>?
    @exclusivity(unchecked) private var released = 0
    /// Mapped bytes below this are already faulted in (see nextMappedLine).
    @exclusivity(unchecked) private var populated = 0
    @exclusivity(unchecked) private var buffer: [UInt8]
    @exclusivity(unchecked) private var start = 0
    @exclusivity(unchecked) private var end = 0
    @exclusivity(unchecked) private var eof = false
    public let maxLineBytes: Int
    @exclusivity(unchecked) public private(set) var lastLineTruncated = false
    @exclusivity(unchecked) public private(set) var lastLineLength = 0
    @exclusivity(unchecked) public private(set) var bytesRead: Int64 = 0

    public init(path: String, maxLineBytes: Int = 64 << 20, mapped: Bool = false) throws {
        if path == "-" {
            fd = 0
            ownsFD = false
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "cannot open \(path): \(String(cString: strerror(errno)))"])
            }
            ownsFD = true
        }
        self.maxLineBytes = maxLineBytes
        var st = stat()
        if mapped, fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0,
           let p = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED {
            _ = madvise(p, Int(st.st_size), MADV_SEQUENTIAL)
            map = UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: Int(st.st_size))
            buffer = []
        } else {
            buffer = [UInt8](repeating: 0, count: 1 << 20)
        }
    }

    deinit {
        if let map { munmap(UnsafeMutableRawPointer(mutating: map.baseAddress!), map.count) }
        if ownsFD { close(fd) }
    }

    /// Calls `body` with each line's bytes (valid only during the call): no per-line allocation.
    public func nextLine<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T? {
        lastLineTruncated = false
        if let map { return try nextMappedLine(map, body) }
        var skipping = false
        var skipped = 0
        while true {
            if let nl = findNewline() {
                var lineEnd = nl
                if lineEnd > start && buffer[lineEnd - 1] == 13 { lineEnd -= 1 }
                let s = start
                start = nl + 1
                if skipping {
                    lastLineTruncated = true
                    lastLineLength = skipped + (nl - s)
                    return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<min(maxLineBytes, 0)])) }
                }
                lastLineLength = lineEnd - s
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[s..<lineEnd])) }
            }
            if eof {
                guard start < end || skipping else { return nil }
                let s = start
                start = end
                lastLineLength = skipped + (end - s)
                if skipping { lastLineTruncated = true; return try body(UnsafeBufferPointer(start: nil, count: 0)) }
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[s..<end])) }
            }
            // Compact, then grow up to the line limit; past it, drop bytes until the newline.
            if start > 0 {
                if start < end { buffer.withUnsafeMutableBufferPointer { b in _ = memmove(b.baseAddress!, b.baseAddress! + start, end - start) } }
                end -= start
                start = 0
            }
            if end == buffer.count {
                if buffer.count >= maxLineBytes {
                    skipping = true
                    skipped += end
                    end = 0
                } else {
                    buffer.append(contentsOf: repeatElement(0, count: min(buffer.count, maxLineBytes)))
                }
            }
            let n = buffer.withUnsafeMutableBufferPointer { b in read(fd, b.baseAddress! + end, b.count - end) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "read error: \(String(cString: strerror(errno)))"])
            }
            if n == 0 { eof = true } else { end += n; bytesRead += Int64(n) }
        }
    }

    private func nextMappedLine<T>(_ map: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T? {
        guard start < map.count else { return nil }
        let base = map.baseAddress!
        let s = start
        // Lines already handed out leave the process's resident set (they stay in the page cache), so a
        // mapped file costs a few MiB of RSS, not its size.
        if s - released >= 8 << 20 {
            let upTo = s & ~(Int(getpagesize()) - 1)
            _ = madvise(UnsafeMutableRawPointer(mutating: base + released), upTo - released, MADV_DONTNEED)
            released = upTo
        }
        if s >= populated - (1 << 20) && populated < map.count {
            // Fault the next 4 MiB in with one call (MADV_POPULATE_READ, Linux 5.14) instead of one page
            // fault per 64 KiB as the lines are read; on older kernels the call fails and faults happen as before.
            let from = populated & ~(Int(getpagesize()) - 1)
            let upTo = min(map.count, max(s, populated) + (4 << 20))
            _ = madvise(UnsafeMutableRawPointer(mutating: base + from), upTo - from, 22 /* MADV_POPULATE_READ */)
            populated = upTo
        }
        var lineEnd = map.count
        if let p = memchr(base + s, 10, map.count - s) {
            lineEnd = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
            start = lineEnd + 1
        } else {
            start = map.count
        }
        bytesRead = Int64(start)
        if lineEnd > s && base[lineEnd - 1] == 13 { lineEnd -= 1 }
        lastLineLength = lineEnd - s
        if lastLineLength > maxLineBytes {
            lastLineTruncated = true
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        return try body(UnsafeBufferPointer(start: base + s, count: lineEnd - s))
    }

    /// The next line as an array (convenience for tools; the hot paths use `nextLine`).
    public func next() throws -> [UInt8]? {
        try nextLine { Array($0) }
    }

    private func findNewline() -> Int? {
        guard start < end else { return nil }
        return buffer.withUnsafeBufferPointer { b -> Int? in
            guard let p = memchr(b.baseAddress! + start, 10, end - start) else { return nil }
            return b.baseAddress!.distance(to: p.assumingMemoryBound(to: UInt8.self))
        }
    }
}
