import Foundation
import Logging

/// Mastodon's streaming API: server-sent events from `/api/v1/streaming/public` (or
/// `/public/local`, or `/hashtag?tag=`), with an access token. `event: update` carries a Status,
/// turned into a `Post` here (`onPost`); `:` comment lines are heartbeats; other events
/// (`delete`, `status.update`, ...) are counted and skipped.
public final class MastodonStream: PostStream {
    public struct Settings: Sendable {
        /// The instance's base URL, e.g. `https://mastodon.social`.
        public var instance = ""
        /// Follow one hashtag (without `#`) instead of the whole public timeline.
        public var hashtag: String?
        /// The local timeline only (`/public/local`, or `&local=true` for a hashtag).
        public var localOnly = false
        public var stream = StreamSettings()
        public init() {}
    }

    public let sourceName = "mastodon"
    public let settings: Settings
    private let token: Secret?
    private let runner: StreamRunner
    private let logger: Logger

    public init(settings: Settings, accessToken: Secret?, handlers: StreamHandlers,
                logger: Logger = Logger(label: "hashtrend.ingest.mastodon")) {
        self.settings = settings
        token = accessToken
        self.logger = logger
        runner = StreamRunner(name: "mastodon", settings: settings.stream, handlers: handlers, logger: logger)
    }

    public var counters: StreamCounters { runner.counters }
    public func stop() { runner.stop() }

    public var streamURL: String {
        var b = settings.instance
        while b.hasSuffix("/") { b.removeLast() }
        if let tag = settings.hashtag {
            var t = tag
            if t.hasPrefix("#") { t.removeFirst() }
            let enc = OAuth1Signer.percentEncode(t)
            return b + "/api/v1/streaming/hashtag" + (settings.localOnly ? "/local" : "") + "?tag=" + enc
        }
        return b + "/api/v1/streaming/public" + (settings.localOnly ? "/local" : "")
    }

    public func run() throws {
        guard settings.instance.hasPrefix("http://") || settings.instance.hasPrefix("https://") else {
            throw DaemonExit.config("mastodon: the instance must be an http(s) URL (got '\(settings.instance)')")
        }
        if let t = settings.hashtag, t.trimmingCharacters(in: CharacterSet(charactersIn: "# ")).isEmpty {
            throw DaemonExit.config("mastodon: empty hashtag")
        }
        var headers = [HTTPHeader("Accept", "text/event-stream")]
        if let token { headers.append(HTTPHeader("Authorization", "Bearer \(token.reveal())")) }
        try runner.run(makeRequest: {
            HTTPRequest(method: "GET", url: streamURL, headers: headers)
        }, newConnection: {
            let sse = SSEState(maxBytes: self.settings.stream.maxLineBytes)
            return { line in self.handle(line, sse) }
        }, classify: { head, body in
            let summary = ErrorBody.summary(body)
            switch head.status {
            case 401, 403:
                return .fatal(.config("mastodon: the instance rejected the access token (HTTP \(head.status): \(summary)); check mastodon-token. Not retrying."))
            case 400, 404, 406, 422:
                return .fatal(.config("mastodon: the instance rejected the request (HTTP \(head.status): \(summary)); check the instance URL and hashtag. Not retrying."))
            case 429:
                return .retry(.rateLimited, reason: "rate limited (HTTP 429: \(summary))")
            default:
                return .retry(.http(status: head.status), reason: "HTTP \(head.status): \(summary)")
            }
        })
    }

    /// One event being assembled from its field lines.
    final class SSEState {
        var event = ""
        var data: [UInt8] = []
        var hasData = false
        var tooLong = false
        let maxBytes: Int
        init(maxBytes: Int) { self.maxBytes = maxBytes }
        func reset() { event = ""; data.removeAll(keepingCapacity: true); hasData = false; tooLong = false }
    }

    private func handle(_ line: UnsafeBufferPointer<UInt8>, _ sse: SSEState) -> LineVerdict {
        if line.isEmpty {
            // A blank line dispatches the event (HTML's event-stream rules).
            defer { sse.reset() }
            guard sse.hasData || !sse.event.isEmpty else { return .more }
            if sse.tooLong {
                runner.handlers.onBadLine("mastodon: event data longer than \(sse.maxBytes) bytes", Array(sse.data.prefix(1024)))
                return .bad
            }
            guard sse.event == "update" else { return .ignored }
            do {
                let post = try MastodonStatus.post(fromJSON: sse.data)
                runner.handlers.onPost(post)
                return .post
            } catch {
                runner.handlers.onBadLine("mastodon: \(error)", Array(sse.data.prefix(1024)))
                return .bad
            }
        }
        if line[0] == UInt8(ascii: ":") { return .keepAlive }
        // field[: value], one optional space after the colon.
        var colon = 0
        while colon < line.count && line[colon] != UInt8(ascii: ":") { colon += 1 }
        let field = String(decoding: UnsafeBufferPointer(rebasing: line[0..<colon]), as: UTF8.self)
        var v = min(colon + 1, line.count)
        if v < line.count && line[v] == 32 { v += 1 }
        let value = UnsafeBufferPointer(rebasing: line[v..<line.count])
        switch field {
        case "event": sse.event = String(decoding: value, as: UTF8.self)
        case "data":
            if sse.hasData { sse.data.append(10) }
            if sse.data.count + value.count > sse.maxBytes {
                sse.tooLong = true
                if sse.data.count < 1024 { sse.data.append(contentsOf: value.prefix(1024)) }
            } else {
                sse.data.append(contentsOf: value)
            }
            sse.hasData = true
        default: break  // id, retry: not used
        }
        return .more
    }
}

