import Foundation
import Logging

/// ingestd's settings (flags, `HASHTREND_*`, env file; docs/configuration.md, docs/sources.md).
public enum IngestSettings {
    public static let specs: [SettingSpec] = [
        SettingSpec("source", default: "synthetic", help: "x2, x1, replay, synthetic or mastodon."),
        SettingSpec("topic", default: "tweets", help: "Topic the canonical posts are produced to (key = post id)."),
        SettingSpec("raw-topic", default: "", help: "Also mirror each raw payload to this topic (empty: off)."),
        SettingSpec("dlq-topic", default: "tweets.dlq", help: "Dead-letter topic for lines that cannot be decoded (reason in the hashtrend.error header)."),
        SettingSpec("dedupe-ids", default: "100000", help: "How many recent post ids are remembered to drop duplicates (reconnect backfill)."),
        SettingSpec("max-line-bytes", default: "1MiB", help: "Longer input lines go to the dead-letter topic."),
        // replay
        SettingSpec("file", default: "", list: true, help: "replay: JSONL file(s) in any shape of docs/input-formats.md; - for stdin."),
        SettingSpec("rate", default: "0", help: "replay/synthetic: posts per second (0: as fast as possible for replay; synthetic needs a rate)."),
        SettingSpec("speed", default: "0", help: "replay: pace by the posts' own event times, this many times faster (e.g. 10); 0: off."),
        SettingSpec("loop", default: "false", help: "replay: start again at the end, shifting event times past the previous pass and suffixing ids with ~N."),
        // synthetic
        SettingSpec("count", default: "0", help: "synthetic: stop after this many posts (0: forever)."),
        SettingSpec("seed", default: "1", help: "synthetic: random seed."),
        SettingSpec("burst-every", default: "10m", help: "synthetic: a rising hashtag bursts once per this period (aligned to the clock)."),
        SettingSpec("burst-length", default: "3m", help: "synthetic: how long each burst lasts."),
        // spool
        SettingSpec("spool-dir", default: "", help: "Disk spool for posts Kafka cannot take right now (default: $STATE_DIRECTORY/spool under systemd, else ./ingestd-spool)."),
        SettingSpec("spool-max-bytes", default: "1GiB", help: "Bound of the spool on disk; a full spool is a loud, counted error."),
        // streams
        SettingSpec("api-base-url", default: "https://api.x.com", help: "x2: base URL of the X API (point it at another server for tests)."),
        SettingSpec("rule", default: "", list: true, help: "x2: a filtered-stream rule value (repeatable); the server's rules are synced to these."),
        SettingSpec("rules-file", default: "", help: "x2: file of rules, one VALUE<TAB>TAG per line ('# ' comments)."),
        SettingSpec("backfill-minutes", default: "0", help: "x2: ask for up to this many minutes of posts missed while disconnected (0: off)."),
        SettingSpec("bearer-token-file", default: "", help: "x2: file with the app-only bearer token (else $CREDENTIALS_DIRECTORY/bearer-token)."),
        SettingSpec("x1-base-url", default: "https://stream.twitter.com", help: "x1: base URL of the legacy streaming API."),
        SettingSpec("track", default: "", list: true, help: "x1: phrases to track (repeatable)."),
        SettingSpec("follow", default: "", list: true, help: "x1: user ids to follow (repeatable)."),
        SettingSpec("locations", default: "", help: "x1: bounding boxes, comma-separated longitude,latitude pairs (south-west first)."),
        SettingSpec("mastodon-instance", default: "", help: "mastodon: instance base URL, e.g. https://mastodon.social."),
        SettingSpec("mastodon-hashtag", default: "", help: "mastodon: follow this hashtag's stream instead of the public one."),
        SettingSpec("stall-timeout", default: "30s", help: "Streams: no byte (keep-alives included) for this long means reconnect."),
    ]

    public static let summary = "Streams posts (X API v2/v1.1, Mastodon, JSONL replay, synthetic) into the tweets topic, keyed by post id, without losing one to a broker outage."
}

