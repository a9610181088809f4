import Foundation
import Logging
import Synchronization

/// Where a source stands, for logs, `STATUS=` and readiness (`READY=1` on the first `.connected`).
public enum StreamStatus: Sendable, Equatable {
    case connecting
    /// A 2xx response head arrived: the stream is open.
    case connected
    /// The connection ended; the next attempt starts after `delay` seconds.
    case reconnecting(delay: Double, reason: String)
    case stopped
}

/// Live figures of one source.
public struct StreamCounters: Sendable, Equatable {
    /// Connection attempts made.
    public var connects = 0
    /// Attempts that followed a failure.
    public var reconnects = 0
    /// Post lines delivered to `onLine` (X) or posts to `onPost` (Mastodon).
    public var lines = 0
    public var keepAlives = 0
    /// Body bytes received (after decompression).
    public var bytes: Int64 = 0
    /// Lines reported to `onBadLine` (oversized, not JSON, undecodable).
    public var badLines = 0
    /// Well-formed messages that are not posts (deletes, limits, other SSE events).
    public var ignored = 0
    /// Bytes of unfinished lines dropped because the connection ended mid-line.
    public var partialBytesDropped = 0
    public init() {}
}

/// The callbacks a source reports to. They run on the source's own thread, one at a time, in stream
/// order: keep them short (hand the bytes to a queue or the producer) or the stream falls behind.
public struct StreamHandlers: Sendable {
    /// One complete post line (X v2 or v1.1 JSON), terminator removed. The pointer is valid only
    /// during the call: copy what you keep.
    public var onLine: @Sendable (UnsafeBufferPointer<UInt8>) -> Void
    /// A post the source decoded itself (Mastodon).
    public var onPost: @Sendable (Post) -> Void
    /// A line that cannot be used: a reason, and the line's first bytes (for the dead-letter topic).
    public var onBadLine: @Sendable (_ reason: String, _ prefix: [UInt8]) -> Void
    public var onStatus: @Sendable (StreamStatus) -> Void

    public init(onLine: @escaping @Sendable (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
                onPost: @escaping @Sendable (Post) -> Void = { _ in },
                onBadLine: @escaping @Sendable (_ reason: String, _ prefix: [UInt8]) -> Void = { _, _ in },
                onStatus: @escaping @Sendable (StreamStatus) -> Void = { _ in }) {
        self.onLine = onLine
        self.onPost = onPost
        self.onBadLine = onBadLine
        self.onStatus = onStatus
    }
}

/// Settings every streaming source shares.
public struct StreamSettings: Sendable {
    /// No byte (keep-alives included) for this long means the connection is dead: reconnect.
    /// X sends `\r\n` at least every 20 s, Mastodon a comment about every 15 s.
    public var stallTimeout: Double = 30
    public var connectTimeout: Double = 10
    /// Longer lines go to `onBadLine` and are never buffered whole.
    public var maxLineBytes: Int = 1 << 20
    public var policy = ReconnectPolicy()
    public var verifyTLS = true
    public var userAgent = "hashtrend-ingestd/\(HashtrendVersion.string)"
    /// Beaten about once a second while the source's thread is alive (connected, idle or waiting
    /// to reconnect): pass the daemon's `Heartbeat` so the systemd watchdog follows this loop.
    public var heartbeat: Heartbeat?
    public init() {}
}

/// The common surface of the streaming sources, for the daemon's wiring.
public protocol PostStream: AnyObject, Sendable {
    /// `x2`, `x1` or `mastodon`: the `source` field of the posts.
    var sourceName: String { get }
    /// Connects and reconnects until `stop()`; blocks the calling thread. Throws `DaemonExit`
    /// (code 78) for what retrying cannot fix: rejected credentials, invalid configuration or rules.
    func run() throws
    /// Ends `run()` soon (within about a second), from any thread.
    func stop()
    var counters: StreamCounters { get }
}

extension PostStream {
    /// Runs `run()` on a dedicated OS thread (it blocks for the stream's lifetime, so it must stay
    /// off Swift's cooperative pool) and returns when it ends; task cancellation calls `stop()`.
    public func runOnDedicatedThread() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [self] in
                    do { try self.run(); cont.resume() } catch { cont.resume(throwing: error) }
                }
                thread.name = "ingest-\(sourceName)"
                thread.start()
            }
        } onCancel: { [self] in
            self.stop()
        }
    }
}

