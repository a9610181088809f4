import Foundation
import Logging
import Synchronization

/// Figures of the publishing side, for STATUS= and logs.
public struct PublisherFigures: Sendable {
    public var posts: Int64 = 0
    public var delivered: Int64 = 0
    public var duplicates: Int64 = 0
    public var deadLettered: Int64 = 0
    public var spooled: Int64 = 0
    public var spoolBytes: Int64 = 0
    public var spoolFull: Int64 = 0
    /// Posts an earlier run had handed to Kafka without an acknowledgement, re-sent at start-up.
    public var recoveredFromJournal: Int64 = 0
    /// Posts written to the in-flight journal and not yet acknowledged or spooled.
    public var inFlight: Int = 0
}

/// A post waiting for the spool, with its journal seq when it has one (resolved once spooled).
struct PendingRecord {
    var key: [UInt8]
    var value: [UInt8]
    var seq: UInt64?
}

/// Turns posts into `tweets` records: canonical JSON keyed by post id on the idempotent producer,
/// optional raw mirror, dead letters with their reason. Thread-safe: stream sources call it from
/// their own threads.
///
/// Posts are encoded into a batch (`JournalBatch`). A full batch is handed to the publisher's flush
/// thread, which writes it to the in-flight journal and only then hands its posts to librdkafka (which
/// copies them from the batch's bytes), while the source goes on decoding and encoding the next batch;
/// `flush()` (when the source goes idle, and once a second) does the same for the current batch and
/// returns once it is done. Batches are flushed one at a time, oldest first. The journal is the
/// durability boundary for a process kill (see `InflightJournal`): a post is resolved there once Kafka
/// acknowledged it or once it is durably in the spool.
///
/// Nothing is dropped when Kafka is away: while the brokers are unreachable (or a delivery failed, or
/// the producer queue stays full) posts go to the disk spool, in order, and new posts keep going
/// there until the spool is drained back to Kafka (`drainSpool`, also at start-up).
public final class PostPublisher: @unchecked Sendable {
    public let topic: String
    public let rawTopic: String?
    public let dlqTopic: String
    let producer: KafkaProducer
    let logger: Logger
    let spool: Spool
    let journal: InflightJournal
    private let tweets: ProducerTopic
    private let lock = NSLock()
    // The per-post state: always under `lock`, so the run-time exclusivity checks are skipped (they
    // showed in profiles of the per-post path).
    @exclusivity(unchecked) private var recent: RecentIDs
    @exclusivity(unchecked) private var figures = PublisherFigures()
    /// Posts go to the spool rather than to Kafka (outage, or a backlog still to drain).
    private var spooling = false
    /// Posts the spool refused (full): retried by `syncSpool`.
    private var pendingSpool: [PendingRecord] = []
    /// The batch being filled, and the raw payloads of its posts (`--raw-topic`).
    @exclusivity(unchecked) private var batch = JournalBatch()
    private var batchRaw: [(key: [UInt8], value: [UInt8])] = []
    /// Full batches on their way to the journal and the producer, and the flush thread.
    private let handOff = BatchHandOff(buffers: 2)
    private var flusher: BlockingThread?
    /// Journal write failures already logged (guarded by `handOff`'s flushing turn).
    private var journalErrorsLogged: Int64 = 0
    /// A batch is flushed at this many posts or bytes.
    public let maxBatchPosts: Int
    public let maxBatchBytes: Int

