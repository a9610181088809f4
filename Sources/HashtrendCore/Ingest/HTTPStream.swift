import CCurl
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// One HTTP request, for a long-lived stream (`HTTPStream`) or a plain exchange (`HTTPClient`).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]?
    /// Seconds to establish TCP + TLS.
    public var connectTimeout: Double = 10
    /// Streams only: no byte for this long (keep-alives count) ends the transfer as `.stalled`.
    public var stallTimeout: Double = 30
    /// Plain exchanges only: the whole request may take this long.
    public var totalTimeout: Double = 30
    /// TLS peer and host verification; only tests against plain-HTTP fakes have a reason to care.
    public var verifyTLS = true
    public var userAgent = "hashtrend/\(HashtrendVersion.string)"
    /// Ask for gzip/deflate (X streams support it); libcurl inflates before the line callback sees it.
    public var acceptCompressed = true

    public init(method: String = "GET", url: String, headers: [HTTPHeader] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// Status and headers, known before the first body byte.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    /// Names lower-cased; a repeated header keeps its last value.
    public var headers: [String: String]
    public init(status: Int, headers: [String: String]) { self.status = status; self.headers = headers }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Why a stream transfer ended.
public enum HTTPStreamEnd: Sendable, Equatable {
    /// The server ended the body (or closed the connection cleanly).
    case closedByServer
    /// `stop()` was called, or the line callback asked to stop.
    case stopped
    /// No byte arrived for the stall timeout.
    case stalled(seconds: Double)
    /// DNS, connect, TLS, reset, truncated chunked body...: libcurl's code and message.
    case transportError(code: Int, message: String)
}

public struct HTTPStreamResult: Sendable {
    /// nil when no response head arrived (a transport error before it, or a stall).
    public var head: HTTPResponseHead?
    /// The body of a non-2xx response, kept up to 64 KiB for the error message.
    public var errorBody: [UInt8]
    public var end: HTTPStreamEnd
    /// Body bytes received (after decompression).
    public var bytes: Int64
    /// Bytes of an unfinished line dropped when the transfer ended.
    public var partialLineBytes: Int
}

public struct HTTPTransportError: Error, CustomStringConvertible, Equatable {
    public var code: Int
    public var message: String
    public var description: String { "HTTP transport error \(code): \(message)" }
}

/// A plain request/response exchange (the rules API): the whole body is collected.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A long-lived HTTP response read line by line on the calling thread, with libcurl's easy
/// interface. Meant to run on a dedicated OS thread (never Swift's cooperative pool: `run` blocks
/// for as long as the stream lasts). `stop()` may be called from any thread; the transfer notices
/// it at libcurl's next progress call (at least about once a second).
public final class HTTPStream: Sendable {
    public let request: HTTPRequest
    /// Beaten from libcurl's progress callback (about once a second even when idle), so a daemon's
    /// watchdog sees the transfer loop alive while the stream is quiet.
    public let heartbeat: Heartbeat?
    private let stopFlag = Atomic<Bool>(false)

    public init(request: HTTPRequest, heartbeat: Heartbeat? = nil) {
        self.request = request
        self.heartbeat = heartbeat
    }

    public func stop() { stopFlag.store(true, ordering: .relaxed) }
    public var isStopped: Bool { stopFlag.load(ordering: .relaxed) }

    /// Runs the transfer to its end. `onHead` sees status and headers before any body byte.
    /// For a 2xx response, the body goes to `onLine` as complete lines (terminator removed,
    /// pointer valid only during the call; return false to end the transfer as `.stopped`);
    /// lines longer than `maxLineBytes` go to `onOversizedLine` (first bytes, full length) instead.
    /// A non-2xx body is collected into `errorBody`.
    public func run(maxLineBytes: Int,
                    onHead: (HTTPResponseHead) -> Void,
                    onLine: (UnsafeBufferPointer<UInt8>) -> Bool,
                    onOversizedLine: (_ prefix: [UInt8], _ length: Int) -> Void) -> HTTPStreamResult {
        withoutActuallyEscaping(onHead) { onHead in
            withoutActuallyEscaping(onLine) { onLine in
                withoutActuallyEscaping(onOversizedLine) { onOversized in
                    let ctx = TransferContext(mode: .stream(LineAssembler(maxLineBytes: maxLineBytes)),
                                              stallTimeout: request.stallTimeout, stopFlag: self)
                    ctx.onHead = onHead
                    ctx.onLine = onLine
                    ctx.onOversized = onOversized
                    let code = CurlTransfer.perform(request, context: ctx, streaming: true)
                    ctx.onHead = nil; ctx.onLine = nil; ctx.onOversized = nil
                    let partial = ctx.discardPartial()
                    let end: HTTPStreamEnd
                    if ctx.stalled { end = .stalled(seconds: request.stallTimeout) }
                    else if ctx.stoppedByCaller || isStopped { end = .stopped }
                    else if code.code == 0 { end = .closedByServer }
                    else { end = .transportError(code: code.code, message: code.message) }
                    return HTTPStreamResult(head: ctx.head, errorBody: ctx.collected, end: end,
                                            bytes: ctx.bytes, partialLineBytes: partial)
                }
            }
        }
    }

    fileprivate func shouldStop() -> Bool { stopFlag.load(ordering: .relaxed) }
}

/// Plain exchanges (the X rules API): blocking, on the calling thread.
public enum HTTPClient {
    public static func perform(_ request: HTTPRequest, maxBodyBytes: Int = 8 << 20) throws -> HTTPResponse {
        let ctx = TransferContext(mode: .collect(limit: maxBodyBytes), stallTimeout: 0, stopFlag: nil)
        let result = CurlTransfer.perform(request, context: ctx, streaming: false)
        if result.code != 0 { throw HTTPTransportError(code: result.code, message: result.message) }
        guard let head = ctx.head else { throw HTTPTransportError(code: -1, message: "no response") }
        return HTTPResponse(status: head.status, headers: head.headers, body: ctx.collected)
    }
}

// MARK: - libcurl plumbing

/// Monotonic nanoseconds: stall timing must not jump with the wall clock.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The per-transfer state libcurl's C callbacks reach through their opaque pointer. Used only on
/// the transfer's own thread.
final class TransferContext {
    enum Mode { case stream(LineAssembler), collect(limit: Int) }
    var mode: Mode
    let stallNanos: UInt64
    let stopSource: HTTPStream?
    var onHead: ((HTTPResponseHead) -> Void)?
    var onLine: ((UnsafeBufferPointer<UInt8>) -> Bool)?
    var onOversized: (([UInt8], Int) -> Void)?

    var status = 0
    var headers: [String: String] = [:]
    var head: HTTPResponseHead?
    var collected: [UInt8] = []
    var bytes: Int64 = 0
    var lastByte: UInt64
    var stalled = false
    var stoppedByCaller = false

    init(mode: Mode, stallTimeout: Double, stopFlag: HTTPStream?) {
        self.mode = mode
        stallNanos = stallTimeout > 0 ? UInt64(stallTimeout * 1e9) : 0
        stopSource = stopFlag
        lastByte = monotonicNanos()
    }

    func discardPartial() -> Int {
        if case .stream(var assembler) = mode {
            let n = assembler.discardPartial()
            mode = .stream(assembler)
            return n
        }
        return 0
    }

    func header(_ p: UnsafeBufferPointer<UInt8>) {
        lastByte = monotonicNanos()
        var end = p.count
        while end > 0 && (p[end - 1] == 10 || p[end - 1] == 13) { end -= 1 }
        let line = String(decoding: UnsafeBufferPointer(rebasing: p[0..<end]), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new status line (after 100 Continue, or a redirect): start over.
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = [:]
        } else if line.isEmpty {
            if status >= 200 && head == nil {
                let h = HTTPResponseHead(status: status, headers: headers)
                head = h
                onHead?(h)
            }
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = value
        }
    }

    /// Returns false to abort the transfer.
    func body(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        lastByte = monotonicNanos()
        bytes += Int64(p.count)
        if head == nil {
            let h = HTTPResponseHead(status: status, headers: headers)
            head = h
            onHead?(h)
        }
        switch mode {
        case .collect(let limit):
            if collected.count + p.count > limit { return false }
            collected.append(contentsOf: p)
            return true
        case .stream(var assembler):
            guard let head, head.isSuccess else {
                if collected.count < 64 << 10 { collected.append(contentsOf: p.prefix((64 << 10) - collected.count)) }
                return true
            }
            guard let onLine, let onOversized else { return false }
            let go = assembler.feed(p, line: onLine, oversized: onOversized)
            mode = .stream(assembler)
            if !go { stoppedByCaller = true }
            return go
        }
    }

    /// Returns false to abort (stop requested, or stalled).
    func progress() -> Bool {
        stopSource?.heartbeat?.beat()
        if let s = stopSource, s.shouldStop() { return false }
        if stallNanos > 0 && monotonicNanos() &- lastByte > stallNanos {
            stalled = true
            return false
        }
        return true
    }
}

private func curlWriteCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                               _ user: UnsafeMutableRawPointer?) -> Int {
    guard let user, let data else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(user).takeUnretainedValue()
    let n = size * count
    let ok = UnsafeRawPointer(data).withMemoryRebound(to: UInt8.self, capacity: n) {
        ctx.body(UnsafeBufferPointer(start: $0, count: n))
    }
    return ok ? n : 0
}

