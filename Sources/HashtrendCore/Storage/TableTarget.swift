#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file store for the trends table: a local directory (LocalTableTarget) or HDFS over WebHDFS.
/// Paths are relative to the target's root, `/`-separated, never starting with `/`.
///
/// What the committed-file protocol needs from an implementation:
/// - `createFile` makes a new file whose bytes are durable when it returns (fsync / HDFS close);
/// - `rename` never replaces an existing file (it throws `.alreadyExists`) and is atomic: the file is
///   either wholly under the old name or wholly under the new one; when it returns the new name is durable;
/// - `listFiles` shows only complete renames.
public protocol TableTarget: Sendable {
    /// For logs, e.g. `file:///var/lib/hashtrend` or `webhdfs://namenode:9870/hashtrend`.
    var location: String { get }
    /// `mkdir -p`, durable.
    func makeDirectories(_ path: String) throws
    /// Creates `path` (failing if it exists), writes `bytes`, makes them durable.
    func createFile(_ path: String, bytes: [UInt8]) throws
    /// Atomic rename without replace; creates missing parent directories of `to`.
    func rename(_ from: String, to: String) throws
    /// Regular files under `path`, recursively, as root-relative paths; empty when `path` does not exist.
    func listFiles(under path: String) throws -> [String]
    /// Deletes a file; deleting a missing file is not an error.
    func delete(_ path: String) throws
    func fileSize(_ path: String) throws -> Int64
    func read(_ path: String, offset: Int64, length: Int) throws -> [UInt8]
}

public enum TableTargetError: Error, Equatable, CustomStringConvertible {
    case alreadyExists(String)
    case notFound(String)
    case io(String)

    public var description: String {
        switch self {
        case .alreadyExists(let p): return "\(p) already exists (refusing to overwrite)"
        case .notFound(let p): return "\(p) not found"
        case .io(let m): return m
        }
    }
}

extension TableTarget {
    /// Reads a Parquet file's footer (two small reads: trailer, then the FileMetaData).
    public func readParquetFooter(_ path: String) throws -> ParquetFileMetadata {
        let size = try fileSize(path)
        guard size >= 12 else { throw ParquetFormatError("\(path): \(size) bytes is too short for Parquet") }
        let trailer = try read(path, offset: size - 8, length: 8)
        guard trailer.count == 8 else { throw ParquetFormatError("\(path): short read of the trailer") }
        let len = Int64(UInt32(trailer[0]) | UInt32(trailer[1]) << 8 | UInt32(trailer[2]) << 16 | UInt32(trailer[3]) << 24)
        guard len + 12 <= size else { throw ParquetFormatError("\(path): footer length \(len) exceeds the file") }
        let footer = try read(path, offset: size - 8 - len, length: Int(len))
        return try ParquetFooter.read(fileTail: footer + trailer)
    }
}

/// A local directory. Uses POSIX calls directly for their durability semantics: fsync of files and of
/// the directories whose entries change, and link(2) for a rename that refuses to replace.
public struct LocalTableTarget: TableTarget {
    public let root: String

    public init(root: String) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    public var location: String { "file://" + root }

    private func full(_ path: String) -> String { path.isEmpty ? root : root + "/" + path }

    private static func parent(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "" }
        return String(path[..<i])
    }

    private func fail(_ op: String, _ path: String, _ code: Int32 = errno) -> TableTargetError {
        if code == EEXIST { return .alreadyExists(path) }
        if code == ENOENT { return .notFound(path) }
        return .io("\(op) \(full(path)): \(String(cString: strerror(code)))")
    }

    /// fsync on a directory makes its entries (new files, renames) durable.
    private func syncDirectory(_ path: String) throws {
        let fd = open(full(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw fail("open", path) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw fail("fsync", path) }
    }

    public func makeDirectories(_ path: String) throws {
        var created: [String] = []
        var current = ""
        var st = stat()
        if stat(root, &st) != 0 {
            // The root itself: create it and its missing ancestors (absolute or relative path).
            var prefix = root.hasPrefix("/") ? "" : "."
            for part in root.split(separator: "/") where !part.isEmpty {
                prefix += "/" + part
                if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw fail("mkdir", prefix) }
            }
        }
        for part in path.split(separator: "/") where !part.isEmpty {
            current = current.isEmpty ? String(part) : current + "/" + part
            if mkdir(full(current), 0o755) == 0 {
                created.append(current)
            } else if errno != EEXIST {
                throw fail("mkdir", current)
            }
        }
        for c in created { try syncDirectory(Self.parent(c)) }
    }

    public func createFile(_ path: String, bytes: [UInt8]) throws {
        try makeDirectories(Self.parent(path))
        let fd = open(full(path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw fail("create", path) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(full(path)) }
        }
        var off = 0
        try bytes.withUnsafeBytes { b in
            while off < b.count {
                let n = write(fd, b.baseAddress! + off, b.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("write", path)
                }
                off += n
            }
        }
        if fsync(fd) != 0 { throw fail("fsync", path) }
        ok = true
    }

    public func rename(_ from: String, to: String) throws {
        let toDir = Self.parent(to)
        try makeDirectories(toDir)
        // link(2) fails with EEXIST instead of replacing: the no-overwrite rule holds even against a
        // concurrent writer. The moment both names exist is harmless (temp files are swept on recovery).
        if link(full(from), full(to)) == 0 {
            try syncDirectory(toDir)
            if unlink(full(from)) != 0 { throw fail("unlink", from) }
            try syncDirectory(Self.parent(from))
            return
        }
        let code = errno
        guard code == EPERM || code == ENOTSUP || code == EOPNOTSUPP || code == EXDEV else { throw fail("link", to, code) }
        // File systems without hard links: check, then rename (not atomic against a concurrent writer).
        var st = stat()
        if lstat(full(to), &st) == 0 { throw TableTargetError.alreadyExists(to) }
        if Glibc.rename(full(from), full(to)) != 0 { throw fail("rename", to) }
        try syncDirectory(toDir)
        try syncDirectory(Self.parent(from))
    }

    public func listFiles(under path: String) throws -> [String] {
        var out: [String] = []
        try walk(path, into: &out)
        return out.sorted()
    }

    private func walk(_ path: String, into out: inout [String]) throws {
        guard let dir = opendir(full(path)) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw fail("opendir", path)
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            let rel = path.isEmpty ? name : path + "/" + name
            var st = stat()
            guard lstat(full(rel), &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try walk(rel, into: &out)
            } else if (st.st_mode & S_IFMT) == S_IFREG {
                out.append(rel)
            }
        }
    }

    public func delete(_ path: String) throws {
        if unlink(full(path)) != 0 && errno != ENOENT { throw fail("unlink", path) }
    }

    public func fileSize(_ path: String) throws -> Int64 {
        var st = stat()
        if stat(full(path), &st) != 0 { throw fail("stat", path) }
        return Int64(st.st_size)
    }

    public func read(_ path: String, offset: Int64, length: Int) throws -> [UInt8] {
        let fd = open(full(path), O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw fail("open", path) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: length)
        var got = 0
        try out.withUnsafeMutableBytes { b in
            while got < length {
                let n = pread(fd, b.baseAddress! + got, length - got, off_t(offset) + off_t(got))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("read", path)
                }
                if n == 0 { break }
                got += n
            }
        }
        out.removeLast(length - got)
        return out
    }
}
