import Foundation

/// Everything a WebHDFS call can fail with. Server-side failures keep Hadoop's exception name
/// (`FileAlreadyExistsException`, `FileNotFoundException`, `AccessControlException`, ...) so callers
/// decide on names, not on message text.
public indirect enum WebHDFSError: Error, Equatable, CustomStringConvertible {
    /// The `webhdfs://` URL could not be parsed.
    case invalidURL(String)
    /// A RemoteException body: `{"RemoteException":{"exception":...,"javaClassName":...,"message":...}}`.
    case remote(exception: String, message: String, status: Int)
    /// An HTTP status the operation does not expect, without a RemoteException body.
    case http(status: Int)
    /// The TCP connection could not be established (refused, unreachable, DNS): nothing was sent,
    /// so every step may be retried.
    case connectFailed(String)
    /// The connection broke after the request may have been (partly) sent: reset, empty reply, short body.
    case network(String)
    /// The connect or total timeout passed.
    case timeout
    /// TLS setup or certificate verification failed (not retried: it will not fix itself).
    case tls(String)
    /// CREATE/OPEN did not redirect as the protocol says (no Location, a non-HTTP URL, an HTTPS to
    /// HTTP downgrade).
    case badRedirect(String)
    /// A 2xx answer whose body is not the JSON the operation defines.
    case badResponse(String)
    /// RENAME answered `{"boolean": false}`: the destination exists, its parent is missing, or the
    /// source is missing. HDFS never overwrites on RENAME and neither do we.
    case renameRefused(from: String, to: String)
    /// Every attempt failed with a retryable error; `last` is the final one.
    case retriesExhausted(attempts: Int, last: WebHDFSError)

    /// HDFS's FileNotFoundException (HTTP 404).
    public var isNotFound: Bool {
        switch self {
        case .remote(let e, _, let status): return e == "FileNotFoundException" || status == 404
        case .http(let status): return status == 404
        case .retriesExhausted(_, let last): return last.isNotFound
        default: return false
        }
    }

    /// FileAlreadyExistsException (CREATE with overwrite=false on an existing file).
    public var isAlreadyExists: Bool {
        if case .remote(let e, _, _) = self { return e == "FileAlreadyExistsException" }
        return false
    }

    /// Exceptions HDFS itself marks as "try again" (a standby or starting namenode).
    static let retriableExceptions: Set<String> = ["RetriableException", "StandbyException", "SafeModeException"]

    /// Whether the failure is transient: 5xx, timeouts, broken or refused connections, and HDFS's
    /// retriable exceptions. 4xx answers (bad request, permission, not found, already exists) are final.
    public var isRetryable: Bool {
        switch self {
        case .remote(let e, _, let status): return status >= 500 || Self.retriableExceptions.contains(e)
        case .http(let status): return status >= 500
        case .connectFailed, .network, .timeout: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let s): return "invalid WebHDFS URL: \(s)"
        case .remote(let e, let m, let s): return "WebHDFS \(s) \(e): \(m)"
        case .http(let s): return "WebHDFS: unexpected HTTP status \(s)"
        case .connectFailed(let s): return "WebHDFS: cannot connect: \(s)"
        case .network(let s): return "WebHDFS: connection failed: \(s)"
        case .timeout: return "WebHDFS: timed out"
        case .tls(let s): return "WebHDFS: TLS: \(s)"
        case .badRedirect(let s): return "WebHDFS: bad redirect: \(s)"
        case .badResponse(let s): return "WebHDFS: bad response: \(s)"
        case .renameRefused(let f, let t):
            return "WebHDFS: rename \(f) -> \(t) refused (destination exists, its parent is missing, or the source is gone)"
        case .retriesExhausted(let n, let last): return "WebHDFS: gave up after \(n) attempts: \(last)"
        }
    }
}
