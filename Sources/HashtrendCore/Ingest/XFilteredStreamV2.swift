import Foundation
import Logging

/// A filtered-stream rule as declared in configuration.
public struct XStreamRule: Sendable, Hashable, CustomStringConvertible {
    public var value: String
    public var tag: String?
    public init(value: String, tag: String? = nil) {
        self.value = value
        self.tag = (tag?.isEmpty ?? true) ? nil : tag
    }
    public var description: String { tag.map { "\(value) [\($0)]" } ?? value }

    /// Parses a rules file: one rule a line, `VALUE<TAB>TAG` or `VALUE`; blank lines and comments
    /// (`#` followed by a space or the line's end: `#swift` is a hashtag rule, not a comment) are skipped. Throws `DaemonExit.config` for an empty value.
    public static func parseRulesFile(_ text: String, path: String = "rules file") throws -> [XStreamRule] {
        var rules: [XStreamRule] = []
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }).enumerated() {
            let line = Substring(raw)
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line == "#" || line.hasPrefix("# ") { continue }
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            let value = parts[0].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { throw DaemonExit.config("\(path):\(n + 1): empty rule value") }
            rules.append(XStreamRule(value: value, tag: parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : nil))
        }
        return rules
    }
}

/// What a rule sync changed on the server.
public struct XRuleSyncReport: Sendable, Equatable {
    public var added: [XStreamRule] = []
    public var deletedIDs: [String] = []
    public var unchanged = 0
}

/// X API v2 filtered stream (`GET /2/tweets/search/stream`), app-only bearer token.
/// Each post line goes to `onLine` as it came (the post decoder builds the `Post`); in-stream error
/// objects (`operational-disconnect`, `ConnectionException`) end the connection and reconnect
/// with the matching backoff; 401/403 and rejected rules throw `DaemonExit.config` (exit 78).
public final class XFilteredStreamV2: PostStream {
    public struct Settings: Sendable {
        public var baseURL = "https://api.x.com"
        /// The rules the stream should have; with `syncRules`, the server's set is made equal to it.
        public var rules: [XStreamRule] = []
        public var syncRules = true
        /// 1...5: X re-sends up to that many minutes missed while disconnected (duplicates are
        /// possible: de-duplicate by id, see `RecentIDs`).
        public var backfillMinutes: Int?
        public var stream = StreamSettings()
        public init() {}
    }

    public let sourceName = "x2"
    public let settings: Settings
    private let token: Secret
    private let runner: StreamRunner
    private let logger: Logger

    /// The query every connection sends (the fields the post decoder relies on).
    public static let tweetFields = "created_at,lang,author_id,entities"
    public static let expansions = "referenced_tweets.id"

    public init(settings: Settings, bearerToken: Secret, handlers: StreamHandlers,
                logger: Logger = Logger(label: "hashtrend.ingest.x2")) {
        self.settings = settings
        token = bearerToken
        self.logger = logger
        runner = StreamRunner(name: "x2", settings: settings.stream, handlers: handlers, logger: logger)
    }

    public var counters: StreamCounters { runner.counters }
    public func stop() { runner.stop() }

    public var streamURL: String {
        var url = trimmedBase + "/2/tweets/search/stream?tweet.fields=\(Self.tweetFields)&expansions=\(Self.expansions)"
        if let m = settings.backfillMinutes { url += "&backfill_minutes=\(m)" }
        return url
    }

    private var trimmedBase: String {
        var b = settings.baseURL
        while b.hasSuffix("/") { b.removeLast() }
        return b
    }

    private var authHeader: HTTPHeader { HTTPHeader("Authorization", "Bearer \(token.reveal())") }

