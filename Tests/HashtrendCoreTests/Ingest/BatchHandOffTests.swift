import Foundation
import Synchronization
import Testing
@testable import HashtrendCore

@Suite("Ingest: batch hand-off to the flush thread")
struct BatchHandOffTests {
    /// The keys of a batch, as strings.
    private static func keys(_ b: JournalBatch) -> [String] { b.arrays().map { String(decoding: $0.key, as: UTF8.self) } }

    @Test("batches are flushed one at a time in the order they were filled, queued or flushed in place, none lost")
    func orderAndBackPressure() {
        let handOff = BatchHandOff(buffers: 2)
        let written = Mutex<[String]>([])
        let inFlush = Atomic<Int>(0)
        let overlapped = Atomic<Bool>(false)
        @Sendable func write(_ b: JournalBatch) {
            if inFlush.add(1, ordering: .sequentiallyConsistent).newValue > 1 { overlapped.store(true, ordering: .relaxed) }
            usleep(UInt32.random(in: 0...300))   // a slow journal/producer: the source runs ahead
            written.withLock { $0 += Self.keys(b) }
            inFlush.subtract(1, ordering: .sequentiallyConsistent)
        }
        let flusher = Thread {
            while var item = handOff.next() {
                write(item.batch)
                handOff.done(&item.batch)
            }
        }
        flusher.start()
        var current = JournalBatch(capacity: 1024)
        var expected: [String] = []
        var maxQueued = 0
        for i in 0..<600 {
            let key = "post-\(i)"
            current.append(key: Array(key.utf8), value: Array("{}".utf8))
            expected.append(key)
            if i % 5 == 4 {
                handOff.enqueue { b in swap(&b, &current); return [] }
                #expect(current.isEmpty, "a free, empty buffer takes the full batch's place")
                maxQueued = max(maxQueued, handOff.queuedPosts)
            }
            if i % 37 == 36 {
                handOff.flushNow(take: { b in swap(&b, &current); return [] }, write: { b, _ in write(b) })
                // Everything filled so far is written once flushNow returns.
                #expect(written.withLock { $0 } == expected)
            }
        }
        handOff.flushNow(take: { b in swap(&b, &current); return [] }, write: { b, _ in write(b) })
        #expect(written.withLock { $0 } == expected)
        #expect(handOff.queuedPosts == 0)
        #expect(maxQueued <= 2 * 5, "at most two full batches wait for the flush thread")
        let overlap = overlapped.load(ordering: .relaxed)
        #expect(!overlap, "one batch at a time")
        handOff.stop()
        var waited = 0
        while !flusher.isFinished && waited < 200 { usleep(10_000); waited += 1 }
        #expect(flusher.isFinished, "stop() ends the flush thread")
        // Once stopped nothing is queued (nobody would flush it): the caller flushes in place.
        current.append(key: Array("late".utf8), value: Array("{}".utf8))
        let queued = handOff.enqueue { b in swap(&b, &current); return [] }
        #expect(!queued && current.count == 1)
        handOff.flushNow(take: { b in swap(&b, &current); return [] }, write: { b, _ in write(b) })
        #expect(written.withLock { $0 }.last == "late")
    }
}