private func curlHeaderCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                                _ user: UnsafeMutableRawPointer?) -> Int {
    guard let user, let data else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(user).takeUnretainedValue()
    let n = size * count
    UnsafeRawPointer(data).withMemoryRebound(to: UInt8.self, capacity: n) {
        ctx.header(UnsafeBufferPointer(start: $0, count: n))
    }
    return n
}

private func curlProgressCallback(_ user: UnsafeMutableRawPointer?, _ dlTotal: curl_off_t, _ dlNow: curl_off_t,
                                  _ ulTotal: curl_off_t, _ ulNow: curl_off_t) -> Int32 {
    guard let user else { return 1 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(user).takeUnretainedValue()
    return ctx.progress() ? 0 : 1
}

enum CurlTransfer {
    /// libcurl's global init is not safe to race; do it once.
    private static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return true
    }()

    static func perform(_ request: HTTPRequest, context: TransferContext, streaming: Bool) -> (code: Int, message: String) {
        _ = initialized
        guard let h = curl_easy_init() else { return (-1, "curl_easy_init failed") }
        defer { curl_easy_cleanup(h) }
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let opaque = Unmanaged.passUnretained(context).toOpaque()

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errBuf in
            request.url.withCString { _ = hashtrend_curl_setopt_ptr(h, CURLOPT_URL, $0) }
            _ = hashtrend_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errBuf.baseAddress)
            _ = hashtrend_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
            _ = hashtrend_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
            _ = hashtrend_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(request.connectTimeout * 1000)))
            if !streaming { _ = hashtrend_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, max(1, Int(request.totalTimeout * 1000))) }
            _ = hashtrend_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, request.verifyTLS ? 1 : 0)
            _ = hashtrend_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, request.verifyTLS ? 2 : 0)
            _ = hashtrend_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
            request.userAgent.withCString { _ = hashtrend_curl_setopt_ptr(h, CURLOPT_USERAGENT, $0) }
            if request.acceptCompressed { "".withCString { _ = hashtrend_curl_setopt_ptr(h, CURLOPT_ACCEPT_ENCODING, $0) } }

            switch request.method.uppercased() {
            case "GET": _ = hashtrend_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
            case "POST": _ = hashtrend_curl_setopt_long(h, CURLOPT_POST, 1)
            default: request.method.withCString { _ = hashtrend_curl_setopt_ptr(h, CURLOPT_CUSTOMREQUEST, $0) }
            }
            if let body = request.body {
                // COPYPOSTFIELDS copies, so the Swift array need not outlive this call.
                _ = hashtrend_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                body.withUnsafeBytes { _ = hashtrend_curl_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)) }
            }
            // No "Expect: 100-continue" round trip for small bodies.
            var all = request.headers.map { "\($0.name): \($0.value)" }
            all.append("Expect:")
            for line in all { headerList = line.withCString { curl_slist_append(headerList, $0) } }
            _ = hashtrend_curl_setopt_ptr(h, CURLOPT_HTTPHEADER, headerList)

            _ = hashtrend_curl_setopt_write(h, curlWriteCallback)
            _ = hashtrend_curl_setopt_ptr(h, CURLOPT_WRITEDATA, opaque)
            _ = hashtrend_curl_setopt_header(h, curlHeaderCallback)
            _ = hashtrend_curl_setopt_ptr(h, CURLOPT_HEADERDATA, opaque)
            _ = hashtrend_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
            _ = hashtrend_curl_setopt_xferinfo(h, curlProgressCallback)
            _ = hashtrend_curl_setopt_ptr(h, CURLOPT_XFERINFODATA, opaque)
            return curl_easy_perform(h)
        }
        if code == CURLE_OK { return (0, "") }
        let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        return (Int(code.rawValue), message)
    }
}