public struct MastodonDecodeError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Turns a Mastodon Status (REST/streaming entity) into the canonical post.
public enum MastodonStatus {
    /// id, created_at, content (HTML to text), language, account.id, tags[].name as hashtags; a
    /// reblog is a repost whose text, language and tags are the original's (the wrapper has none).
    public static func post(fromJSON bytes: [UInt8]) throws -> Post {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw MastodonDecodeError(message: "update data is not a JSON object")
        }
        return try post(from: obj)
    }

    public static func post(from obj: [String: Any]) throws -> Post {
        guard let id = obj["id"] as? String, !id.isEmpty else { throw MastodonDecodeError(message: "status without id") }
        guard let created = obj["created_at"] as? String, let millis = EventTime.parse(created) else {
            throw MastodonDecodeError(message: "status \(id): missing or invalid created_at")
        }
        let account = (obj["account"] as? [String: Any])?["id"] as? String
        let original = obj["reblog"] as? [String: Any]
        let body = original ?? obj
        let content = body["content"] as? String ?? ""
        let tags = (body["tags"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        return Post(id: id, createdAtMillis: millis, text: MastodonHTML.text(content),
                    lang: body["language"] as? String ?? obj["language"] as? String,
                    authorID: account, source: "mastodon", isRepost: original != nil,
                    hashtags: tags)
    }
}

/// Mastodon's sanitized status HTML to plain text: `<br>` is a newline, paragraphs are separated by
/// a blank line, other tags vanish (a link keeps its text, invisible URL parts included, so
/// shortened links come out whole), character references are decoded.
public enum MastodonHTML {
    public static func text(_ html: String) -> String {
        let b = Array(html.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var pendingBreak = 0   // newlines owed before the next text
        var i = 0
        let n = b.count
        func emit(_ bytes: some Sequence<UInt8>) {
            if pendingBreak > 0 {
                if !out.isEmpty { out.append(contentsOf: repeatElement(10, count: pendingBreak)) }
                pendingBreak = 0
            }
            out.append(contentsOf: bytes)
        }
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "<") {
                var j = i + 1
                var quote: UInt8 = 0
                while j < n {
                    let d = b[j]
                    if quote != 0 { if d == quote { quote = 0 } }
                    else if d == 34 || d == 39 { quote = d }
                    else if d == UInt8(ascii: ">") { break }
                    j += 1
                }
                guard j < n else { emit(b[i..<n]); break }  // a lone '<': text
                var k = i + 1
                let closing = k < j && b[k] == UInt8(ascii: "/")
                if closing { k += 1 }
                var name: [UInt8] = []
                while k < j, b[k] != 32, b[k] != UInt8(ascii: "/"), b[k] != 9, b[k] != 10 {
                    name.append(b[k] | 0x20)
                    k += 1
                }
                if name == Array("br".utf8) {
                    if pendingBreak > 0 { pendingBreak += 1 } else if out.isEmpty { pendingBreak = 1 } else { out.append(10) }
                } else if name == Array("p".utf8) {
                    if closing { pendingBreak = max(pendingBreak, 2) }
                    else if !out.isEmpty { pendingBreak = max(pendingBreak, 2) }
                }
                i = j + 1
            } else if c == UInt8(ascii: "&") {
                var j = i + 1
                while j < n && j - i <= 12 && b[j] != UInt8(ascii: ";") && b[j] != UInt8(ascii: "&") && b[j] != UInt8(ascii: "<") { j += 1 }
                if j < n && b[j] == UInt8(ascii: ";"), let decoded = entity(b[(i + 1)..<j]) {
                    emit(decoded)
                    i = j + 1
                } else {
                    emit(CollectionOfOne(c))
                    i += 1
                }
            } else {
                emit(CollectionOfOne(c))
                i += 1
            }
        }
        while let last = out.last, last == 10 || last == 32 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    static func entity(_ name: ArraySlice<UInt8>) -> [UInt8]? {
        let s = String(decoding: name, as: UTF8.self)
        let scalar: UInt32?
        switch s {
        case "amp": scalar = 38
        case "lt": scalar = 60
        case "gt": scalar = 62
        case "quot": scalar = 34
        case "apos": scalar = 39
        case "nbsp": scalar = 0xA0
        default:
            if s.hasPrefix("#x") || s.hasPrefix("#X") { scalar = UInt32(s.dropFirst(2), radix: 16) }
            else if s.hasPrefix("#") { scalar = UInt32(s.dropFirst(), radix: 10) }
            else { scalar = nil }
        }
        guard let v = scalar, let u = Unicode.Scalar(v), v != 0 else { return nil }
        return Array(String(Character(u)).utf8)
    }
}