/// Pacing for finite sources: a fixed rate, or the event-time pace times `speed`.
struct Pacer {
    let rate: Double
    let speed: Double
    private var start = DispatchTime.now()
    private var firstEvent: Int64? = nil
    private var sent: Double = 0

    init(rate: Double, speed: Double) { self.rate = rate; self.speed = speed }

    /// Returns at once when the post is due; otherwise calls `idle` (the publisher flushes its batch)
    /// and sleeps until it is.
    mutating func wait(eventMillis: Int64, control: LoopControl, heartbeat: Heartbeat, idle: () -> Void) {
        var due: Double? = nil
        if rate > 0 {
            due = sent / rate
            sent += 1
        } else if speed > 0 {
            if firstEvent == nil { firstEvent = eventMillis }
            due = max(0, Double(eventMillis - firstEvent!) / 1000 / speed)
        }
        guard let due else { return }
        var first = true
        while !control.shouldStop {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            if elapsed >= due { return }
            if first { idle(); first = false }
            heartbeat.beat()
            Thread.sleep(forTimeInterval: min(due - elapsed, 0.05))
        }
    }
}

/// The ingestd loop for the sources that run in-process (replay, synthetic); stream sources plug in
/// through `PostStream`.
public final class IngestProcessor: @unchecked Sendable {
    let ctx: DaemonContext
    let source: String
    let publisher: PostPublisher
    let files: [String]
    let rate: Double
    let speed: Double
    let loop: Bool
    let count: Int
    let seed: UInt64
    let maxLine: Int
    let burstEvery: HTDuration
    let burstLength: HTDuration
    let stream: StreamSettings
    private var streamCounters: (() -> StreamCounters)? = nil
    private var lastStatus = DispatchTime.now()
    private let rateMeter = RateMeter()

    public init(context: DaemonContext) throws {
        ctx = context
        let c = context.configuration
        source = c.oneOf("source", ["x2", "x1", "replay", "synthetic", "mastodon"])
        files = c.list("file")
        rate = Double(c.string("rate") ?? "0") ?? { c.problem("rate", "not a number"); return 0 }()
        speed = Double((c.string("speed") ?? "0").replacingOccurrences(of: "x", with: "")) ?? { c.problem("speed", "not a number"); return 0 }()
        loop = c.bool("loop")
        count = c.int("count", range: 0...Int.max)
        seed = UInt64(c.int("seed", range: 0...Int.max))
        maxLine = Int(c.byteSize("max-line-bytes"))
        burstEvery = c.duration("burst-every", min: HTDuration(millis: 1000))
        burstLength = c.duration("burst-length", min: HTDuration(millis: 1000))
        if source == "replay" && files.isEmpty { c.problem("file", "replay needs at least one --file") }
        if source == "synthetic" && rate <= 0 { c.problem("rate", "synthetic needs a positive --rate (posts per second)") }
        stream = IngestProcessor.streamSettings(c)
        let raw = c.string("raw-topic") ?? ""
        let topic = c.requireString("topic"), dlq = c.requireString("dlq-topic")
        let dedupe = c.int("dedupe-ids", range: 1...100_000_000)
        guard c.problems.isEmpty else { throw ConfigError(problems: []) }
        var spoolDir = c.string("spool-dir") ?? ""
        if spoolDir.isEmpty {
            let state = ProcessInfo.processInfo.environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            spoolDir = state.map { $0 + "/spool" } ?? "./ingestd-spool"
        }
        let spoolMax = c.byteSize("spool-max-bytes")
        guard c.problems.isEmpty else { throw ConfigError(problems: []) }
        do {
            publisher = try PostPublisher(kafka: context.kafka, topic: topic, rawTopic: raw.isEmpty ? nil : raw,
                                          dlqTopic: dlq, dedupeCapacity: dedupe, spoolDirectory: spoolDir,
                                          spoolMaxBytes: spoolMax, logger: context.logger)
        } catch let e as SpoolError {
            throw ConfigError(problems: ["--spool-dir (HASHTREND_SPOOL_DIR) \(spoolDir): \(e)"])
        }
    }

