import Foundation
import Logging

/// How often and how patiently a WebHDFS step is retried. Delays grow exponentially from
/// `baseDelay` (doubling) up to `maxDelay`, with jitter in the upper half so clients restarted
/// together do not retry in lockstep.
public struct WebHDFSRetryPolicy: Sendable, Equatable {
    /// Total tries per step, the first included (1 = no retry).
    public var attempts: Int
    public var baseDelay: HTDuration
    public var maxDelay: HTDuration

    public init(attempts: Int = 6, baseDelay: HTDuration = HTDuration(millis: 200), maxDelay: HTDuration = .seconds(10)) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static let none = WebHDFSRetryPolicy(attempts: 1)

    /// The pause before try number `attempt + 1` (attempt counts from 1).
    public func delay(afterAttempt attempt: Int) -> HTDuration {
        let shift = min(attempt - 1, 30)
        let full = min(maxDelay.millis, baseDelay.millis.multipliedReportingOverflow(by: Int64(1) << shift).partialValue)
        let half = full / 2
        return HTDuration(millis: half + (half > 0 ? Int64.random(in: 0...half) : 0))
    }
}

/// Who the requests act as. Hadoop's "simple" auth (`user.name=`) or a delegation token
/// (`delegation=`), which is a credential: it comes from a file through `SecretStore` and is
/// never logged (URLs in logs and errors show `delegation=<redacted>`).
public enum WebHDFSAuth: Sendable, CustomStringConvertible {
    case none
    case user(String)
    case delegationToken(Secret)

    /// Loads a delegation token: `file`, else `$CREDENTIALS_DIRECTORY/webhdfs-delegation-token`,
    /// else `/run/secrets/webhdfs-delegation-token`.
    public static func delegationToken(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WebHDFSAuth {
        .delegationToken(try SecretStore.load(name: "webhdfs-delegation-token", file: file, environment: environment))
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .user(let u): return "user.name=\(u)"
        case .delegationToken: return "delegation token <redacted>"
        }
    }
}

public struct WebHDFSOptions: Sendable {
    public var auth: WebHDFSAuth
    /// PEM bundle to verify `swebhdfs://` servers with instead of the system store. Verification is
    /// always on.
    public var caFile: String?
    public var connectTimeout: HTDuration
    /// Bound on one HTTP exchange (headers and body).
    public var requestTimeout: HTDuration
    public var retry: WebHDFSRetryPolicy
    /// Ask CREATE/OPEN for `noredirect=true`: the namenode answers 200 `{"Location": ...}` instead of
    /// 307 (for proxies that mangle redirects).
    public var noRedirect: Bool

    public init(auth: WebHDFSAuth = .none, caFile: String? = nil, connectTimeout: HTDuration = .seconds(5),
                requestTimeout: HTDuration = .seconds(60), retry: WebHDFSRetryPolicy = WebHDFSRetryPolicy(),
                noRedirect: Bool = false) {
        self.auth = auth; self.caFile = caFile; self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout; self.retry = retry; self.noRedirect = noRedirect
    }
}

/// A blocking WebHDFS client (Hadoop's REST API at `/webhdfs/v1`) on libcurl, for sinkd's own thread.
///
/// Paths are absolute HDFS paths, or relative ones resolved against the URL's path. Calls are
/// serialized on one curl handle (its connection is reused). Transient failures (5xx, timeouts,
/// refused or reset connections, RetriableException/StandbyException) are retried per
/// `WebHDFSOptions.retry` for steps that are safe to repeat; see each method.
public final class WebHDFSClient: @unchecked Sendable {
    public let url: WebHDFSURL
    public let options: WebHDFSOptions
    private let logger: Logger?
    private let transport: WebHDFSTransport
    private let lock = NSLock()

    public init(url: WebHDFSURL, options: WebHDFSOptions = WebHDFSOptions(), logger: Logger? = nil) {
        self.url = url
        self.options = options
        self.logger = logger
        transport = WebHDFSTransport(connectTimeoutMs: Int(options.connectTimeout.millis),
                                     totalTimeoutMs: Int(options.requestTimeout.millis), caFile: options.caFile)
    }

    public convenience init(_ text: String, options: WebHDFSOptions = WebHDFSOptions(), logger: Logger? = nil) throws {
        self.init(url: try WebHDFSURL(parsing: text), options: options, logger: logger)
    }