/// What a source's line handler decided about one line.
enum LineVerdict {
    case post
    case keepAlive
    case ignored
    case bad
    /// Part of a multi-line message (SSE field lines): nothing to count yet.
    case more
    /// End this connection and reconnect (a stream error object, a disconnect message).
    case disconnect(reason: String, failure: StreamFailure)
    case fatal(DaemonExit)
}

/// What to do about a non-2xx response.
enum HTTPErrorVerdict {
    case retry(StreamFailure, reason: String)
    case fatal(DaemonExit)
}

/// The reconnect loop shared by the sources: connect, feed lines to the source's handler, classify
/// how the connection ended, wait as `ReconnectPolicy` says, repeat until stopped.
final class StreamRunner: Sendable {
    let name: String
    let settings: StreamSettings
    let handlers: StreamHandlers
    let logger: Logger

    private struct State {
        var stopped = false
        var current: HTTPStream?
        var counters = StreamCounters()
    }
    private let state = Mutex(State())
    private let wake = NSCondition()

    init(name: String, settings: StreamSettings, handlers: StreamHandlers, logger: Logger) {
        self.name = name
        self.settings = settings
        self.handlers = handlers
        self.logger = logger
    }

    var counters: StreamCounters { state.withLock { $0.counters } }
    var isStopped: Bool { state.withLock { $0.stopped } }

