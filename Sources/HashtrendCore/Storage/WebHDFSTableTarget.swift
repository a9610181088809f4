import Foundation

/// The trends table on HDFS through WebHDFS: the TableTarget protocol mapped onto WebHDFSClient.
/// Paths are relative to the root URL's path.
public final class WebHDFSTableTarget: TableTarget, @unchecked Sendable {
    let client: WebHDFSClient
    public var location: String { "\(client.url.secure ? "swebhdfs" : "webhdfs")://\(client.url.host):\(client.url.port)\(client.url.path)" }

    public init(client: WebHDFSClient) { self.client = client }

    /// From sinkd's settings: `--root`, `--hdfs-user`, `--hdfs-token-file` (or the
    /// `webhdfs-delegation-token` credential when present).
    static func make(root: String, configuration c: Configuration?) throws -> any TableTarget {
        var options = WebHDFSOptions()
        let user = c?.string("hdfs-user") ?? ""
        let tokenFile = c?.string("hdfs-token-file") ?? ""
        let credentialsDir = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"]
        let hasCredential = credentialsDir.map { FileManager.default.fileExists(atPath: $0 + "/webhdfs-delegation-token") } ?? false
        if !tokenFile.isEmpty || hasCredential {
            options.auth = try WebHDFSAuth.delegationToken(file: tokenFile.isEmpty ? nil : tokenFile)
        } else if !user.isEmpty {
            options.auth = .user(user)
        }
        let client = try WebHDFSClient(root, options: options)
        let target = WebHDFSTableTarget(client: client)
        try client.mkdirs("")
        return target
    }

    private func map<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as WebHDFSError {
            if e.isAlreadyExists { throw TableTargetError.alreadyExists("\(e)") }
            if e.isNotFound { throw TableTargetError.notFound("\(e)") }
            if case .renameRefused(_, let to) = e { throw TableTargetError.alreadyExists(to) }
            throw TableTargetError.io("\(e)")
        }
    }

    public func makeDirectories(_ path: String) throws { try map { try client.mkdirs(path) } }

    public func createFile(_ path: String, bytes: [UInt8]) throws {
        try map {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty { try client.mkdirs(parent) }
            try client.create(path, data: bytes, overwrite: false)
        }
    }

    public func rename(_ from: String, to: String) throws {
        try map {
            if try client.getFileStatus(to) != nil { throw TableTargetError.alreadyExists(to) }
            let parent = (to as NSString).deletingLastPathComponent
            if !parent.isEmpty { try client.mkdirs(parent) }
            _ = try client.rename(from: from, to: to)
        }
    }

    public func listFiles(under path: String) throws -> [String] {
        var out: [String] = []
        func walk(_ dir: String) throws {
            let entries: [WebHDFSFileStatus]
            do { entries = try client.listStatus(dir) } catch let e as WebHDFSError where e.isNotFound { return }
            for e in entries {
                let child = dir.isEmpty ? e.pathSuffix : dir + "/" + e.pathSuffix
                switch e.type {
                case .directory: try walk(child)
                case .file: out.append(child)
                default: break
                }
            }
        }
        try map { try walk(path) }
        return out.sorted()
    }

    public func delete(_ path: String) throws { try map { _ = try client.delete(path, recursive: false) } }

    public func fileSize(_ path: String) throws -> Int64 {
        try map {
            guard let s = try client.getFileStatus(path) else { throw TableTargetError.notFound(path) }
            return s.length
        }
    }

    public func read(_ path: String, offset: Int64, length: Int) throws -> [UInt8] {
        try map { try client.open(path, offset: offset, length: Int64(length)) }
    }
}
