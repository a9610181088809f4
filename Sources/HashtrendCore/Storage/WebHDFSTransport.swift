import CCurl
import Foundation

/// One blocking HTTP exchange over libcurl. Redirects are never followed by curl: WebHDFS's
/// two-step CREATE must send the body only to the datanode, so the client reads `Location` itself.
final class WebHDFSTransport {
    struct Response {
        var status: Int
        var body: [UInt8]
        var location: String?
    }

    enum Method: String { case get = "GET", put = "PUT", delete = "DELETE" }

    private let handle: UnsafeMutableRawPointer
    private let connectTimeoutMs: Int
    private let totalTimeoutMs: Int
    private let caFile: String?

    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()

    init(connectTimeoutMs: Int, totalTimeoutMs: Int, caFile: String?) {
        _ = Self.globalInit
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed (out of memory)") }
        handle = h
        self.connectTimeoutMs = connectTimeoutMs
        self.totalTimeoutMs = totalTimeoutMs
        self.caFile = caFile
    }

    deinit { curl_easy_cleanup(handle) }

    /// Collects the response; a class so curl's C callbacks can reach it through `userdata`.
    private final class Sink {
        var body: [UInt8] = []
        var location: String?
        var upload: UnsafeBufferPointer<UInt8> = UnsafeBufferPointer(start: nil, count: 0)
        var uploadOffset = 0
    }

    private static let writeBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, ud in
        guard let ptr, let ud else { return 0 }
        let sink = Unmanaged<Sink>.fromOpaque(ud).takeUnretainedValue()
        let count = size * n
        ptr.withMemoryRebound(to: UInt8.self, capacity: count) { sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) }
        return count
    }

    private static let writeHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, ud in
        guard let ptr, let ud else { return 0 }
        let sink = Unmanaged<Sink>.fromOpaque(ud).takeUnretainedValue()
        let count = size * n
        let line = ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
        if line.hasPrefix("HTTP/") { sink.location = nil } // a new response (e.g. after 100 Continue)
        if line.count > 9, line.prefix(9).lowercased() == "location:" {
            sink.location = line.dropFirst(9).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return count
    }

    private static let readBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, ud in
        guard let ptr, let ud else { return 0 }
        let sink = Unmanaged<Sink>.fromOpaque(ud).takeUnretainedValue()
        let room = size * n
        let left = sink.upload.count - sink.uploadOffset
        let k = min(room, left)
        if k > 0, let base = sink.upload.baseAddress {
            UnsafeMutableRawPointer(ptr).copyMemory(from: base + sink.uploadOffset, byteCount: k)
            sink.uploadOffset += k
        }
        return k
    }

    /// Performs one request. `body` non-nil means an upload with Content-Length (the datanode step);
    /// nil means no body at all (the namenode never gets data).
    ///
    /// `fresh`: use a new connection and do not keep it. For steps that must not be repeated behind
    /// our back: on a reused keep-alive connection that turns out dead, libcurl silently re-sends the
    /// request, so a RENAME could run twice while the caller counts one attempt.
    func perform(_ method: Method, url: String, body: [UInt8]?, fresh: Bool = false) throws(WebHDFSError) -> Response {
        let h = handle
        curl_easy_reset(h)
        let sink = Sink()
        let ud = Unmanaged.passUnretained(sink).toOpaque()
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        // No "Expect: 100-continue" round trip: the datanode answers the PUT directly.
        headers = curl_slist_append(headers, "Expect:")
        if body != nil { headers = curl_slist_append(headers, "Content-Type: application/octet-stream") }
        // A PUT without data still says so: proxies in front of a namenode may insist (411).
        if body == nil && method == .put { headers = curl_slist_append(headers, "Content-Length: 0") }
        defer { curl_slist_free_all(headers) }

        var code = CURLE_OK
        func set(_ o: CURLoption, _ v: Int) { if code == CURLE_OK { code = hashtrend_curl_setopt_long(h, o, v) } }
        func set(_ o: CURLoption, _ s: String) { if code == CURLE_OK { code = s.withCString { hashtrend_curl_setopt_ptr(h, o, $0) } } }
        func set(_ o: CURLoption, ptr: UnsafeRawPointer?) { if code == CURLE_OK { code = hashtrend_curl_setopt_ptr(h, o, ptr) } }

        set(CURLOPT_URL, url)
        set(CURLOPT_NOSIGNAL, 1)
        if fresh {
            set(CURLOPT_FRESH_CONNECT, 1)
            set(CURLOPT_FORBID_REUSE, 1)
        }
        set(CURLOPT_FOLLOWLOCATION, 0)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMs)
        set(CURLOPT_TIMEOUT_MS, totalTimeoutMs)
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile { set(CURLOPT_CAINFO, caFile) }
        set(CURLOPT_HTTPHEADER, ptr: UnsafeRawPointer(headers))
        if code == CURLE_OK { code = hashtrend_curl_setopt_write(h, Self.writeBody) }
        set(CURLOPT_WRITEDATA, ptr: UnsafeRawPointer(ud))
        if code == CURLE_OK { code = hashtrend_curl_setopt_header(h, Self.writeHeader) }
        set(CURLOPT_HEADERDATA, ptr: UnsafeRawPointer(ud))

        let result: CURLcode = (body ?? []).withUnsafeBufferPointer { buf -> CURLcode in
            switch method {
            case .get: set(CURLOPT_HTTPGET, 1)
            case .delete: set(CURLOPT_CUSTOMREQUEST, "DELETE")
            case .put:
                if body != nil {
                    sink.upload = buf
                    set(CURLOPT_UPLOAD, 1)
                    if code == CURLE_OK { code = hashtrend_curl_setopt_read(h, Self.readBody) }
                    set(CURLOPT_READDATA, ptr: UnsafeRawPointer(ud))
                    if code == CURLE_OK { code = hashtrend_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(buf.count)) }
                } else {
                    set(CURLOPT_CUSTOMREQUEST, "PUT")
                }
            }
            guard code == CURLE_OK else { return code }
            return curl_easy_perform(h)
        }
        withExtendedLifetime(sink) {}
        guard result == CURLE_OK else { throw Self.classify(result) }
        var status = 0
        _ = hashtrend_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return Response(status: status, body: sink.body, location: sink.location)
    }

    private static func classify(_ c: CURLcode) -> WebHDFSError {
        let text = String(cString: curl_easy_strerror(c))
        switch c {
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .connectFailed(text)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .tls(text)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT: return .badRedirect(text)
        default: return .network(text)
        }
    }
}
