import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads `\n`-separated lines from a file or stdin (`-`) in large blocks; `\r\n` endings lose the `\r`.
/// A line longer than `maxLineBytes` is returned truncated with `truncated` set, never buffered whole.
public final class LineReader {
    private let fd: Int32
    private let ownsFD: Bool
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var eof = false
    public let maxLineBytes: Int
    public private(set) var lastLineTruncated = false
    public private(set) var lastLineLength = 0
    public private(set) var bytesRead: Int64 = 0

    public init(path: String, maxLineBytes: Int = 64 << 20) throws {
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
        buffer = [UInt8](repeating: 0, count: 1 << 20)
    }

    deinit { if ownsFD { close(fd) } }

    /// Calls `body` with each line's bytes (valid only during the call): no per-line allocation.
    public func nextLine<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T? {
        lastLineTruncated = false
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