    public func run(_ control: LoopControl) throws {
        defer { publisher.close(timeout: ctx.configuration.duration("shutdown-timeout")) }
        // READY once Kafka answers for the output topic.
        // Any answer will do: a missing topic is auto-created by the first record.
        guard ctx.waitForKafka("Kafka", control: control, probe: {
            _ = try publisher.producer.partitionCount(topic: publisher.topic, timeout: .seconds(2))
            return true
        }) else { return }
        ctx.notifier.ready(status: "\(source): producing to \(publisher.topic)")
        ctx.logger.info("ingestd started", metadata: ["source": "\(source)", "topic": "\(publisher.topic)"])
        switch source {
        case "replay": try replay(control)
        case "synthetic": synthetic(control)
        default: try runStream(control)
        }
        // A finite source ended: send what waits in the spool while Kafka answers (bounded).
        let until = DispatchTime.now() + .milliseconds(Int(ctx.configuration.duration("shutdown-timeout").millis))
        while !control.shouldStop && publisher.isSpooling && DispatchTime.now() < until {
            if publisher.drainSpool(heartbeat: ctx.heartbeat) { Thread.sleep(forTimeInterval: 0.2) }
        }
        ctx.notifier.status("flushing \(publisher.outstanding) record(s)")
        if !publisher.drain(timeout: ctx.configuration.duration("shutdown-timeout"), heartbeat: ctx.heartbeat) {
            ctx.logger.error("\(publisher.outstanding) record(s) not acknowledged at shutdown", metadata: ["error_kind": "undelivered"])
        }
        let f = publisher.snapshot()
        ctx.logger.info("ingestd finished", metadata: ["posts": "\(f.posts)", "delivered": "\(f.delivered)", "dead_lettered": "\(f.deadLettered)"])
    }

    /// Called on every turn of the source loop: cheap unless a second passed since the last status.
    private func housekeeping(progress: @autoclosure () -> String = "") {
        ctx.heartbeat.beat()
        let now = DispatchTime.now()
        guard now.uptimeNanoseconds - lastStatus.uptimeNanoseconds > 1_000_000_000 else { return }
        // A batch older than a second goes out now (sources also flush whenever they go idle).
        publisher.flush()
        publisher.drainSpool(heartbeat: ctx.heartbeat)
        publisher.checkpoint()
        // Counted from the end of the drain attempt: while Kafka is away its probe blocks, and replay and
        // synthetic call this from their own loop, which must keep producing (to the spool) in between.
        lastStatus = DispatchTime.now()
        let f = publisher.snapshot()
        var s = String(format: "%@: %.0f posts/s, %lld posts, %lld delivered, %lld dead-lettered, spool %lld bytes", source, rateMeter.perSecond(), f.posts, f.delivered, f.deadLettered, f.spoolBytes)
        if let c = streamCounters?() { s += ", \(c.reconnects) reconnects" }
        if f.spoolFull > 0 { s += ", SPOOL FULL (\(f.spoolFull) posts waiting)" }
        if publisher.isSpooling { s += " (spooling)" }
        let p = progress()
        if !p.isEmpty { s += ", " + p }
        if let e = publisher.kafkaError { s += "; kafka: \(e.name)" }
        ctx.notifier.status(s)
    }

    static func streamSettings(_ c: Configuration) -> StreamSettings {
        var st = StreamSettings()
        st.stallTimeout = c.duration("stall-timeout", min: HTDuration(millis: 100)).seconds
        st.maxLineBytes = Int(c.byteSize("max-line-bytes"))
        return st
    }

