import Foundation
import Synchronization

/// Decoded input handed from trendd's feed thread (poll + decode) to its counting thread (window
/// engine, publishing, commits). Records stay in consumption order, so each partition's order (what
/// the determinism rule depends on) is the order the consumer delivered.
///
/// Posts travel as bytes: the feed thread copies each post's id and hashtags (as the decoder lends
/// them, unescaped, without `#`) into one arena per batch, so no String is built per post and only
/// a few contiguous arrays cross between the threads.
struct TrendFeedBatch {
    struct Span { var start: Int32, count: Int32 }
    struct FedPost {
        var partition: Int32
        var offset: Int64
        var eventTimeMillis: Int64
        var id: Span
        /// Range in `tags`.
        var firstTag: Int32, tagCount: Int32
    }
    var bytes: [UInt8] = []
    var posts: [FedPost] = []
    var tags: [Span] = []
    /// Records that are not posts (dead letters) and consumer errors, each placed before
    /// `posts[at]` so the counting thread handles them in their original position.
    var events: [(at: Int, event: TrendFeedEvent)] = []
    /// Kafka records consumed (a record may decode to several posts, or to none).
    var records = 0

    var isEmpty: Bool { records == 0 && events.isEmpty }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) -> Span {
        let start = Int32(self.bytes.count)
        self.bytes.append(contentsOf: bytes)
        return Span(start: start, count: Int32(bytes.count))
    }

    mutating func append(_ post: PostView, partition: Int32, offset: Int64) {
        let id = post.withID { append($0) }
        let first = Int32(tags.count)
        post.forEachHashtag { tags.append(append($0)) }
        posts.append(FedPost(partition: partition, offset: offset, eventTimeMillis: post.createdAtMillis, id: id,
                             firstTag: first, tagCount: Int32(tags.count) - first))
    }

    /// Feeds post `i` to `engine` (the same as `engine.process(view, ...)` on the decoder's view).
    func process(_ i: Int, in bytes: UnsafeBufferPointer<UInt8>, engine: WindowEngine) -> [TrendWindow] {
        let p = posts[i]
        func slice(_ s: Span) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: bytes[Int(s.start)..<Int(s.start + s.count)])
        }
        return engine.process(partition: p.partition, offset: p.offset, postID: slice(p.id), eventTimeMillis: p.eventTimeMillis) { body in
            for t in Int(p.firstTag)..<Int(p.firstTag + p.tagCount) { body(slice(tags[t])) }
        }
    }
}

enum TrendFeedEvent {
    case deadLetter(KafkaMessage, reason: String)
    case consumerError(KafkaError)
}

/// The answer to a rebalance the counting thread handled for the feed thread (start offsets to read from).
final class TrendRebalanceReply: @unchecked Sendable {
    private let cond = NSCondition()
    private var answered = false
    private var starts: [TopicPartition: Int64]?

    func answer(_ s: [TopicPartition: Int64]?) {
        cond.lock()
        starts = s
        answered = true
        cond.broadcast()
        cond.unlock()
    }

    /// Waits for the answer; gives up (nil) once `abandon()` is true (the counting thread is gone).
    func wait(turn: () -> Void, abandon: () -> Bool) -> [TopicPartition: Int64]? {
        cond.lock()
        defer { cond.unlock() }
        while !answered {
            if abandon() { return nil }
            _ = cond.wait(until: Date(timeIntervalSinceNow: 0.1))
            turn()
        }
        return starts
    }
}

enum TrendFeedItem {
    case batch(TrendFeedBatch)
    /// A rebalance seen inside the feed thread's poll: the counting thread handles it after every
    /// batch before it (so no record polled before the rebalance is counted after it), then answers.
    case rebalance(RebalanceEvent, TrendRebalanceReply)
}

/// A bounded FIFO between the two threads: the feed thread waits when it is full, which bounds
/// memory and lets librdkafka's own queue limits apply back-pressure to fetching.
final class TrendFeedQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [TrendFeedItem] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// False when `abandon()` became true while waiting for room (the item is dropped: uncounted
    /// records are never committed, so dropping them on shutdown loses nothing).
    func put(_ item: TrendFeedItem, turn: () -> Void, abandon: () -> Bool) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while items.count - head >= capacity {
            if abandon() { return false }
            _ = cond.wait(until: Date(timeIntervalSinceNow: 0.1))
            turn()
        }
        items.append(item)
        cond.broadcast()
        return true
    }

    /// The oldest item, waiting up to `timeoutMillis` for one.
    func take(timeoutMillis: Int) -> TrendFeedItem? {
        cond.lock()
        defer { cond.unlock() }
        if head == items.count {
            let deadline = Date(timeIntervalSinceNow: Double(timeoutMillis) / 1000)
            while head == items.count {
                if !cond.wait(until: deadline) { break }
            }
            if head == items.count { return nil }
        }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        cond.broadcast()
        return item
    }
}

