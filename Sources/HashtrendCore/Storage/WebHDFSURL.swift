import Foundation

/// Hadoop's own URI for WebHDFS: `webhdfs://host:port/path` (plain HTTP) or `swebhdfs://host:port/path`
/// (HTTPS). The REST endpoint is `http(s)://host:port/webhdfs/v1<path>?op=...`. The path is the
/// directory relative paths given to `WebHDFSClient` resolve against (the table root for sinkd).
public struct WebHDFSURL: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// true for `swebhdfs://` (HTTPS with certificate verification).
    public let secure: Bool
    public let host: String
    public let port: Int
    /// Absolute, normalized (no `//`, no trailing `/` except the root itself), percent-decoded.
    public let path: String

    /// Hadoop 3's namenode HTTP(S) ports (`dfs.namenode.http-address` / `https-address`).
    public static let defaultPort = 9870
    public static let defaultSecurePort = 9871
    /// The REST prefix every WebHDFS request path starts with.
    public static let restPrefix = "/webhdfs/v1"

    public init(secure: Bool, host: String, port: Int, path: String = "/") {
        self.secure = secure
        self.host = host
        self.port = port
        self.path = WebHDFSPath.normalize(path)
    }

    public init(parsing text: String) throws {
        let scheme: String
        let rest: Substring
        if text.hasPrefix("webhdfs://") {
            scheme = "webhdfs"; rest = text.dropFirst("webhdfs://".count)
        } else if text.hasPrefix("swebhdfs://") {
            scheme = "swebhdfs"; rest = text.dropFirst("swebhdfs://".count)
        } else {
            throw WebHDFSError.invalidURL("\(text): the scheme must be webhdfs:// or swebhdfs://")
        }
        guard !text.contains("?"), !text.contains("#") else {
            throw WebHDFSError.invalidURL("\(text): a query or fragment is not allowed")
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[rest.startIndex..<slash]
        let rawPath = rest[slash...]
        guard !authority.isEmpty else { throw WebHDFSError.invalidURL("\(text): no host") }
        guard !authority.contains("@") else {
            throw WebHDFSError.invalidURL("\(text): user info does not belong in the URL (use --hdfs-user)")
        }
        let secure = scheme == "swebhdfs"
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            // IPv6 literal: [::1]:9870
            guard let close = authority.firstIndex(of: "]") else { throw WebHDFSError.invalidURL("\(text): unclosed [") }
            host = authority[authority.startIndex...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw WebHDFSError.invalidURL("\(text): bad authority") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[authority.startIndex..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw WebHDFSError.invalidURL("\(text): no host") }
        var port = secure ? Self.defaultSecurePort : Self.defaultPort
        if let portText {
            guard let p = Int(portText), p > 0, p < 65536 else {
                throw WebHDFSError.invalidURL("\(text): bad port '\(portText)'")
            }
            port = p
        }
        guard let decoded = String(rawPath).removingPercentEncoding else {
            throw WebHDFSError.invalidURL("\(text): bad percent-encoding in the path")
        }
        self.init(secure: secure, host: String(host), port: port, path: decoded.isEmpty ? "/" : decoded)
    }

    /// `http(s)://host:port/webhdfs/v1`
    public var restBase: String {
        "\(secure ? "https" : "http")://\(host):\(port)\(Self.restPrefix)"
    }

    /// `path` resolved against this URL's path when relative, then normalized.
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return WebHDFSPath.normalize(path) }
        return WebHDFSPath.normalize(self.path + "/" + path)
    }

    public var description: String { "\(secure ? "swebhdfs" : "webhdfs")://\(host):\(port)\(path)" }
}

/// Path helpers shared by the URL and the client.
enum WebHDFSPath {
    static func normalize(_ p: String) -> String {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }

    /// Percent-encodes a path for the request line: everything but RFC 3986 unreserved bytes and `/`.
    static func encodePath(_ p: String) -> String { encode(p, keepSlash: true) }

    /// Percent-encodes a query value (a `/` in `destination=` is encoded too, as Hadoop's client does).
    static func encodeQueryValue(_ v: String) -> String { encode(v, keepSlash: false) }

    private static func encode(_ s: String, keepSlash: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            let unreserved = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || (keepSlash && b == 0x2F)
            if unreserved { out.append(b) } else {
                out.append(0x25); out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hides a delegation token in a URL before it reaches a log line or an error.
    static func redact(_ url: String) -> String {
        guard let r = url.range(of: "delegation=") else { return url }
        let tail = url[r.upperBound...]
        let end = tail.firstIndex(of: "&") ?? url.endIndex
        return String(url[..<r.upperBound]) + "<redacted>" + String(url[end...])
    }
}
