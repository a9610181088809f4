import Foundation
import Logging
import Synchronization
import Testing
@testable import HashtrendCore

/// trendd's feed thread (poll + decode on one thread, counting on another) across rebalances, through
/// the embedded broker. Two group members count the same topic the way trendd's loop does: commit
/// exactly what was counted when partitions are revoked, start from the committed offsets when they
/// are assigned. A member's counting side is slow, so batches are queued between the threads when a
/// rebalance arrives. Checked: no record of a partition is counted while the member does not own it,
/// each owned partition's offsets are counted contiguously from where its assignment started (a
/// record polled before a rebalance but counted after it would break that), no record is lost across
/// both members, and none is counted twice unless a commit was refused (the mock broker refuses
/// commits while an eager rebalance is in progress; trendd then rebuilds from its older checkpoint).
@Suite(.serialized) struct TrendFeedRebalanceTests {
    static let partitions: Int32 = 8
    static let total = 40_000

    /// One group member: a `TrendFeeder` and a counting thread that plays trendd's loop.
    final class Member: @unchecked Sendable {
        let name: String
        var consumer: KafkaConsumer!
        var feeder: TrendFeeder!
        private let lock = NSLock()
        private var owned = Set<Int32>()
        private var next: [Int32: Int64] = [:]
        private var counted: [[Int64]] = Array(repeating: [], count: Int(TrendFeedRebalanceTests.partitions))
        private var countedTotal = 0
        private(set) var problems: [String] = []
        private(set) var refusedCommits: [String] = []
        private(set) var revocations = 0
        private(set) var assignments = 0
        /// Batches counted after a rebalance callback began and before that rebalance was handled:
        /// records polled before it and still queued, which must be counted first.
        private(set) var queuedAtRebalance: [Int] = []
        private let batchesCounted = Atomic<Int>(0)
        private let callbackBegan = Atomic<Int>(-1)
        private let stopCounting = Atomic<Bool>(false)
        private let slowMicros: UInt32
        private var countingThread: Thread?
        private let countingDone = DispatchSemaphore(value: 0)

        init(name: String, bootstrap: String, strategy: String, slowMicros: UInt32) throws {
            self.name = name
            self.slowMicros = slowMicros
            consumer = try KafkaConsumer(
                config: KafkaConfig(["bootstrap.servers": bootstrap, "group.id": "feed", "session.timeout.ms": "6000",
                                     "heartbeat.interval.ms": "500", "partition.assignment.strategy": strategy]),
                logger: Logger(label: name)) { [unowned self] event in
                    if self.feeder.isFeedThread {
                        self.callbackBegan.store(self.batchesCounted.load(ordering: .relaxed), ordering: .relaxed)
                        return self.feeder.rebalance(event)
                    }
                    return self.lock.withLock { self.rebalance(event) }
                }
            feeder = TrendFeeder(consumer: consumer, capacity: 4, maxBatch: 50)
        }

        var total: Int { lock.withLock { countedTotal } }
        var perPartition: [[Int64]] { lock.withLock { counted } }

        func start() throws {
            try consumer.subscribe(["feed"])
            feeder.start()
            let t = Thread { [self] in
                while !stopCounting.load(ordering: .relaxed) || feeder.running.load(ordering: .acquiring) {
                    guard let item = feeder.queue.take(timeoutMillis: 50) else { continue }
                    lock.withLock { handle(item) }
                    if slowMicros > 0 { usleep(slowMicros) }
                }
                countingDone.signal()
            }
            t.name = "\(name)-count"
            countingThread = t
            t.start()
        }

        /// trendd's clean stop: the feed thread ends (its queue still served), then the consumer leaves
        /// and the revocation is handled on this thread.
        func stop() {
            feeder.requestStop()
            stopCounting.store(true, ordering: .relaxed)
            countingDone.wait()
            feeder.join()
            consumer.close()
        }

        private func handle(_ item: TrendFeedItem) {
            switch item {
            case .batch(let b):
                for e in b.events {
                    if case .deadLetter(let m, let reason) = e.event { problems.append("\(name): undecodable record \(m.partition)/\(m.offset): \(reason)") }
                }
                for (i, input) in b.posts.enumerated() {
                    let p = input.partition
                    // The arena carries each post's id and hashtags intact: post n has the tag "tag<n % 7>".
                    let id = String(decoding: b.bytes[Int(input.id.start)..<Int(input.id.start + input.id.count)], as: UTF8.self)
                    let tags = (Int(input.firstTag)..<Int(input.firstTag + input.tagCount)).map { t in
                        String(decoding: b.bytes[Int(b.tags[t].start)..<Int(b.tags[t].start + b.tags[t].count)], as: UTF8.self)
                    }
                    if let n = Int(id), tags != ["tag\(n % 7)"] || input.eventTimeMillis != 1_767_225_600_000 + Int64(n) * 10 {
                        problems.append("\(name): post \(i) of a batch: id \(id), tags \(tags), time \(input.eventTimeMillis)")
                    } else if Int(id) == nil {
                        problems.append("\(name): post \(i) of a batch: id \(id)")
                    }
                    guard owned.contains(p) else {
                        problems.append("\(name): counted \(p)/\(input.offset) while not owning partition \(p)")
                        continue
                    }
                    if let want = next[p], input.offset != want {
                        problems.append("\(name): partition \(p) expected offset \(want), got \(input.offset)")
                    }
                    next[p] = input.offset + 1
                    counted[Int(p)].append(input.offset)
                    countedTotal += 1
                }
                batchesCounted.add(1, ordering: .relaxed)
            case .rebalance(let event, let reply):
                let began = callbackBegan.exchange(-1, ordering: .relaxed)
                if began >= 0 { queuedAtRebalance.append(batchesCounted.load(ordering: .relaxed) - began) }
                reply.answer(rebalance(event))
            }
        }

