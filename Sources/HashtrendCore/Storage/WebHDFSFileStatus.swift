import Foundation

/// One `FileStatus` JSON object (GETFILESTATUS, or an element of LISTSTATUS's
/// `FileStatuses.FileStatus[]`). Times are milliseconds since the epoch, as HDFS sends them.
public struct WebHDFSFileStatus: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable { case file = "FILE", directory = "DIRECTORY", symlink = "SYMLINK" }

    /// The name inside the listed directory; empty for GETFILESTATUS (and LISTSTATUS of a file).
    public var pathSuffix: String
    public var type: Kind
    public var length: Int64
    public var modificationTime: Int64
    public var accessTime: Int64
    /// Octal, as sent: `"644"`.
    public var permission: String
    public var owner: String
    public var group: String
    public var replication: Int
    public var blockSize: Int64
    /// Not sent by old namenodes.
    public var childrenNum: Int?
    public var fileId: Int64?

    public init(pathSuffix: String, type: Kind, length: Int64, modificationTime: Int64, accessTime: Int64 = 0,
                permission: String = "", owner: String = "", group: String = "", replication: Int = 0,
                blockSize: Int64 = 0, childrenNum: Int? = nil, fileId: Int64? = nil) {
        self.pathSuffix = pathSuffix; self.type = type; self.length = length
        self.modificationTime = modificationTime; self.accessTime = accessTime; self.permission = permission
        self.owner = owner; self.group = group; self.replication = replication; self.blockSize = blockSize
        self.childrenNum = childrenNum; self.fileId = fileId
    }

    public var isDirectory: Bool { type == .directory }

    /// Parses one FileStatus object; nil when a required field (pathSuffix, type) is missing or wrong.
    init?(json o: [String: Any]) {
        guard let suffix = o["pathSuffix"] as? String,
              let typeText = o["type"] as? String, let kind = Kind(rawValue: typeText) else { return nil }
        func int64(_ k: String) -> Int64? { (o[k] as? NSNumber)?.int64Value }
        self.init(pathSuffix: suffix, type: kind, length: int64("length") ?? 0,
                  modificationTime: int64("modificationTime") ?? 0, accessTime: int64("accessTime") ?? 0,
                  permission: o["permission"] as? String ?? "", owner: o["owner"] as? String ?? "",
                  group: o["group"] as? String ?? "", replication: Int(int64("replication") ?? 0),
                  blockSize: int64("blockSize") ?? 0, childrenNum: int64("childrenNum").map { Int($0) },
                  fileId: int64("fileId"))
    }
}
