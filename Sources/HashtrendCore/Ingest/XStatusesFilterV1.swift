import Foundation
import Logging

/// X API v1.1 `POST /1.1/statuses/filter.json` (legacy), OAuth 1.0a user context. The body is
/// `\r\n`-delimited statuses with blank keep-alive lines. Status lines go to `onLine` as they came;
/// control messages (`delete`, `limit`, `warning`, ...) are counted and skipped; a `disconnect`
/// message ends the connection and reconnects (or exits 78 when the token was revoked).
public final class XStatusesFilterV1: PostStream {
    public struct Settings: Sendable {
        public var baseURL = "https://stream.twitter.com"
        /// Phrases, comma-joined into `track`.
        public var track: [String] = []
        /// User ids, comma-joined into `follow`.
        public var follow: [String] = []
        /// Bounding boxes, `swLon,swLat,neLon,neLat` each (a multiple of 4 numbers).
        public var locations: [Double] = []
        public var stream = StreamSettings()
        public init() {}
    }

    public let sourceName = "x1"
    public let settings: Settings
    private let signer: OAuth1Signer
    private let runner: StreamRunner
    private let logger: Logger

    /// The v1.1 messages that are not statuses (their only top-level key names them).
    static let controlKeys: Set<String> = ["delete", "scrub_geo", "limit", "status_withheld", "user_withheld",
                                           "disconnect", "warning", "friends", "event"]

    public init(settings: Settings, credentials: OAuth1Credentials, handlers: StreamHandlers,
                logger: Logger = Logger(label: "hashtrend.ingest.x1")) {
        self.settings = settings
        signer = OAuth1Signer(credentials: credentials)
        self.logger = logger
        runner = StreamRunner(name: "x1", settings: settings.stream, handlers: handlers, logger: logger)
    }

    public var counters: StreamCounters { runner.counters }
    public func stop() { runner.stop() }

    public var endpoint: String {
        var b = settings.baseURL
        while b.hasSuffix("/") { b.removeLast() }
        return b + "/1.1/statuses/filter.json"
    }

    /// The form parameters, in a fixed order.
    public var parameters: [(String, String)] {
        var p: [(String, String)] = []
        if !settings.follow.isEmpty { p.append(("follow", settings.follow.joined(separator: ","))) }
        if !settings.locations.isEmpty {
            p.append(("locations", settings.locations.map { Self.number($0) }.joined(separator: ",")))
        }
        if !settings.track.isEmpty { p.append(("track", settings.track.joined(separator: ","))) }
        return p
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    /// Checks what X would reject with 406/413/416, before connecting.
    public func validate() throws {
        if settings.track.isEmpty && settings.follow.isEmpty && settings.locations.isEmpty {
            throw DaemonExit.config("x1: statuses/filter needs at least one of track, follow, locations")
        }
        if settings.locations.count % 4 != 0 {
            throw DaemonExit.config("x1: locations must be bounding boxes of 4 numbers each (got \(settings.locations.count))")
        }
        if settings.track.count > 400 { throw DaemonExit.config("x1: at most 400 track phrases (got \(settings.track.count))") }
        if settings.follow.count > 5000 { throw DaemonExit.config("x1: at most 5000 follow ids (got \(settings.follow.count))") }
        if let bad = settings.follow.first(where: { $0.isEmpty || !$0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }) {
            throw DaemonExit.config("x1: follow takes numeric user ids ('\(bad)' is not one)")
        }
        if let bad = settings.track.first(where: { $0.utf8.count > 60 || $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw DaemonExit.config("x1: track phrases must be 1...60 bytes ('\(bad)')")
        }
    }

    public func run() throws {
        try validate()
        let params = parameters
        let body = Array(OAuth1Signer.formBody(params).utf8)
        try runner.run(makeRequest: {
            // A fresh nonce and timestamp for every connection attempt.
            let auth = signer.authorizationHeader(method: "POST", baseURL: endpoint, parameters: params)
            return HTTPRequest(method: "POST", url: endpoint,
                               headers: [HTTPHeader("Authorization", auth),
                                         HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                               body: body)
        }, newConnection: {
            { line in self.handle(line) }
        }, classify: { head, body in
            XHTTPErrors.classify(source: "x1", credential: "the OAuth 1.0a keys (x1-consumer-key, x1-consumer-secret, x1-access-token, x1-access-secret)",
                                 head: head, body: body)
        })
    }

    private func handle(_ line: UnsafeBufferPointer<UInt8>) -> LineVerdict {
        if line.isEmpty { return .keepAlive }
        guard let key = JSONKeyScan.firstKey(in: line) else {
            runner.handlers.onBadLine("x1: stream line is not a JSON object", Array(line.prefix(1024)))
            return .bad
        }
        guard Self.controlKeys.contains(key), !JSONKeyScan.hasTopLevelKey("id_str", in: line) else {
            runner.handlers.onLine(line)
            return .post
        }
        switch key {
        case "disconnect":
            let obj = (try? JSONSerialization.jsonObject(with: Data(buffer: line)) as? [String: Any])?["disconnect"] as? [String: Any]
            let code = (obj?["code"] as? NSNumber)?.intValue ?? 0
            let reason = "disconnect message code \(code): \((obj?["reason"] as? String) ?? "?")"
            switch code {
            case 6: return .fatal(.config("x1: \(reason) (the access token was revoked); issue a new one. Not retrying."))
            case 2, 7: return .disconnect(reason: reason, failure: .http(status: 200))
            default: return .disconnect(reason: reason, failure: .network)
            }
        case "warning":
            logger.warning("x1: stream warning: \(String(decoding: line.prefix(300), as: UTF8.self))")
            return .ignored
        case "limit":
            logger.debug("x1: limit notice: \(String(decoding: line.prefix(200), as: UTF8.self))")
            return .ignored
        default:
            return .ignored
        }
    }
}