        private func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64]? {
            switch event {
            case .revoked(let tps, let lost):
                revocations += 1
                let offsets = tps.compactMap { tp in next[tp.partition].map { PartitionOffset(tp, offset: $0) } }
                if !lost {
                    do { try consumer.commit(offsets) } catch { refusedCommits.append("\(name): \(error)") }
                }
                for tp in tps {
                    owned.remove(tp.partition)
                    next[tp.partition] = nil
                }
                return nil
            case .assigned(let tps):
                assignments += 1
                // Retried as trendd does: on the mock, the lookup can time out while the group settles.
                var committed: [TopicPartition: PartitionOffset] = [:]
                var lookupErrors: [String] = []
                for _ in 0..<5 {
                    do { committed = try consumer.committed(tps, timeout: .seconds(5)); lookupErrors = []; break } catch {
                        lookupErrors.append("\(error)")
                        Thread.sleep(forTimeInterval: 0.5)
                    }
                }
                if !lookupErrors.isEmpty { problems.append("\(name): committed offsets: \(lookupErrors)") }
                var starts: [TopicPartition: Int64] = [:]
                for tp in tps {
                    let c = committed[tp]?.offset ?? KafkaOffset.invalid
                    let start = c >= 0 ? c : 0
                    starts[tp] = start
                    next[tp.partition] = start
                    owned.insert(tp.partition)
                }
                return starts
            }
        }
    }

    static func waitUntil(_ timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// A counts alone (slowly), B joins mid-stream (A is revoked while batches are queued), then A
    /// leaves cleanly mid-stream and B takes over its partitions.
    @Test(arguments: ["range", "cooperative-sticky"])
    func recordsPolledBeforeARebalanceAreCountedBeforeItAndExactlyOnce(strategy: String) throws {
        let broker = try BrokerProcess(topics: ["feed:\(Self.partitions)"])
        defer { broker.stop() }
        let producer = try KafkaProducer(config: KafkaConfig(["bootstrap.servers": broker.bootstrap]), logger: Logger(label: "produce"))
        for i in 0..<Self.total {
            let post = Post(id: "\(i)", createdAtMillis: 1_767_225_600_000 + Int64(i) * 10, text: "post \(i) #tag\(i % 7)", source: "synthetic")
            try producer.produce(topic: "feed", key: Array("\(i)".utf8), value: post.canonicalJSON())
        }
        try producer.flush(timeout: .seconds(60))
        producer.close(timeout: .seconds(5))

        // At most 50 records per batch, 20 ms per batch: under 2,500 records/s, so A is still mid-stream
        // after the (two, when cooperative) rebalances that let B in.
        let a = try Member(name: "A", bootstrap: broker.bootstrap, strategy: strategy, slowMicros: 20_000)
        let b = try Member(name: "B", bootstrap: broker.bootstrap, strategy: strategy, slowMicros: 0)
        try a.start()
        #expect(Self.waitUntil(30) { a.total >= 3_000 }, "A counted \(a.total) records")
        try b.start()
        #expect(Self.waitUntil(45) { b.total > 0 && a.revocations >= 1 && a.assignments >= 2 },
                "B never shared the partitions: A revoked \(a.revocations)x, assigned \(a.assignments)x; B counted \(b.total)")
        let aBeforeLeaving = a.total
        #expect(aBeforeLeaving < Self.total, "A counted everything before B joined: the rebalance came too late to test anything")
        a.stop()
        #expect(Self.waitUntil(60) { a.total + b.total >= Self.total }, "counted \(a.total) + \(b.total) of \(Self.total)")
        Thread.sleep(forTimeInterval: 0.5)
        b.stop()

        let problems = a.problems + b.problems
        #expect(problems.isEmpty, "\(problems.count) problem(s):\n\(problems.prefix(10).joined(separator: "\n"))")
        #expect(a.queuedAtRebalance.contains { $0 > 0 }, "A never had batches queued at a rebalance: \(a.queuedAtRebalance)")
        // Nothing lost; nothing counted twice unless a commit was refused.
        let pa = a.perPartition, pb = b.perPartition
        var distinct = 0, duplicates = 0
        for p in 0..<Int(Self.partitions) {
            let all = pa[p] + pb[p]
            let set = Set(all)
            distinct += set.count
            duplicates += all.count - set.count
            #expect(set.count == (set.max().map { Int($0) + 1 } ?? 0), "partition \(p): offsets missing below \(set.max() ?? -1)")
        }
        #expect(distinct == Self.total, "counted \(distinct) distinct records of \(Self.total)")
        let refused = a.refusedCommits + b.refusedCommits
        if refused.isEmpty { #expect(duplicates == 0, "\(duplicates) records counted twice although every commit was accepted") }
        print("feed rebalance (\(strategy)): A counted \(a.total) (revoked \(a.revocations)x, batches queued at rebalances \(a.queuedAtRebalance)), B \(b.total); \(duplicates) counted twice after \(refused.count) refused commit(s)")
    }
}