    // MARK: operations

    /// MKDIRS: creates the directory and missing parents; succeeds when it already exists.
    /// Idempotent, retried. A file in the way fails with `.remote(FileAlreadyExistsException...)`
    /// or `ParentNotDirectoryException`.
    public func mkdirs(_ path: String, permission: String? = nil) throws {
        var q = [("op", "MKDIRS")]
        if let permission { q.append(("permission", permission)) }
        let ok = try retrying("MKDIRS", path) { try booleanCall(.put, path, q) }
        guard ok else { throw WebHDFSError.badResponse("MKDIRS \(resolve(path)) answered false") }
    }

    /// The two-step CREATE: PUT `op=CREATE` to the namenode without a body, which answers
    /// `307` with the datanode URL in `Location` (or `200 {"Location": ...}` with `noredirect`);
    /// then PUT the bytes there, which answers `201 Created`.
    ///
    /// Retries: with `overwrite: true` the whole two-step exchange is repeated on transient failures,
    /// each retry replacing whatever a broken attempt left, so write to a temporary name and
    /// `rename` it into place. With `overwrite: false` the datanode step is retried only when the
    /// connection was never made (a broken upload may have created the file; a retry would then
    /// report FileAlreadyExistsException for our own partial file).
    public func create(_ path: String, data: [UInt8], overwrite: Bool) throws {
        let full = resolve(path)
        var q = [("op", "CREATE"), ("overwrite", overwrite ? "true" : "false")]
        if options.noRedirect { q.append(("noredirect", "true")) }
        try retrying("CREATE", full, retryIf: { err in overwrite || Self.failedBeforeDatanodeWrite(err) }) {
            let target = try redirectTarget(.put, full, q, op: "CREATE")
            let r: WebHDFSTransport.Response
            // A fresh connection: an upload cannot be silently re-sent, and a dead pooled connection
            // would otherwise fail it for nothing.
            do { r = try transport.perform(.put, url: target, body: data, fresh: true) } catch let e as WebHDFSError {
                throw DatanodeStepError(error: e)
            }
            guard r.status == 201 else { throw DatanodeStepError(error: Self.failure(r)) }
        }
    }

    /// RENAME `from` to `to`. HDFS answers `{"boolean": false}` when the destination exists (as a
    /// file), its parent is missing, or the source is missing; that becomes
    /// `WebHDFSError.renameRefused` and nothing is overwritten. Returns true (discardable) on success.
    /// As in HDFS, a destination that is an existing directory receives the source inside it.
    ///
    /// Retried on transient failures. When a retry is refused but the source is gone and the
    /// destination exists, the earlier attempt did succeed (its answer was lost), and that counts as
    /// success: callers rename unique temporary names, so the destination is theirs.
    @discardableResult
    public func rename(from: String, to: String) throws -> Bool {
        let src = resolve(from), dst = resolve(to)
        var attempt = 0
        let ok = try retrying("RENAME", src) { () throws(WebHDFSError) -> Bool in
            attempt += 1
            return try booleanCall(.put, src, [("op", "RENAME"), ("destination", dst)], fresh: true)
        }
        if ok { return true }
        if attempt > 1, try getFileStatus(src) == nil, try getFileStatus(dst) != nil { return true }
        throw WebHDFSError.renameRefused(from: src, to: dst)
    }

    /// The commit sequence sinkd needs, in one call: CREATE `temporary` (overwrite, so retries are
    /// safe), MKDIRS the final directory, RENAME into `final`. A partial file is only ever visible
    /// under `temporary` (keep temporaries outside the table, e.g. `<root>/_tmp/`). If the rename is
    /// refused (`final` exists) the temporary file is deleted and `.renameRefused` is thrown: the
    /// existing file is never replaced.
    public func publish(_ data: [UInt8], to final: String, via temporary: String) throws {
        let dst = resolve(final)
        try create(temporary, data: data, overwrite: true)
        let parent = String(dst[..<(dst.lastIndex(of: "/") ?? dst.startIndex)])
        if !parent.isEmpty { try mkdirs(parent) }
        do {
            try rename(from: temporary, to: dst)
        } catch let e as WebHDFSError {
            if case .renameRefused = e { _ = try? delete(temporary, recursive: false) }
            throw e
        }
    }