/// Sets the calling thread's kernel name (at most 15 bytes); Glibc's pthread_setname_np is not
/// visible to Swift, /proc/thread-self/comm is.
func nameThisThread(_ name: String) {
    guard let fd = fopen("/proc/thread-self/comm", "w") else { return }
    fputs(name, fd)
    fclose(fd)
}

/// trendd's feed thread: polls the consumer, decodes each record straight from librdkafka's buffer,
/// computes the hashtag keys, and hands batches to the counting thread. Rebalance callbacks run here
/// (inside `poll`); they first hand over what was polled before them, then wait for the counting
/// thread to act on the rebalance, so a batch never mixes records from both sides of a rebalance.
final class TrendFeeder: @unchecked Sendable {
    let consumer: KafkaConsumer
    let queue: TrendFeedQueue
    let maxBatch: Int
    private let stopping = Atomic<Bool>(false)
    private let abandoned = Atomic<Bool>(false)
    /// Bumped on every turn of the feed loop and of its waits: the counting thread's watchdog beat
    /// requires it to move, so a hung feed thread stops the pings like a hung main loop.
    let turns = Atomic<UInt64>(0)
    let running = Atomic<Bool>(false)
    private let feedThread = Atomic<UInt>(0)
    private var thread: BlockingThread?

    // Feed-thread state.
    private var pending = TrendFeedBatch()
    private var decoder = PostDecoder(defaultSource: "replay")

    init(consumer: KafkaConsumer, capacity: Int = 8, maxBatch: Int = 1024) {
        self.consumer = consumer
        self.queue = TrendFeedQueue(capacity: capacity)
        self.maxBatch = maxBatch
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    /// The counting thread no longer serves the queue (it failed): every wait for it ends at once.
    var isAbandoned: Bool { abandoned.load(ordering: .relaxed) }

    func start() {
        running.store(true, ordering: .relaxed)
        thread = BlockingThread(name: "trendd-feed") { [self] in
            // The kernel's name too, so top -H, perf and bench/trendd_watch.py tell the threads apart.
            nameThisThread("trendd-feed")
            feedThread.store(UInt(pthread_self()), ordering: .releasing)
            run()
            running.store(false, ordering: .releasing)
        }
    }

    /// Asks the thread to stop polling; the caller keeps serving the queue until `running` is false
    /// (a rebalance in progress gets its answer), then joins.
    func requestStop() { stopping.store(true, ordering: .relaxed) }
    /// The caller stops serving the queue: the thread gives up any wait and ends.
    func abandon() {
        abandoned.store(true, ordering: .relaxed)
        stopping.store(true, ordering: .relaxed)
    }
    /// Waits for the thread to end (once; later calls return at once).
    func join() {
        thread?.join()
        thread = nil
    }

    /// True on the feed thread while it runs (where librdkafka calls the rebalance callback from `poll`).
    var isFeedThread: Bool {
        running.load(ordering: .acquiring) && feedThread.load(ordering: .acquiring) == UInt(pthread_self())
    }

    private func turn() { turns.add(1, ordering: .relaxed) }

    private func run() {
        // The first non-ASCII hashtag builds a one-off table (~0.1 s); build it now, while the group
        // join is still under way, rather than in the middle of the first batch.
        _ = HashtagKey.key("\u{E9}t\u{E9}")
        while !isStopping {
            turn()
            guard let m = consumer.poll(timeoutMillis: pending.isEmpty ? 100 : 0) else {
                handOver()
                continue
            }
            add(m)
            if pending.records >= maxBatch { handOver() }
        }
    }

    private func add(_ m: KafkaMessage) {
        if let e = m.error {
            pending.events.append((pending.posts.count, .consumerError(e)))
            return
        }
        pending.records += 1
        let value = m.value
        let partition = m.partition, offset = m.offset
        do throws(PostDecodeError) {
            // The views point into librdkafka's buffer; they are copied into the batch's arena only
            // once the whole record decoded (the decoder lends nothing on error).
            try decoder.decode(line: UnsafeBufferPointer(start: value.baseAddress?.assumingMemoryBound(to: UInt8.self), count: value.count)) { post in
                pending.append(post, partition: partition, offset: offset)
            }
        } catch {
            pending.events.append((pending.posts.count, .deadLetter(m, reason: error.reason)))
        }
    }

    /// Batches and records handed over (for the log line at stop).
    private(set) var batchesHandedOver = 0
    private(set) var recordsHandedOver = 0

    private func handOver() {
        guard !pending.isEmpty else { return }
        batchesHandedOver += 1
        recordsHandedOver += pending.records
        let b = pending
        pending = TrendFeedBatch()
        pending.posts.reserveCapacity(maxBatch)
        pending.bytes.reserveCapacity(b.bytes.count)
        pending.tags.reserveCapacity(b.tags.count)
        _ = queue.put(.batch(b), turn: turn, abandon: { isAbandoned })
    }

    /// Runs inside `poll` on the feed thread.
    func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64]? {
        handOver()
        let reply = TrendRebalanceReply()
        guard queue.put(.rebalance(event, reply), turn: turn, abandon: { isAbandoned }) else { return nil }
        return reply.wait(turn: turn, abandon: { isAbandoned })
    }
}
