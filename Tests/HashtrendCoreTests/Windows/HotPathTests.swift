import Foundation
import Testing
@testable import HashtrendCore

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The allocation-free hot path (decoder views, byte-level engine input, interned tags, the post-id
/// set) against the String-based path and against deliberately simple models.
@Suite struct HotPathTests {
    /// `decode(line:views:)` lends exactly the posts `decode(line:into:)` builds, and the same errors;
    /// `forEachHashtag` gives the displays of `PostTags.tags(of:)`.
    @Test(arguments: PostFormat.allCases)
    func viewsEqualPosts(format: PostFormat) throws {
        var g = PostGenerator(seed: 99, startMillis: 1_795_613_152_000, ratePerSecond: 300, disorderMillis: 1500)
        g.retweetShare = 0.2
        var a = PostDecoder(), b = PostDecoder()
        var viewed = 0
        for i in 0..<1500 {
            var line = PostGenerator.encode(g.next(), format: format)
            if i % 97 == 3 { line.removeLast(5) }              // truncated: an error on both paths
            if i % 89 == 5 { line = bytes(#"{"v":1,"id":"1","created_at":"2026-02-30T00:00:00.000Z","text":"x"}"#) }
            let expected: Result<[Post], PostDecodeError> = Result { () throws(PostDecodeError) in try a.decode(line) }
            var got: [Post] = []
            var displays: [[String]] = []
            let r: Result<Int, PostDecodeError> = line.withUnsafeBufferPointer { buf in
                Result { () throws(PostDecodeError) in
                    try b.decode(line: buf) { v in
                        got.append(v.post)
                        var d: [String] = []
                        v.forEachHashtag { d.append(String(decoding: $0, as: UTF8.self)) }
                        displays.append(d)
                        #expect(v.createdAtMillis == v.post.createdAtMillis)
                        #expect(v.withID { String(decoding: $0, as: UTF8.self) } == v.post.id)
                    }
                }
            }
            switch (expected, r) {
            case (.success(let posts), .success(let n)):
                #expect(n == posts.count)
                #expect(got == posts)
                #expect(displays == posts.map { PostTags.tags(of: $0).map(\.display) })
                viewed += n
            case (.failure(let e1), .failure(let e2)):
                #expect(e1 == e2)
                #expect(got.isEmpty)
            default:
                Issue.record("paths disagree on line \(i): \(expected) vs \(r)")
            }
        }
        #expect(viewed > 1300)
    }

    /// Escaped tags and text (decoded into a scratch buffer), and text extraction when the source gave none.
    @Test func viewsUnescape() throws {
        var d = PostDecoder()
        let line = bytes(#"{"v":1,"id":"7","created_at":"2026-01-01T00:00:00.000Z","text":"go #Caf\u00e9 and #\u0041b\"c"}"#)
        var tags: [String] = []
        var text = ""
        _ = try line.withUnsafeBufferPointer { buf in
            try d.decode(line: buf) { v in
                #expect(!v.hasSourceHashtags)
                text = v.withText { String(decoding: $0, as: UTF8.self) }
                v.forEachHashtag { tags.append(String(decoding: $0, as: UTF8.self)) }
            }
        }
        #expect(text == "go #Café and #Ab\"c")
        #expect(tags == ["Café", "Ab"])
    }

    /// The byte-level engine input gives the same windows as WindowInput with HashtagKey keys, also
    /// with enough distinct tags over time that the intern tables sweep and reuse ids.
    @Test(arguments: [TrendRanking.count, .score], [nil, 12] as [Int?])
    func byteInputEqualsWindowInputAcrossSweeps(rank: TrendRanking, maxTags: Int?) throws {
        var o = GeneratorOptions()
        o.vocabulary = 400
        o.recordsPerPartition = 1200
        o.meanGapMillis = 400
        let parts = generatePartitions(seed: 4242, o)
        // Keys as the byte path derives them, so both paths must agree exactly.
        let keyed = parts.map { recs in
            recs.map { r in
                WindowInput(partition: r.partition, offset: r.offset, postID: r.postID, eventTimeMillis: r.eventTimeMillis,
                            tags: r.tags.map { WindowTag(key: HashtagKey.key($0.display), display: $0.display) })
            }
        }
        let c = WindowConfig(size: .seconds(30), advance: .seconds(10), allowedLateness: .seconds(15), topK: 7,
                             rankBy: rank, maxTags: maxTags, baselineWindows: rank == .score ? 2 : 0)
        let seq = interleave(keyed, seed: 5)
        func run(bytes: Bool) throws -> (windows: [TrendWindow], sweeps: Int) {
            let e = try WindowEngine(config: c, clock: { 0 })
            e.internSweepMinimum = 64
            e.assign(partitions: (0..<Int32(keyed.count)).map { $0 })
            var out: [TrendWindow] = []
            for r in seq {
                if !bytes {
                    out += e.process(r)
                    continue
                }
                var id = r.postID
                let displays = r.tags.map { Array($0.display.utf8) }
                out += id.withUTF8 { idBytes in
                    e.process(partition: r.partition, offset: r.offset, postID: idBytes, eventTimeMillis: r.eventTimeMillis) { body in
                        for d in displays { d.withUnsafeBufferPointer { body($0) } }
                    }
                }
            }
            out += e.flush()
            return (out.filter(\.final).map(\.comparable), e.internSweeps)
        }
        let viaStrings = try run(bytes: false)
        let viaBytes = try run(bytes: true)
        #expect(viaBytes.windows.count > 30)
        #expect(viaBytes.sweeps > 4 && viaStrings.sweeps > 4)
        #expect(viaBytes.windows == viaStrings.windows)
        if maxTags == nil && rank == .count {
            #expect(viaStrings.windows == referenceWindows(keyed, c))
        }
    }

    /// Interned ids: stable while live, bytes and order exact, freed entries reused after a sweep.
    @Test func internTable() {
        let t = InternTable()
        var ids: [String: Int32] = [:]
        for i in 0..<20_000 {
            let s = i % 3 == 0 ? "Tag\(i)" : "é\(i % 500)"
            let id = t.intern(s)
            if let old = ids[s] { #expect(old == id) } else { ids[s] = id }
            t.touch(id, pane: Int64(i / 1000))
        }
        #expect(t.count == ids.count)
        for (s, id) in ids {
            #expect(t.string(id) == s)
            #expect(Array(t.bytes(id)) == Array(s.utf8))
        }
        let sorted = ids.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for (x, y) in zip(sorted, sorted.dropFirst()) { #expect(t.less(ids[x]!, ids[y]!) && !t.less(ids[y]!, ids[x]!)) }
        var freed = Set<Int32>()
        t.sweep(below: 15) { freed.insert($0) }
        for (s, id) in ids {
            let i = s.hasPrefix("Tag") ? Int(s.dropFirst(3))! : -1
            let live = i < 0 || i / 1000 >= 15   // the é tags are touched up to pane 19
            #expect(t.isLive(id) == live, "\(s)")
            #expect(freed.contains(id) == !live)
            if live { #expect(t.intern(s) == id) }
        }
        let reused = t.intern("brand new")
        #expect(freed.contains(reused))
        #expect(t.string(reused) == "brand new")
    }

    /// The post-id set against a plain model: remembered panes per id, forgotten below the floor.
    @Test func postIDSetMatchesModel() {
        var set = PostIDSet()
        var model: [String: [Int64]] = [:]
        var rng = SplitMix64(seed: 3)
        var floor: Int64 = .min
        let n: Int64 = 6
        var base: Int64 = 0
        for i in 0..<60_000 {
            if i % 500 == 0 { base += 1 }
            if i % 700 == 0 && base > 8 {
                floor = max(floor, base - 8)
                set.forget(below: floor)
            }
            let id = rng.chance(0.2) ? "d\(rng.int(3000))" : "\(1_000_000 + i)"
            let p = base - Int64(rng.int(4))
            var panes = (model[id] ?? []).filter { $0 >= floor }
            let dup = panes.contains { abs($0 - p) < n }
            if !panes.contains(p) { panes.append(p) }
            model[id] = panes
            #expect(set.rememberAndCheck(PostKey(id), pane: p, within: n) == dup, "\(i) \(id)")
        }
    }

    /// The key-stability bits are a literal (no start-up cost); they must be what Foundation gives.
    @Test func keyStabilityLiteralMatchesFoundation() {
        let bits = KeyStability.build()
        var words = [UInt64](repeating: 0, count: 1024)
        for (i, b) in bits.enumerated() { words[i >> 3] |= UInt64(b) << UInt64(8 * (i & 7)) }
        #expect(words == KeyStability.words)
    }

    @Test func postKeys() {
        #expect(PostKey("1234567890123456789") == PostKey(hi: 0, lo: 1_234_567_890_123_456_789))
        #expect(PostKey("0123") != PostKey("123"))
        #expect(PostKey("12345678901234567890") != PostKey("1234567890123456789"))
        #expect(PostKey("abc") == PostKey("abc") && PostKey("abc") != PostKey("abd"))
        for id in ["abc", "x", "0", "00", "é", "99999999999999999999"] { #expect(PostKey(id).hi & PostKey.flagBit == 0) }
    }
}