    public init(kafka: KafkaConfig, topic: String, rawTopic: String?, dlqTopic: String, dedupeCapacity: Int,
                spoolDirectory: String, spoolMaxBytes: Int64, logger: Logger,
                maxBatchPosts: Int = 1000, maxBatchBytes: Int = 512 << 10) throws {
        self.topic = topic
        self.rawTopic = rawTopic
        self.dlqTopic = dlqTopic
        self.logger = logger
        self.maxBatchPosts = max(1, maxBatchPosts)
        self.maxBatchBytes = max(4096, maxBatchBytes)
        recent = RecentIDs(capacity: max(1, dedupeCapacity))
        try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true)
        // The spool first: its flock on the directory also guards the journal inside it.
        let spool = try Spool(directory: spoolDirectory, maxBytes: spoolMaxBytes)
        self.spool = spool
        let journal = try InflightJournal(directory: spoolDirectory + "/inflight")
        self.journal = journal
        if !journal.recovered.isEmpty {
            // Handed to Kafka by an earlier run that died before their acknowledgements: re-sent first,
            // through the spool (durable before the journal files go).
            let n = journal.recovered.count
            do {
                try spool.append(batch: journal.recovered)
                journal.discardRecovered()
                figures.recoveredFromJournal = Int64(n)
                logger.warning("in-flight journal: \(n) post(s) an earlier run handed to Kafka without an acknowledgement; re-sending them (some may be duplicates of posts delivered just before it stopped)",
                               metadata: ["torn_bytes": "\(journal.tornBytes)"])
            } catch {
                logger.critical("in-flight journal: cannot spool \(n) recovered post(s): \(error); kept for the next start", metadata: ["error_kind": "spool_full"])
            }
        }
        let failures = FailedRecords()
        let deadLetters = DeadLetterLedger()
        let drained = DrainTracker()
        self.drained = drained
        // No delivery timeout (0 = none): a post already handed to librdkafka when the broker goes away
        // waits there and goes out first when it is back, ahead of everything spooled meanwhile. A timeout
        // would fail it into the spool behind newer posts, which reorders the partition and turns it late
        // for trendd. A kill meanwhile is covered by the in-flight journal.
        // A tagged record Kafka took: a drained spool record (see below) or a journal seq resolved.
        let acknowledge: @Sendable (UInt64) -> Void = { tag in
            if tag & DrainTracker.tagBit != 0 { drained.report(seq: tag & ~DrainTracker.tagBit, ok: true) } else { journal.resolve(tag) }
        }
        // Acknowledgements only resolve journal seqs: served every 5 ms in bulk while busy (`reportPause`),
        // and without a `DeliveryReport` (`onAcknowledged`).
        producer = try KafkaProducer(config: kafka.withDefaults(["message.timeout.ms": "0"]), logger: logger,
                                     reportPause: HTDuration(millis: 5), onDelivery: { report in
            if report.error == nil {
                if let tag = report.tag { acknowledge(tag) }
                return
            }
            // A record drained from the spool: it stays there until acknowledged, so a failure is only
            // noted (the drain pauses and sends it again), never spooled a second time.
            if let tag = report.tag, tag & DrainTracker.tagBit != 0 {
                drained.report(seq: tag & ~DrainTracker.tagBit, ok: false)
                return
            }
            // What Kafka did not take after all retries is kept, never dropped: posts are spooled by
            // `syncSpool`, dead letters held (with their headers) and sent again once Kafka answers.
            guard let v = report.value, report.topic != "" else { return }
            if report.topic == dlqTopic { deadLetters.failed(v) } else { failures.add(report.key, v, report.topic, report.tag) }
        }, onAcknowledged: acknowledge)
        tweets = try producer.topic(topic)
        self.failures = failures
        self.deadLetters = deadLetters
        // The thread holds the publisher until `close()` stops it (a weak reference would put every
        // retain of the publisher on the slow, side-table path).
        let handOff = self.handOff
        flusher = BlockingThread(name: "ingest-flush") {
            while var item = handOff.next() {
                self.write(&item.batch, raws: item.raws)
                handOff.done(&item.batch)
            }
        }
        if spool.count > 0 {
            spooling = true
            logger.warning("spool holds \(spool.count) post(s) from an earlier run; draining them first", metadata: ["spool_bytes": "\(spool.bytes)"])
        }
    }

    private let failures: FailedRecords
    private let deadLetters: DeadLetterLedger
    private let drained: DrainTracker

    /// Accepts one post into the current batch (a duplicate id within the recent horizon is dropped
    /// and counted); flushes when the batch is full. Call `flush()` when the source goes idle.
    public func publish(_ post: Post, raw: [UInt8]? = nil) {
        let full = lock.withLock { () -> Bool in
            guard recent.insert(post.id) else { figures.duplicates += 1; return false }
            figures.posts += 1
            var id = post.id
            id.withUTF8 { key in batch.append(key: key) { post.appendCanonicalJSON(to: &$0) } }
            if rawTopic != nil, let raw { batchRaw.append((Array(post.id.utf8), raw)) }
            return batch.count >= maxBatchPosts || batch.bytes.count >= maxBatchBytes
        }
        if full { handOffFull() }
    }

    /// `publish` for a post lent by `PostDecoder.decode(line:views:)` (replay): encoded from the line's
    /// bytes, no `Post` built.
    public func publish(_ view: PostView) {
        let full = view.withID { id in
            lock.withLock { () -> Bool in
                guard recent.insert(utf8: id) else { figures.duplicates += 1; return false }
                figures.posts += 1
                batch.append(key: id) { view.appendCanonicalJSON(to: &$0) }
                return batch.count >= maxBatchPosts || batch.bytes.count >= maxBatchBytes
            }
        }
        if full { handOffFull() }
    }

    /// Takes the current batch out (under `lock`), leaving an empty buffer in its place.
    private func takeBatch(into b: inout JournalBatch) -> [(key: [UInt8], value: [UInt8])] {
        lock.withLock {
            swap(&b, &batch)
            defer { batchRaw.removeAll() }
            return batchRaw
        }
    }

    /// Queues the full batch for the flush thread; waits while both spare buffers are still queued
    /// (back-pressure: at most two batches ahead of the journal).
    private func handOffFull() {
        // After close() (no flush thread) a full batch is flushed in place.
        if !handOff.enqueue({ b in takeBatch(into: &b) }) { flush() }
    }

    /// Writes the current batch to the journal, then hands its posts to the producer (or, while
    /// spooling, writes them to the spool), on the calling thread, after the batches queued before it.
    public func flush() {
        handOff.flushNow(take: { takeBatch(into: &$0) }, write: { write(&$0, raws: $1) })
    }

    /// Journal, then producer or spool, for one batch (one batch at a time: `BatchHandOff` serializes).
    private func write(_ b: inout JournalBatch, raws: [(key: [UInt8], value: [UInt8])]) {
        guard !b.isEmpty else { return }
        do {
            // Deciding to spool and writing to the spool under the lock: the drain's switch back to
            // direct production (under the same lock) then never leaves a batch behind in the spool.
            let spooled = lock.withLock { () -> Bool in
                if !spooling && producer.brokersUnreachable {
                    spooling = true
                    logger.warning("Kafka unreachable: spooling posts to disk", metadata: ["error_kind": "kafka_unreachable"])
                }
                guard spooling else { return false }
                spoolLocked(b.arrays().map { PendingRecord(key: $0.key, value: $0.value, seq: nil) }, durable: false)
                return true
            }
            if !spooled { produce(&b) }
            // The acknowledgements that came in since the last batch: fewer posts re-sent after a kill.
            journal.checkpoint()
            if let rawTopic {
                for r in raws { _ = send(topic: rawTopic, key: r.key, value: r.value) }
            }
        }
    }

    private func produce(_ b: inout JournalBatch) {
        let first = journal.write(&b)
        if journal.writeErrors != journalErrorsLogged {
            // The posts still go to Kafka, only without the protection against a kill: loud, not fatal.
            journalErrorsLogged = journal.writeErrors
            logger.critical("in-flight journal write failed (\(journalErrorsLogged) batch(es) so far): \(journal.lastError.map { "\($0)" } ?? "unknown"); posts are produced without protection against a kill",
                            metadata: ["error_kind": "journal_write"])
        }
        let stopped: Int? = b.bytes.withUnsafeBytes { raw -> Int? in
            for (i, start) in b.starts.enumerated() {
                let r = JournalBatch.record(raw, at: start)
                if !send(tweets, key: r.key, value: r.value, tag: first + UInt64(i)) { return i }
            }
            return nil
        }
        guard let stopped else { return }
        // Kafka is not taking posts: this one and the rest of the batch go to the spool (durably), then
        // count as resolved in the journal; new posts follow them there.
        let rest = b.arrays(from: stopped).enumerated().map { PendingRecord(key: $1.key, value: $1.value, seq: first + UInt64(stopped + $0)) }
        lock.withLock {
            if !spooling { logger.warning("Kafka not taking posts: spooling posts to disk", metadata: ["error_kind": "kafka_queue_full"]) }
            spooling = true
            spoolLocked(rest, durable: true)
        }
    }

    /// Appends to the spool (caller holds `lock`); a full spool keeps the records in memory, loudly.
    private func spoolLocked(_ records: [PendingRecord], durable: Bool) {
        guard !records.isEmpty else { return }
        do {
            let pairs = records.map { (key: $0.key, value: $0.value) }
            if durable { try spool.append(batch: pairs) } else { try spool.appendUnsynced(batch: pairs) }
            figures.spooled += Int64(records.count)
            for r in records { if let s = r.seq { journal.resolve(s) } }
        } catch {
            figures.spoolFull += Int64(records.count)
            pendingSpool.append(contentsOf: records)
            logger.critical("cannot spool \(records.count) post(s): \(error)", metadata: ["error_kind": "spool_full"])
        }
    }

    public func deadLetter(reason: String, bytes: [UInt8], origin: String) {
        let limit = 256 * 1024
        var headers: [(String, [UInt8])] = [("hashtrend.error", Array(reason.utf8)), ("hashtrend.source", Array(origin.utf8))]
        if bytes.count > limit { headers.append(("hashtrend.truncated", Array("\(bytes.count)".utf8))) }
        let value = bytes.count > limit ? Array(bytes.prefix(limit)) : bytes
        // While Kafka is away a dead letter would only time out in librdkafka's queue: hold it instead.
        if lock.withLock({ spooling }) || producer.brokersUnreachable {
            deadLetters.hold(value, headers)
        } else {
            deadLetters.remember(value, headers)
            _ = send(topic: dlqTopic, key: nil, value: value, headers: headers, wait: true)
        }
        lock.withLock { figures.deadLettered += 1 }
        logger.warning("line dead-lettered: \(reason)", metadata: ["error_kind": "\(reason.split(separator: ":").first ?? "")", "origin": "\(origin)"])
    }

    /// Enqueues; a queue that stays full for 2 s means Kafka is not keeping up: the caller spools.
    private func send(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = [], wait: Bool = false) -> Bool {
        retrying(wait: wait, topic: topic) { try producer.produce(topic: topic, key: key, value: value, headers: headers) }
    }

    private func send(_ t: ProducerTopic, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, tag: UInt64?) -> Bool {
        // The fast path: enqueued at the first attempt.
        if (try? producer.produce(t, key: key, value: value, tag: tag)) != nil { return true }
        return retrying(wait: false, topic: t.name) { try producer.produce(t, key: key, value: value, tag: tag) }
    }

    private func retrying(wait: Bool, topic: String, _ attempt: () throws -> Void) -> Bool {
        let deadline = DispatchTime.now() + .seconds(2)
        while true {
            do {
                try attempt()
                return true
            } catch let e as KafkaError where e.isQueueFull {
                if !wait && DispatchTime.now() > deadline { return false }
                Thread.sleep(forTimeInterval: 0.002)
            } catch {
                logger.error("produce to \(topic) failed: \(error)", metadata: ["error_kind": "produce"])
                if !wait { return false }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// Makes the spool durable: failed deliveries and posts the spool refused are appended (fdatasync'd),
    /// posts written while spooling are synced.
    public func syncSpool() {
        let failed = failures.takeAll().filter { $0.topic == topic }
        let batch: [PendingRecord] = lock.withLock {
            defer { pendingSpool.removeAll(keepingCapacity: true) }
            if !failed.isEmpty { spooling = true }
            return failed.map { PendingRecord(key: $0.key ?? [], value: $0.value, seq: $0.tag) } + pendingSpool
        }
        if batch.isEmpty {
            do { try spool.sync() } catch { logger.critical("cannot sync the spool: \(error)", metadata: ["error_kind": "spool_sync"]) }
            return
        }
        lock.withLock { spoolLocked(batch, durable: true) }
    }

    /// Records the journal's progress and drops its fully resolved files (about once a second).
    public func checkpoint() {
        journal.checkpoint()
    }

    /// While spooling: when Kafka answers again, sends the spool's oldest posts and commits them once
    /// acknowledged; leaves spooling mode when the spool is empty. Returns true while there is a backlog.
    @discardableResult
    public func drainSpool(heartbeat: Heartbeat? = nil) -> Bool {
        syncSpool()
        // A batch another thread spooled just after the last drain found the spool empty: back to
        // spooling, so it is drained now rather than at the next start (and new posts stay behind it).
        lock.withLock { if !spooling && spool.count > 0 { spooling = true } }
        guard lock.withLock({ spooling }) else {
            if deadLetters.heldCount > 0, (try? producer.partitionCount(topic: dlqTopic, timeout: HTDuration(millis: 250))) != nil {
                sendHeldDeadLetters()
            }
            return false
        }
        // Probe: Kafka must answer a metadata request before a batch is taken from the spool. Short: the
        // replay and synthetic sources call this from their producing loop, which it blocks while Kafka is away.
        guard (try? producer.partitionCount(topic: topic, timeout: HTDuration(millis: 250))) != nil else { return true }
        // Batches for up to half a second per call, so the caller's loop keeps turning.
        let until = DispatchTime.now() + .milliseconds(500)
        do {
            while spool.count > 0 && DispatchTime.now() < until {
                let records = try spool.peek(max: 5000)
                guard !records.isEmpty else { break }
                // Commit exactly what Kafka acknowledged of these records (a contiguous prefix), whatever
                // else fails meanwhile: a failure of an older post (timed out in librdkafka's queue during
                // the outage) must not make the drain send an acknowledged batch a second time.
                let from = spool.committedSeq
                drained.reset(after: from)
                var sentAll = true
                for r in records {
                    heartbeat?.beat()
                    let ok = r.key.withUnsafeBytes { k in r.value.withUnsafeBytes { v in send(tweets, key: k, value: v, tag: DrainTracker.tagBit | r.seq) } }
                    if !ok { sentAll = false; break }
                }
                try? producer.flush(timeout: .seconds(10))
                let (upTo, failed) = drained.state
                if upTo > from {
                    try spool.commit(upTo: upTo)
                    logger.info("drained \(upTo - from) spooled post(s)", metadata: ["spool_remaining": "\(spool.count)"])
                }
                guard sentAll && !failed && upTo == records.last!.seq else { return true }
            }
        } catch {
            logger.warning("spool drain paused: \(error)")
            return true
        }
        // Spool empty: posts the spool had refused go straight to Kafka, and so do new ones.
        let leftovers: [PendingRecord]? = lock.withLock {
            guard spool.count == 0 else { return nil }
            spooling = false
            defer { pendingSpool.removeAll() }
            return pendingSpool
        }
        guard let leftovers else { return true }
        for (i, r) in leftovers.enumerated() {
            let ok = r.key.withUnsafeBytes { k in r.value.withUnsafeBytes { v in send(tweets, key: k, value: v, tag: r.seq) } }
            if !ok {
                lock.withLock {
                    spooling = true
                    pendingSpool.insert(contentsOf: leftovers[i...], at: 0)
                }
                return true
            }
        }
        logger.info("spool drained; producing directly again")
        sendHeldDeadLetters()
        return false
    }

    public var outstanding: Int {
        producer.outstanding + failures.count + deadLetters.heldCount + handOff.queuedPosts + lock.withLock { batch.count }
    }

    /// Sends the dead letters held during an outage (or returned by a failed delivery), oldest first.
    private func sendHeldDeadLetters() {
        let held = deadLetters.takeHeld()
        for (i, d) in held.enumerated() {
            deadLetters.remember(d.value, d.headers)
            if !send(topic: dlqTopic, key: nil, value: d.value, headers: d.headers) {
                deadLetters.putBack(Array(held[(i + 1)...]))
                return
            }
        }
        if !held.isEmpty { logger.info("sent \(held.count) dead letter(s) held while Kafka was away") }
    }

    public func snapshot() -> PublisherFigures {
        var f = lock.withLock { figures }
        f.delivered = producer.deliveredCount
        f.spoolBytes = spool.bytes
        f.inFlight = journal.pending
        return f
    }

    public var kafkaError: KafkaError? { producer.lastError }
    public var isSpooling: Bool { lock.withLock { spooling } }

    /// Waits until every record is acknowledged or spooled, bounded by `timeout`.
    public func drain(timeout: HTDuration, heartbeat: Heartbeat? = nil) -> Bool {
        flush()
        let deadline = DispatchTime.now() + .milliseconds(Int(timeout.millis))
        while DispatchTime.now() < deadline {
            heartbeat?.beat()
            syncSpool()
            if deadLetters.heldCount > 0 && !isSpooling { sendHeldDeadLetters() }
            if producer.outstanding == 0 && failures.count == 0 && deadLetters.heldCount == 0 { break }
            try? producer.flush(timeout: HTDuration(millis: 200))
        }
        syncSpool()
        journal.checkpoint()
        return producer.outstanding == 0 && deadLetters.heldCount == 0
    }

    /// Flushes what Kafka can take within `timeout`; everything else is already in the spool, or stays
    /// in the in-flight journal (re-sent at the next start).
    public func close(timeout: HTDuration) {
        _ = drain(timeout: timeout)
        if deadLetters.heldCount > 0 {
            logger.error("\(deadLetters.heldCount) dead letter(s) not delivered: Kafka did not answer before shutdown", metadata: ["error_kind": "undelivered"])
        }
        handOff.stop()
        flusher?.join()
        flusher = nil
        producer.close(timeout: HTDuration(millis: 100))
        let pending = journal.pending
        journal.close()
        if pending > 0 {
            logger.warning("\(pending) post(s) not acknowledged at shutdown stay in the in-flight journal; the next start re-sends them")
        }
        try? spool.close()
    }
}

/// The hand-off of full batches from the source's thread to the publisher's flush thread, with the
/// buffers they travel in. One batch is flushed at a time (a turn), oldest first: by the flush thread
/// for queued batches, by the caller of `flushNow` for the current one (after those queued before it),
/// so batches reach the journal and the producer in the order they were filled.
final class BatchHandOff: @unchecked Sendable {
    typealias Item = (batch: JournalBatch, raws: [(key: [UInt8], value: [UInt8])])
    private let cond = NSCondition()
    private var queue: [Item] = []
    private var free: [JournalBatch]
    private var turnTaken = false
    private var stopped = false
    private var posts = 0

    init(buffers: Int) { free = (0..<max(1, buffers)).map { _ in JournalBatch() } }

    /// Posts in queued batches and in the batch being flushed.
    var queuedPosts: Int { cond.withLock { posts } }

    /// Swaps a free buffer in for the full batch (`take`, called with `cond` held so that batches
    /// queue in the order they were taken) and queues it; waits for a free buffer. False once stopped
    /// (nothing taken: the caller flushes in place).
    @discardableResult
    func enqueue(_ take: (inout JournalBatch) -> [(key: [UInt8], value: [UInt8])]) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while free.isEmpty && !stopped { cond.wait() }
        if stopped { return false }
        // Buffers move (`consume`): a second reference would make the next append copy the buffer.
        var b = free.removeLast()
        let raws = take(&b)
        if b.isEmpty { free.append(consume b); return true }   // another thread flushed it meanwhile
        posts += b.count
        queue.append((consume b, raws))
        cond.broadcast()
        return true
    }

    /// The flush thread: the next queued batch, with the turn; nil once stopped and empty.
    func next() -> Item? {
        cond.lock()
        defer { cond.unlock() }
        while (queue.isEmpty || turnTaken) && !(stopped && queue.isEmpty) { cond.wait() }
        guard !queue.isEmpty else { return nil }
        turnTaken = true
        return queue.removeFirst()
    }

    /// The flush thread is done with a batch: its buffer goes back, emptied (`b` is left a placeholder),
    /// and the turn is released.
    func done(_ b: inout JournalBatch) {
        let n = b.count
        b.removeAll()
        var buffer = JournalBatch(capacity: 0)
        swap(&buffer, &b)
        cond.lock()
        posts -= n
        free.append(consume buffer)
        turnTaken = false
        cond.broadcast()
        cond.unlock()
    }

    /// Once every batch queued before is flushed, takes the current batch (`take`, with `cond` held, as
    /// in `enqueue`) and flushes it (`write`) on the caller's thread.
    func flushNow(take: (inout JournalBatch) -> [(key: [UInt8], value: [UInt8])],
                  write: (inout JournalBatch, [(key: [UInt8], value: [UInt8])]) -> Void) {
        cond.lock()
        while !queue.isEmpty || turnTaken || free.isEmpty { cond.wait() }
        turnTaken = true
        var b = free.removeLast()
        let raws = take(&b)
        cond.unlock()
        write(&b, raws)
        b.removeAll()
        cond.lock()
        free.append(consume b)
        turnTaken = false
        cond.broadcast()
        cond.unlock()
    }

    /// The flush thread ends once the queue is empty.
    func stop() { cond.withLock { stopped = true; cond.broadcast() } }
}

/// Records Kafka refused after all retries, waiting to be spooled.
final class FailedRecords: @unchecked Sendable {
    typealias Item = (key: [UInt8]?, value: [UInt8], topic: String, tag: UInt64?)
    private let lock = NSLock()
    private var items: [Item] = []
    func add(_ key: [UInt8]?, _ value: [UInt8], _ topic: String, _ tag: UInt64?) { lock.withLock { items.append((key, value, topic, tag)) } }
    func takeAll() -> [Item] { lock.withLock { defer { items.removeAll() }; return items } }
    var count: Int { lock.withLock { items.count } }
}

/// Dead letters Kafka has not taken: held while it is away, or returned by a failed delivery. A failed
/// delivery report carries the value but not the headers, so the headers of recent dead letters are
/// remembered by the value's hash (bounded; dead letters are rare).
final class DeadLetterLedger: @unchecked Sendable {
    typealias Letter = (value: [UInt8], headers: [(String, [UInt8])])
    private let lock = NSLock()
    private var recent: [Int: [(String, [UInt8])]] = [:]
    private var order: [Int] = []
    private var held: [Letter] = []
    private let capacity = 10_000

    func remember(_ value: [UInt8], _ headers: [(String, [UInt8])]) {
        let h = value.hashValue
        lock.withLock {
            if recent.updateValue(headers, forKey: h) == nil { order.append(h) }
            if order.count > capacity { recent.removeValue(forKey: order.removeFirst()) }
        }
    }

    func failed(_ value: [UInt8]) {
        lock.withLock {
            let headers = recent[value.hashValue] ?? [("hashtrend.error", Array("unknown: a failed delivery lost the reason".utf8))]
            held.append((value, headers))
        }
    }

    func hold(_ value: [UInt8], _ headers: [(String, [UInt8])]) { lock.withLock { held.append((value, headers)) } }
    func takeHeld() -> [Letter] { lock.withLock { defer { held.removeAll() }; return held } }
    func putBack(_ letters: [Letter]) { lock.withLock { held.insert(contentsOf: letters, at: 0) } }
    var heldCount: Int { lock.withLock { held.count } }
}

/// Acknowledgements of the records one drain round sends from the spool, tagged `tagBit | seq`: the
/// spool commits their contiguous acknowledged prefix.
final class DrainTracker: @unchecked Sendable {
    /// Marks a tag as a spool seq (journal seqs never reach it).
    static let tagBit: UInt64 = 1 << 62
    private let lock = NSLock()
    private var window = SpoolAckWindow(after: 0)
    private var failed = false

    func reset(after committed: UInt64) { lock.withLock { window = SpoolAckWindow(after: committed); failed = false } }
    func report(seq: UInt64, ok: Bool) { lock.withLock { if ok { window.ack(seq) } else { failed = true } } }
    var state: (committable: UInt64, failed: Bool) { lock.withLock { (window.committable, failed) } }
}
