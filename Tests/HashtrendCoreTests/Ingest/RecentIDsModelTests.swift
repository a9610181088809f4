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

    @Test("ids of any length, longer than a ring slot too, and ids equal in their first 31 bytes")
    func anyLength() {
        var rng = SystemRandomNumberGenerator()
        let prefix = String(repeating: "7", count: 31)
        for capacity in [3, 50, 400] {
            var r = RecentIDs(capacity: capacity)
            var order: [String] = []
            var members = Set<String>()
            for _ in 0..<8_000 {
                let n = Int.random(in: 0..<Int(capacity * 2 + 3), using: &rng)
                let id: String
                switch n % 4 {
                case 0: id = prefix + String(n)                       // long, shared first 31 bytes
                case 1: id = String(repeating: "a", count: n % 70)    // 0 to 69 bytes
                case 2: id = "é" + String(n)                          // non-ASCII
                default: id = String(1_900_000_000_000_000_000 + UInt64(n))
                }
                let expected = !members.contains(id)
                if expected {
                    order.append(id)
                    members.insert(id)
                    if order.count > capacity { members.remove(order.removeFirst()) }
                }
                let got = r.insert(id)
                if got != expected { Issue.record("capacity \(capacity): insert(\(id)) = \(got), model says \(expected)"); return }
            }
            #expect(r.count == members.count)
            #expect(members.allSatisfy { r.contains($0) })
            #expect(!r.contains(prefix + "x"))
        }
    }
}