    /// LISTSTATUS: the entries of a directory (a file lists as itself with an empty pathSuffix).
    /// A missing directory throws `.remote(exception: "FileNotFoundException", status: 404)`.
    public func listStatus(_ dir: String) throws -> [WebHDFSFileStatus] {
        try retrying("LISTSTATUS", dir) { () throws(WebHDFSError) -> [WebHDFSFileStatus] in
            let o = try jsonCall(.get, dir, [("op", "LISTSTATUS")])
            guard let fss = o["FileStatuses"] as? [String: Any], let arr = fss["FileStatus"] as? [Any] else {
                throw WebHDFSError.badResponse("LISTSTATUS: no FileStatuses.FileStatus array")
            }
            var out: [WebHDFSFileStatus] = []
            out.reserveCapacity(arr.count)
            for e in arr {
                guard let d = e as? [String: Any], let s = WebHDFSFileStatus(json: d) else {
                    throw WebHDFSError.badResponse("LISTSTATUS: malformed FileStatus")
                }
                out.append(s)
            }
            return out
        }
    }

    /// GETFILESTATUS; nil when the path does not exist (404 FileNotFoundException).
    public func getFileStatus(_ path: String) throws -> WebHDFSFileStatus? {
        do {
            return try retrying("GETFILESTATUS", path) { () throws(WebHDFSError) -> WebHDFSFileStatus in
                let o = try jsonCall(.get, path, [("op", "GETFILESTATUS")])
                guard let d = o["FileStatus"] as? [String: Any], let s = WebHDFSFileStatus(json: d) else {
                    throw WebHDFSError.badResponse("GETFILESTATUS: no FileStatus object")
                }
                return s
            }
        } catch let e as WebHDFSError where e.isNotFound {
            return nil
        }
    }

    /// DELETE; returns false when there was nothing to delete. A non-empty directory without
    /// `recursive` fails with PathIsNotEmptyDirectoryException. Retried (a retry after a lost answer
    /// returns false).
    @discardableResult
    public func delete(_ path: String, recursive: Bool) throws -> Bool {
        try retrying("DELETE", path) { () throws(WebHDFSError) -> Bool in
            try booleanCall(.delete, path, [("op", "DELETE"), ("recursive", recursive ? "true" : "false")])
        }
    }

    /// OPEN: reads `length` bytes (all to the end when nil) from `offset`, following the redirect to
    /// the datanode. Used to read Parquet footers. Retried.
    public func open(_ path: String, offset: Int64 = 0, length: Int64? = nil) throws -> [UInt8] {
        let full = resolve(path)
        var q = [("op", "OPEN"), ("offset", String(offset))]
        if let length { q.append(("length", String(length))) }
        if options.noRedirect { q.append(("noredirect", "true")) }
        return try retrying("OPEN", full) { () throws(WebHDFSError) -> [UInt8] in
            let target = try redirectTarget(.get, full, q, op: "OPEN")
            let r = try transport.perform(.get, url: target, body: nil)
            guard r.status == 200 else { throw Self.failure(r) }
            if let length, r.body.count > length {
                throw WebHDFSError.badResponse("OPEN returned \(r.body.count) bytes for length=\(length)")
            }
            return r.body
        }
    }

    // MARK: plumbing

    public func resolve(_ path: String) -> String { url.resolve(path) }

    /// `http(s)://nn/webhdfs/v1/<path>?op=...&user.name=...` with everything percent-encoded.
    func requestURL(_ path: String, _ query: [(String, String)]) -> String {
        var s = url.restBase + WebHDFSPath.encodePath(resolve(path)) + "?"
        var params = query
        switch options.auth {
        case .none: break
        case .user(let u): params.append(("user.name", u))
        case .delegationToken(let t): params.append(("delegation", t.reveal()))
        }
        s += params.map { "\($0.0)=\(WebHDFSPath.encodeQueryValue($0.1))" }.joined(separator: "&")
        return s
    }

    /// Marks a failure of the datanode step, so `create(overwrite: false)` can tell it apart.
    private struct DatanodeStepError: Error { let error: WebHDFSError }

    private static func failedBeforeDatanodeWrite(_ e: Error) -> Bool {
        if let d = e as? DatanodeStepError {
            if case .connectFailed = d.error { return true }
            return false
        }
        return true
    }