    public func run() throws {
        if let m = settings.backfillMinutes, !(1...5).contains(m) {
            throw DaemonExit.config("x2: backfill-minutes must be 1...5 (got \(m))")
        }
        if settings.syncRules {
            // Retry what retrying can fix (network, 5xx, 429) with the same policy as the stream.
            var policy = settings.stream.policy
            while !runner.isStopped {
                do {
                    let report = try syncRules()
                    logger.info("x2: rules in sync: \(report.added.count) added, \(report.deletedIDs.count) deleted, \(report.unchanged) unchanged")
                    break
                } catch let e as RuleSyncRetry {
                    let delay = policy.nextDelay(after: e.failure, headers: e.headers, now: Date().timeIntervalSince1970)
                    logger.warning("x2: rule sync failed: \(e.reason); retrying in \(StreamRunner.format(delay)) s")
                    if !runner.pause(delay) { return }
                }
            }
        }
        try runner.run(makeRequest: {
            HTTPRequest(method: "GET", url: streamURL, headers: [authHeader])
        }, newConnection: {
            { line in self.handle(line) }
        }, classify: { head, body in
            XHTTPErrors.classify(source: "x2", credential: "the bearer token (bearer-token)", head: head, body: body)
        })
    }

    private func handle(_ line: UnsafeBufferPointer<UInt8>) -> LineVerdict {
        if line.isEmpty { return .keepAlive }
        if JSONKeyScan.hasTopLevelKey("data", in: line) {
            runner.handlers.onLine(line)
            return .post
        }
        // Not a post: a system message (rare, so a full parse is fine).
        guard let obj = try? JSONSerialization.jsonObject(with: Data(buffer: line)) as? [String: Any] else {
            runner.handlers.onBadLine("x2: stream line is not a JSON object", Array(line.prefix(1024)))
            return .bad
        }
        if let errors = obj["errors"] as? [[String: Any]] {
            return Self.streamError(errors, logger: logger)
        }
        if (obj["title"] as? String) == "ConnectionException" {
            return Self.streamError([obj], logger: logger)
        }
        runner.handlers.onBadLine("x2: stream message without data", Array(line.prefix(1024)))
        return .bad
    }

    /// In-stream error objects: X ends the connection after these; reconnect with the right backoff.
    static func streamError(_ errors: [[String: Any]], logger: Logger) -> LineVerdict {
        let text = errors.map { e in
            [e["title"], e["disconnect_type"], e["connection_issue"], e["detail"]].compactMap { $0 as? String }.joined(separator: ": ")
        }.joined(separator: "; ")
        for e in errors {
            let title = e["title"] as? String ?? ""
            if title == "operational-disconnect" {
                return .disconnect(reason: "operational disconnect (\(text))", failure: .network)
            }
            if (e["connection_issue"] as? String) == "TooManyConnections" {
                return .disconnect(reason: "too many connections (\(text))", failure: .rateLimited)
            }
            if title == "ConnectionException" {
                return .disconnect(reason: "connection exception (\(text))", failure: .http(status: 200))
            }
        }
        logger.warning("x2: stream error object: \(text)")
        return .ignored
    }

    // MARK: rules

    struct RuleSyncRetry: Error {
        var failure: StreamFailure
        var reason: String
        var headers: [String: String]
    }

    struct ServerRule { var id: String; var rule: XStreamRule }

    private var rulesURL: String { trimmedBase + "/2/tweets/search/stream/rules" }