    /// x2, x1, mastodon: the stream runs on its own thread; this loop drains the spool and reports.
    private func runStream(_ control: LoopControl) throws {
        let c = ctx.configuration
        let publisher = self.publisher
        let logger = ctx.logger
        let notifier = ctx.notifier
        let decoderBox = DecoderBox(defaultSource: source)
        let sourceName = source
        let meter = rateMeter
        var settings = stream
        settings.heartbeat = ctx.heartbeat
        let handlers = StreamHandlers(
            onLine: { line in
                switch decoderBox.decode(line) {
                case .success(let posts):
                    for p in posts { publisher.publish(p, raw: Array(line)) }
                    // One journal write and produce per stream line: a stream post is never held back.
                    if !posts.isEmpty { publisher.flush() }
                    meter.add(posts.count)
                case .failure(let e):
                    publisher.deadLetter(reason: e.reason, bytes: Array(line), origin: sourceName)
                }
            },
            onPost: { post in publisher.publish(post); publisher.flush(); meter.add(1) },
            onBadLine: { reason, prefix in publisher.deadLetter(reason: reason, bytes: prefix, origin: sourceName) },
            onStatus: { status in
                switch status {
                case .connected: notifier.status("\(sourceName): connected"); logger.info("stream connected", metadata: ["source": "\(sourceName)"])
                case .reconnecting(let delay, let reason):
                    notifier.status("\(sourceName): reconnecting in \(String(format: "%.1f", delay))s (\(reason))")
                    logger.warning("stream reconnecting: \(reason)", metadata: ["source": "\(sourceName)", "delay_s": "\(delay)"])
                default: break
                }
            })
        let s: any PostStream
        switch source {
        case "x2":
            var xs = XFilteredStreamV2.Settings()
            xs.baseURL = c.string("api-base-url") ?? xs.baseURL
            xs.rules = c.list("rule").map { XStreamRule(value: $0) }
            if let f = c.string("rules-file"), !f.isEmpty {
                guard let text = try? String(contentsOfFile: f, encoding: .utf8) else { throw DaemonExit.config("--rules-file \(f): cannot read") }
                xs.rules += try XStreamRule.parseRulesFile(text, path: f)
            }
            let bf = c.int("backfill-minutes", range: 0...5)
            xs.backfillMinutes = bf > 0 ? bf : nil
            xs.stream = settings
            let file = c.string("bearer-token-file") ?? ""
            let token: Secret
            do { token = try SecretStore.load(name: IngestSecretNames.bearerToken, file: file.isEmpty ? nil : file) } catch {
                throw DaemonExit.config("x2 needs a bearer token: \(error)")
            }
            s = XFilteredStreamV2(settings: xs, bearerToken: token, handlers: handlers, logger: logger)
        case "x1":
            var xs = XStatusesFilterV1.Settings()
            xs.baseURL = c.string("x1-base-url") ?? xs.baseURL
            xs.track = c.list("track")
            xs.follow = c.list("follow")
            xs.locations = (c.string("locations") ?? "").split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            xs.stream = settings
            let stream = XStatusesFilterV1(settings: xs, credentials: try OAuth1Credentials.load(), handlers: handlers, logger: logger)
            try stream.validate()
            s = stream
        default:
            var ms = MastodonStream.Settings()
            ms.instance = c.string("mastodon-instance") ?? ""
            guard !ms.instance.isEmpty else { throw DaemonExit.config("mastodon needs --mastodon-instance") }
            let tag = c.string("mastodon-hashtag") ?? ""
            ms.hashtag = tag.isEmpty ? nil : tag
            ms.stream = settings
            let token = try? SecretStore.load(name: IngestSecretNames.mastodonToken, file: nil)
            s = MastodonStream(settings: ms, accessToken: token, handlers: handlers, logger: logger)
        }
        streamCounters = { s.counters }
        let failure = ErrorBox()
        let thread = BlockingThread(name: "ingestd-\(source)") {
            do { try s.run() } catch { failure.set(error) }
        }
        while !control.shouldStop && failure.get() == nil {
            housekeeping()
            Thread.sleep(forTimeInterval: 0.1)
        }
        s.stop()
        thread.join()
        if let e = failure.get() { throw e }
    }