    /// Step one of CREATE/OPEN: the datanode URL from the namenode's 307 (or noredirect 200 JSON).
    private func redirectTarget(_ method: WebHDFSTransport.Method, _ full: String, _ q: [(String, String)], op: String) throws(WebHDFSError) -> String {
        let r = try transport.perform(method, url: requestURL(full, q), body: nil)
        let location: String
        if options.noRedirect && r.status == 200 {
            guard let o = Self.parseObject(r.body), let l = o["Location"] as? String else {
                throw WebHDFSError.badRedirect("\(op) noredirect answer has no Location")
            }
            location = l
        } else if r.status == 307 {
            guard let l = r.location, !l.isEmpty else { throw WebHDFSError.badRedirect("\(op) 307 without Location") }
            location = l
        } else if r.status >= 300 && r.status < 400 {
            throw WebHDFSError.badRedirect("\(op) answered \(r.status), expected 307 Temporary Redirect")
        } else if r.status < 300 {
            throw WebHDFSError.badRedirect("\(op) answered \(r.status) without redirecting to a datanode")
        } else {
            throw Self.failure(r)
        }
        let lower = location.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw WebHDFSError.badRedirect("\(op) Location is not an HTTP URL: \(WebHDFSPath.redact(location))")
        }
        if url.secure && !lower.hasPrefix("https://") {
            throw WebHDFSError.badRedirect("\(op) redirect downgrades HTTPS to HTTP: \(WebHDFSPath.redact(location))")
        }
        return location
    }

    private func jsonCall(_ method: WebHDFSTransport.Method, _ path: String, _ q: [(String, String)], fresh: Bool = false) throws(WebHDFSError) -> [String: Any] {
        let r = try transport.perform(method, url: requestURL(path, q), body: nil, fresh: fresh)
        guard r.status == 200 else { throw Self.failure(r) }
        guard let o = Self.parseObject(r.body) else {
            throw WebHDFSError.badResponse("\(q.first?.1 ?? "?"): body is not a JSON object")
        }
        return o
    }

    private func booleanCall(_ method: WebHDFSTransport.Method, _ path: String, _ q: [(String, String)], fresh: Bool = false) throws(WebHDFSError) -> Bool {
        let o = try jsonCall(method, path, q, fresh: fresh)
        guard let b = o["boolean"] as? Bool else {
            throw WebHDFSError.badResponse("\(q.first?.1 ?? "?"): no \"boolean\" in the answer")
        }
        return b
    }

    private static func parseObject(_ body: [UInt8]) -> [String: Any]? {
        guard !body.isEmpty else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// A non-success answer as a typed error: the RemoteException when there is one.
    static func failure(_ r: WebHDFSTransport.Response) -> WebHDFSError {
        if let o = parseObject(r.body), let re = o["RemoteException"] as? [String: Any] {
            let name = re["exception"] as? String
                ?? (re["javaClassName"] as? String).map { String($0.split(separator: ".").last ?? "") } ?? "RemoteException"
            return .remote(exception: name, message: re["message"] as? String ?? "", status: r.status)
        }
        return .http(status: r.status)
    }

    /// Runs one step with the retry policy. `retryIf` narrows which retryable failures repeat it.
    private func retrying<T>(_ op: String, _ path: String, retryIf: (Error) -> Bool = { _ in true },
                             _ body: () throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        let attempts = options.retry.attempts
        var attempt = 1
        while true {
            do { return try body() } catch {
                let e: WebHDFSError
                if let d = error as? DatanodeStepError { e = d.error } else if let w = error as? WebHDFSError { e = w } else { throw error }
                guard e.isRetryable, retryIf(error) else { throw e }
                guard attempt < attempts else {
                    if attempts == 1 { throw e }
                    logger?.error("WebHDFS \(op) failed, giving up", metadata: ["path": "\(resolve(path))", "attempts": "\(attempt)", "error": "\(e)"])
                    throw WebHDFSError.retriesExhausted(attempts: attempt, last: e)
                }
                let pause = options.retry.delay(afterAttempt: attempt)
                logger?.warning("WebHDFS \(op) failed, retrying", metadata: [
                    "path": "\(resolve(path))", "attempt": "\(attempt)", "delay": "\(pause)", "error": "\(e)"])
                if pause.millis > 0 { usleep(UInt32(min(pause.millis, 3_600_000) * 1000)) }
                attempt += 1
            }
        }
    }
}
