import Foundation
import Testing
@testable import HashtrendCore

@Suite("Ingest: recent ids against a model")
struct RecentIDsModelTests {
    @Test("the fingerprint table answers exactly as a FIFO set of strings, through growth and eviction")
    func matchesModel() {
        var rng = SystemRandomNumberGenerator()
        for capacity in [1, 7, 1000, 5000] {
            var r = RecentIDs(capacity: capacity)
            var order: [String] = []
            var members = Set<String>()
            var duplicates = 0
            for _ in 0..<30_000 {
                // Ids drawn from a range a few times the capacity: many repeats, inside and outside it.
                let id = String(1_900_000_000_000_000_000 + UInt64.random(in: 0..<UInt64(capacity * 3 + 5), using: &rng))
                let expected = !members.contains(id)
                if expected {
                    order.append(id)
                    members.insert(id)
                    if order.count > capacity { members.remove(order.removeFirst()) }
                } else {
                    duplicates += 1
                }
                let got = r.insert(id)
                if got != expected { Issue.record("capacity \(capacity): insert(\(id)) = \(got), model says \(expected)"); return }
            }
            #expect(r.count == members.count)
            #expect(members.allSatisfy { r.contains($0) })
            #expect(duplicates > 0)
        }
    }
}