    private func replay(_ control: LoopControl) throws {
        var pass = 0
        var shift: Int64 = 0
        repeat {
            var maxEvent: Int64 = .min, minEvent: Int64 = .max
            for path in files {
                let reader = try LineReader(path: path, maxLineBytes: maxLine)
                var decoder = PostDecoder(defaultSource: "replay", maxLineBytes: maxLine)
                var pacer = Pacer(rate: rate, speed: speed)
                var posts: [Post] = []
                var lineNo = 0
                var uncounted = 0
                let paced = rate > 0 || speed > 0
                while !control.shouldStop {
                    posts.removeAll(keepingCapacity: true)
                    var failure: String? = nil
                    var rawLine: [UInt8] = []
                    var viewed = 0
                    let more = try reader.nextLine { line -> Bool in
                        lineNo += 1
                        if reader.lastLineTruncated { failure = "too_large: line longer than \(maxLine) bytes"; rawLine = []; return true }
                        do throws(PostDecodeError) {
                            if pass == 0 {
                                // Encoded straight from the line's bytes (no Post, no Strings but the id).
                                viewed = try decoder.decode(line: line) { view in
                                    minEvent = min(minEvent, view.createdAtMillis)
                                    maxEvent = max(maxEvent, view.createdAtMillis)
                                    pacer.wait(eventMillis: view.createdAtMillis, control: control, heartbeat: ctx.heartbeat) { publisher.flush() }
                                    publisher.publish(view)
                                }
                            } else {
                                try decoder.decode(line: line, into: &posts)
                            }
                        } catch {
                            if case .notAPost = error { return true }
                            failure = error.reason
                            rawLine = Array(line)
                        }
                        return true
                    }
                    guard more != nil else { break }
                    if let failure {
                        publisher.deadLetter(reason: failure, bytes: rawLine, origin: "\(path):\(lineNo)")
                        continue
                    }
                    for var p in posts {
                        minEvent = min(minEvent, p.createdAtMillis)
                        maxEvent = max(maxEvent, p.createdAtMillis)
                        if pass > 0 {
                            p.id += "~\(pass)"
                            p.createdAtMillis += shift
                        }
                        pacer.wait(eventMillis: p.createdAtMillis, control: control, heartbeat: ctx.heartbeat) { publisher.flush() }
                        publisher.publish(p)
                    }
                    // As fast as possible: the clock, the rate meter's lock and the status once per 64
                    // lines, not per post (a paced replay waits for the clock anyway).
                    uncounted += posts.count + viewed
                    if lineNo & 63 == 0 || paced {
                        rateMeter.add(uncounted)
                        uncounted = 0
                        housekeeping(progress: "\(path) line \(lineNo)")
                    }
                }
                rateMeter.add(uncounted)
                publisher.flush()
            }
            pass += 1
            if maxEvent >= minEvent { shift += maxEvent - minEvent + 1000 }
        } while loop && !control.shouldStop
    }

    private func synthetic(_ control: LoopControl) {
        let start = Int64(Date().timeIntervalSince1970 * 1000)
        var gen = PostGenerator(seed: seed, startMillis: start, ratePerSecond: rate)
        gen.burstEveryMillis = burstEvery.millis
        gen.burstLengthMillis = min(burstLength.millis, burstEvery.millis)
        let begin = DispatchTime.now()
        var n = 0
        while !control.shouldStop && (count == 0 || n < count) {
            // Real time: post i is due at start + i/rate.
            let due = Double(gen.nextNominalMillis - start) / 1000
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - begin.uptimeNanoseconds) / 1e9
            if due > elapsed {
                publisher.flush()
                housekeeping()
                Thread.sleep(forTimeInterval: min(due - elapsed, 0.05))
                continue
            }
            publisher.publish(gen.next())
            rateMeter.add(1)
            n += 1
            if n & 63 == 0 { housekeeping() }
        }
    }
}

/// One decoder per stream thread, behind a lock so the handler closure can be Sendable.
final class DecoderBox: @unchecked Sendable {
    private var decoder: PostDecoder
    private var posts: [Post] = []
    private let lock = NSLock()
    init(defaultSource: String) { decoder = PostDecoder(defaultSource: defaultSource) }
    func decode(_ line: UnsafeBufferPointer<UInt8>) -> Result<[Post], PostDecodeError> {
        lock.withLock {
            posts.removeAll(keepingCapacity: true)
            do throws(PostDecodeError) {
                try decoder.decode(line: line, into: &posts)
                return .success(posts)
            } catch {
                if case .notAPost = error { return .success([]) }
                return .failure(error)
            }
        }
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ e: Error) { lock.withLock { error = e } }
    func get() -> Error? { lock.withLock { error } }
}
