@testable import HashtrendCore
func ambiguityProbe() {
    _ = WindowInput(partition: 0, offset: 0, postID: "a", eventTimeMillis: 0, tags: [])
    _ = WindowInput(partition: 0, offset: 0, postID: "a", eventTimeMillis: 0, tagPairs: [(key: "a", display: "A")])
    _ = WindowInput(partition: 0, offset: 0, postID: "a", eventTimeMillis: 0, tagPairs: [("a", "A")])
}

import Testing
@Suite struct WindowInputTests {
    @Test func pairsAndEmptyTagsBuildInputs() {
        ambiguityProbe()
        let a = WindowInput(partition: 1, offset: 2, postID: "p", eventTimeMillis: 3, tagPairs: [(key: "k", display: "K")])
        #expect(a.tags == [WindowTag(key: "k", display: "K")])
        #expect(WindowInput(partition: 1, offset: 2, postID: "p", eventTimeMillis: 3, tags: []).tags.isEmpty)
    }
}