    func stop() {
        let current = state.withLock { s -> HTTPStream? in
            s.stopped = true
            return s.current
        }
        current?.stop()
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    func count(_ update: (inout StreamCounters) -> Void) { state.withLock { update(&$0.counters) } }

    /// Sleeps up to `seconds`, beating the heartbeat every second; returns early (false) when stopped.
    func pause(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        wake.lock()
        defer { wake.unlock() }
        while !isStopped {
            settings.heartbeat?.beat()
            let now = Date()
            if now >= deadline { break }
            _ = wake.wait(until: min(deadline, now.addingTimeInterval(1)))
        }
        return !isStopped
    }

    /// The loop. `makeRequest` runs before every attempt (fresh OAuth nonce); `newConnection` gives
    /// a line handler with fresh per-connection state; `classify` judges non-2xx responses.
    func run(makeRequest: () throws -> HTTPRequest,
             newConnection: () -> (UnsafeBufferPointer<UInt8>) -> LineVerdict,
             classify: (HTTPResponseHead, [UInt8]) -> HTTPErrorVerdict) throws {
        var policy = settings.policy
        defer { handlers.onStatus(.stopped) }
        var attempt = 0
        while !isStopped {
            handlers.onStatus(.connecting)
            var request = try makeRequest()
            request.connectTimeout = settings.connectTimeout
            request.stallTimeout = settings.stallTimeout
            request.verifyTLS = settings.verifyTLS
            request.userAgent = settings.userAgent
            let http = HTTPStream(request: request, heartbeat: settings.heartbeat)
            let proceed = state.withLock { s -> Bool in
                guard !s.stopped else { return false }
                s.current = http
                s.counters.connects += 1
                if attempt > 0 { s.counters.reconnects += 1 }
                return true
            }
            guard proceed else { break }
            attempt += 1

            let handle = newConnection()
            var verdict: LineVerdict?
            var connectedAt: UInt64?
            var gotData = false
            let maxLine = settings.maxLineBytes
            let result = http.run(maxLineBytes: maxLine, onHead: { head in
                if head.isSuccess {
                    connectedAt = monotonicNanos()
                    logger.info("\(name): connected (HTTP \(head.status))")
                    handlers.onStatus(.connected)
                }
            }, onLine: { line in
                let v = handle(line)
                switch v {
                case .post:
                    gotData = true
                    count { $0.lines += 1 }
                    return true
                case .keepAlive: count { $0.keepAlives += 1 }; return true
                case .ignored: count { $0.ignored += 1 }; return true
                case .bad: count { $0.badLines += 1 }; return true
                case .more: return true
                case .disconnect, .fatal:
                    verdict = v
                    return false
                }
            }, onOversizedLine: { prefix, length in
                count { $0.badLines += 1 }
                handlers.onBadLine("line of \(length) bytes exceeds the \(maxLine)-byte limit", prefix)
            })
            state.withLock {
                $0.current = nil
                $0.counters.bytes += result.bytes
                $0.counters.partialBytesDropped += result.partialLineBytes
            }
            if result.partialLineBytes > 0 {
                logger.debug("\(name): dropped an unfinished line of \(result.partialLineBytes) bytes")
            }
            if isStopped { break }

            let failure: StreamFailure
            let reason: String
            if case .fatal(let exit)? = verdict { throw exit }
            if case .disconnect(let r, let f)? = verdict {
                failure = f
                reason = r
            } else if let head = result.head, !head.isSuccess {
                switch classify(head, result.errorBody) {
                case .fatal(let exit): throw exit
                case .retry(let f, let r): failure = f; reason = r
                }
            } else {
                switch result.end {
                case .stalled(let s): failure = .network; reason = "no data or keep-alive for \(Self.format(s)) s (stalled)"
                case .transportError(let code, let message): failure = .network; reason = "connection error \(code): \(message)"
                case .closedByServer: failure = .network; reason = "the server ended the stream"
                case .stopped: failure = .network; reason = "stopped"
                }
            }
            let connectedFor = connectedAt.map { Double(monotonicNanos() &- $0) / 1e9 } ?? 0
            let delay = policy.nextDelay(after: failure, connectedFor: connectedFor, receivedData: gotData,
                                         headers: result.head?.headers ?? [:], now: Date().timeIntervalSince1970)
            logger.warning("\(name): \(reason); reconnecting in \(Self.format(delay)) s")
            handlers.onStatus(.reconnecting(delay: delay, reason: reason))
            if delay > 0 && !pause(delay) { break }
        }
    }

    static func format(_ seconds: Double) -> String { String(format: "%.3g", seconds) }
}

/// Shared helpers for reading error bodies.
enum ErrorBody {
    /// A one-line summary of an API error body (X v2 problem, X v1.1 `errors`, Mastodon `error`).
    static func summary(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return "(empty body)" }
        if let obj = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            var parts: [String] = []
            if let t = obj["title"] as? String { parts.append(t) }
            if let d = obj["detail"] as? String { parts.append(d) }
            if let e = obj["error"] as? String { parts.append(e) }
            if let errors = obj["errors"] as? [[String: Any]] {
                for e in errors.prefix(5) {
                    let text = [e["title"], e["message"], e["detail"]].compactMap { $0 as? String }.joined(separator: ": ")
                    if !text.isEmpty { parts.append(text) }
                }
            }
            if !parts.isEmpty { return parts.joined(separator: "; ") }
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.replacingOccurrences(of: "\n", with: " ")
    }

    static func json(_ body: [UInt8]) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
    }
}

/// How the X sources judge a non-2xx response (X's documented failure modes).
enum XHTTPErrors {
    static func classify(source: String, credential: String, head: HTTPResponseHead, body: [UInt8]) -> HTTPErrorVerdict {
        let summary = ErrorBody.summary(body)
        let status = head.status
        switch status {
        case 401, 403:
            return .fatal(.config("\(source): the X API rejected the credentials (HTTP \(status): \(summary)); check \(credential). Not retrying."))
        case 400, 404, 406, 413, 416, 422:
            return .fatal(.config("\(source): the X API rejected the request (HTTP \(status): \(summary)); fix the configuration. Not retrying."))
        case 420, 429:
            return .retry(.rateLimited, reason: "rate limited (HTTP \(status): \(summary))")
        default:
            if let obj = ErrorBody.json(body), (obj["connection_issue"] as? String) == "TooManyConnections" {
                return .retry(.rateLimited, reason: "too many connections (HTTP \(status): \(summary))")
            }
            return .retry(.http(status: status), reason: "HTTP \(status): \(summary)")
        }
    }
}