    private func exchange(_ method: String, _ url: String, body: [String: Any]? = nil) throws -> [String: Any] {
        var req = HTTPRequest(method: method, url: url, headers: [authHeader])
        if let body {
            req.body = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
            req.headers.append(HTTPHeader("Content-Type", "application/json"))
        }
        req.connectTimeout = settings.stream.connectTimeout
        req.totalTimeout = max(30, settings.stream.connectTimeout * 2)
        req.verifyTLS = settings.stream.verifyTLS
        req.userAgent = settings.stream.userAgent
        let response: HTTPResponse
        do { response = try HTTPClient.perform(req) } catch let e as HTTPTransportError {
            throw RuleSyncRetry(failure: .network, reason: e.description, headers: [:])
        }
        let head = HTTPResponseHead(status: response.status, headers: response.headers)
        let obj = ErrorBody.json(response.body)
        if !head.isSuccess {
            // X reports invalid rules with 400 and an errors array: a configuration problem.
            if let obj, let errors = obj["errors"] as? [[String: Any]], response.status == 400 || response.status == 422 {
                throw DaemonExit.config("x2: rules rejected: " + Self.describeRuleErrors(errors))
            }
            switch XHTTPErrors.classify(source: "x2 rules", credential: "the bearer token (bearer-token)", head: head, body: response.body) {
            case .fatal(let e): throw e
            case .retry(let f, let r): throw RuleSyncRetry(failure: f, reason: r, headers: response.headers)
            }
        }
        guard let obj else {
            throw RuleSyncRetry(failure: .http(status: response.status), reason: "rules API answered with something that is not a JSON object", headers: [:])
        }
        return obj
    }

    static func describeRuleErrors(_ errors: [[String: Any]]) -> String {
        errors.map { e in
            var s = (e["title"] as? String) ?? "error"
            if let v = e["value"] as? String { s += " for rule '\(v)'" }
            if let d = e["details"] as? [String] { s += ": " + d.joined(separator: "; ") }
            else if let d = e["detail"] as? String { s += ": " + d }
            else if let m = e["message"] as? String { s += ": " + m }
            return s
        }.joined(separator: " | ")
    }

    /// The server's current rules.
    func fetchRules() throws -> [ServerRule] {
        let obj = try exchange("GET", rulesURL)
        let data = obj["data"] as? [[String: Any]] ?? []
        return data.compactMap { r in
            guard let id = r["id"] as? String, let value = r["value"] as? String else { return nil }
            return ServerRule(id: id, rule: XStreamRule(value: value, tag: r["tag"] as? String))
        }
    }

    /// Makes the server's rules equal to `settings.rules`, touching only the difference: rules whose
    /// (value, tag) is not declared are deleted, declared ones missing are added. Each change is
    /// sent with `dry_run=true` first, so a bad rule changes nothing. Throws `DaemonExit.config` for
    /// rejected rules or credentials.
    @discardableResult
    public func syncRules() throws -> XRuleSyncReport {
        var desired: [XStreamRule] = []
        for r in settings.rules where !desired.contains(r) { desired.append(r) }
        let current = try fetchRules()
        let toDelete = current.filter { !desired.contains($0.rule) }.map(\.id)
        let present = Set(current.map(\.rule))
        let toAdd = desired.filter { !present.contains($0) }
        var report = XRuleSyncReport()
        report.unchanged = current.count - toDelete.count
        for dryRun in [true, false] {
            let suffix = dryRun ? "?dry_run=true" : ""
            if !toDelete.isEmpty {
                let obj = try exchange("POST", rulesURL + suffix, body: ["delete": ["ids": toDelete]])
                try Self.checkRuleResponse(obj, action: dryRun ? "delete (dry run)" : "delete")
            }
            // A re-tagged rule keeps its value, which is still on the server during the dry run
            // (X would call it a duplicate); it was valid already, so only new values are checked.
            let adding = dryRun ? toAdd.filter { r in !current.contains { $0.rule.value == r.value } } : toAdd
            if !adding.isEmpty {
                let add = adding.map { r -> [String: String] in
                    var d = ["value": r.value]
                    if let t = r.tag { d["tag"] = t }
                    return d
                }
                let obj = try exchange("POST", rulesURL + suffix, body: ["add": add])
                try Self.checkRuleResponse(obj, action: dryRun ? "add (dry run)" : "add")
            }
        }
        report.added = toAdd
        report.deletedIDs = toDelete
        return report
    }

    static func checkRuleResponse(_ obj: [String: Any], action: String) throws {
        if let errors = obj["errors"] as? [[String: Any]], !errors.isEmpty {
            throw DaemonExit.config("x2: rules rejected (\(action)): " + describeRuleErrors(errors))
        }
    }
}
