import Testing
@testable import HashtrendCore

private let start: Int64 = 1_795_613_152_000 // 2026-11-25T13:25:52Z

private func lines(seed: UInt64, count: Int, format: PostFormat) -> [[UInt8]] {
    var g = PostGenerator(seed: seed, startMillis: start, ratePerSecond: 500, disorderMillis: 2000,
                          lateFraction: 0.01, lateByMillis: 10_000)
    return (0..<count).map { _ in PostGenerator.encode(g.next(), format: format) }
}

/// FNV-1a over all bytes: a fixed expectation that would catch a platform- or version-dependent PRNG.
private func digest(_ ls: [[UInt8]]) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for l in ls { for b in l { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }; h = (h ^ 10) &* 0x0000_0100_0000_01B3 }
    return h
}

@Suite struct PostGeneratorTests {
    @Test func seededRandomIsTheReferenceXoshiro() {
        // xoshiro256** seeded by four SplitMix64 outputs; values computed independently (Python port
        // of the reference C code).
        var r = SeededRandom(seed: 0)
        #expect((0..<3).map { _ in r.next() } == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
        var r2 = SeededRandom(seed: 12345)
        #expect((0..<2).map { _ in r2.next() } == [0xBE6A_3637_4160_D49B, 0x214A_AA06_37A6_88C6])
        var b = SeededRandom(seed: 42)
        for n in [1, 2, 3, 7, 1000] {
            for _ in 0..<200 { #expect((0..<n).contains(b.below(n))) }
        }
        for _ in 0..<200 { let u = b.unit(); #expect(u >= 0 && u < 1) }
    }

    @Test(arguments: PostFormat.allCases)
    func sameSeedSameBytes(format: PostFormat) {
        let a = lines(seed: 12345, count: 2000, format: format)
        let b = lines(seed: 12345, count: 2000, format: format)
        #expect(a == b)
        let c = lines(seed: 12346, count: 2000, format: format)
        #expect(a != c)
    }

    @Test(arguments: PostFormat.allCases)
    func everyFormatDecodesBackToThePost(format: PostFormat) throws {
        var g = PostGenerator(seed: 99, startMillis: start, ratePerSecond: 1000, disorderMillis: 500)
        var d = PostDecoder()
        var retweets = 0, extended = 0
        for _ in 0..<3000 {
            let post = g.next()
            let line = PostGenerator.encode(post, format: format)
            var expected = post
            if format != .canonical { expected.source = format.rawValue }
            let decoded = try d.decode(line)
            #expect(decoded == [expected], "\(String(decoding: line, as: UTF8.self))")
            if post.isRepost { retweets += 1 }
            if post.text.unicodeScalars.count > 140 { extended += 1 }
        }
        #expect(retweets > 100)
        #expect(extended > 100)
    }

    @Test func claimedHashtagsAreExactlyTheHashWordsOfTheText() {
        var g = PostGenerator(seed: 5, startMillis: start, ratePerSecond: 100)
        var counts = [Int](repeating: 0, count: 5)
        var spellings: [String: Set<String>] = [:]
        var scripts = Set<String>()
        for _ in 0..<5000 {
            let p = g.next()
            let tags = p.hashtags ?? []
            #expect(tags.count <= 4)
            counts[tags.count] += 1
            let words = p.text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
            #expect(words.filter { $0.hasPrefix("#") }.map { String($0.dropFirst()) } == tags)
            #expect(p.text.filter { $0 == "#" || $0 == "＃" }.count == tags.count)
            #expect(p.text.unicodeScalars.count <= 280)
            for t in tags {
                spellings[t.lowercased(), default: []].insert(t)
                // twitter-text's hashtag body: letters, marks, decimal digits, underscore; at least one letter.
                #expect(t.unicodeScalars.allSatisfy {
                    $0.properties.isAlphabetic || $0.properties.generalCategory == .nonspacingMark
                        || $0.properties.numericType == .decimal || $0 == "_"
                }, "\(t)")
                #expect(t.unicodeScalars.contains { $0.properties.isAlphabetic }, "\(t)")
            }
            #expect(!p.text.contains("://#") && !p.text.contains("##"))
            if let l = p.lang { scripts.insert(l) }
        }
        #expect(counts.allSatisfy { $0 > 50 })
        #expect(scripts.isSuperset(of: ["en", "es", "ja", "ar"]))
        #expect((spellings["swiftlang"]?.count ?? 0) >= 2) // case variants occur
        #expect(spellings.keys.contains { $0.unicodeScalars.contains { !$0.isASCII } })
    }

    @Test func hashtagsAreZipfLike() {
        var g = PostGenerator(seed: 8, startMillis: start, ratePerSecond: 100)
        g.burstEveryMillis = 0
        var freq: [String: Int] = [:]
        for _ in 0..<20_000 { for t in g.next().hashtags ?? [] { freq[t.lowercased(), default: 0] += 1 } }
        let sorted = freq.values.sorted(by: >)
        #expect(sorted[0] > 3 * sorted[9])     // a head
        #expect(freq.count > 500)                // and a long tail
    }

    @Test func risingTagBursts() {
        var g = PostGenerator(seed: 3, startMillis: 0, ratePerSecond: 100)
        g.burstEveryMillis = 60_000
        g.burstLengthMillis = 20_000
        var inBurst = 0, outside = 0
        for _ in 0..<12_000 {
            let p = g.next()
            let has = (p.hashtags ?? []).contains { ["Eclipse2026", "LaunchDay", "Aurora"].contains($0) }
            if has { if p.createdAtMillis % 60_000 < 20_000 { inBurst += 1 } else { outside += 1 } }
        }
        #expect(inBurst > 500)
        #expect(outside == 0)
    }

    @Test func eventTimesFollowRateAndDisorderBound() {
        let disorder: Int64 = 3000
        var g = PostGenerator(seed: 11, startMillis: start, ratePerSecond: 200, disorderMillis: disorder)
        var maxSeen = Int64.min
        var outOfOrder = 0
        var worst: Int64 = 0
        for i in 0..<20_000 {
            let p = g.next()
            let nominal = start + Int64(i) * 5
            #expect(p.createdAtMillis <= nominal && p.createdAtMillis >= nominal - disorder)
            if maxSeen != .min {
                worst = max(worst, maxSeen - p.createdAtMillis)
                if p.createdAtMillis < maxSeen { outOfOrder += 1 }
            }
            maxSeen = max(maxSeen, p.createdAtMillis)
        }
        #expect(worst <= disorder)
        #expect(worst > disorder * 9 / 10) // the bound is actually used
        #expect(outOfOrder > 10_000)
    }

    @Test func lateFractionIsBeyondTheLateness() {
        let lateness: Int64 = 60_000
        var g = PostGenerator(seed: 21, startMillis: start, ratePerSecond: 100, disorderMillis: 1000,
                              lateFraction: 0.05, lateByMillis: lateness)
        var maxSeen = Int64.min
        var late = 0, n = 0
        for _ in 0..<20_000 {
            let p = g.next()
            if maxSeen != .min {
                n += 1
                if p.createdAtMillis < maxSeen - lateness { late += 1 } else { #expect(maxSeen - p.createdAtMillis <= 1000) }
            }
            maxSeen = max(maxSeen, p.createdAtMillis)
        }
        #expect(late > n * 4 / 100 && late < n * 6 / 100)
    }

    @Test func idsAreUniqueAndDigits() {
        var g = PostGenerator(seed: 1, startMillis: start, ratePerSecond: 10_000)
        var ids = Set<String>()
        for _ in 0..<20_000 {
            let p = g.next()
            #expect(p.id.utf8.allSatisfy { $0 >= 48 && $0 <= 57 })
            ids.insert(p.id)
        }
        #expect(ids.count == 20_000)
    }

    @Test func v2EntityIndicesAreCodePointOffsets() throws {
        var g = PostGenerator(seed: 77, startMillis: start, ratePerSecond: 100)
        var checked = 0
        for _ in 0..<500 {
            let p = g.next()
            guard !p.isRepost, let tags = p.hashtags, !tags.isEmpty else { continue }
            let line = String(decoding: PostGenerator.encode(p, format: .x2), as: UTF8.self)
            let scalars = Array(p.text.unicodeScalars)
            // Pull every {"start":s,"end":e,"tag":"..."} out of the line and compare with the text.
            var rest = Substring(line)
            var seen: [String] = []
            while let r = rest.range(of: "{\"start\":") {
                rest = rest[r.upperBound...]
                let s = Int(rest.prefix { $0.isNumber })!
                rest = rest[rest.range(of: "\"end\":")!.upperBound...]
                let e = Int(rest.prefix { $0.isNumber })!
                let field = rest.range(of: ",")!.upperBound
                guard rest[field...].hasPrefix("\"tag\":\"") else { continue }
                let tagStart = rest.index(field, offsetBy: 7)
                let tag = String(rest[tagStart...].prefix { $0 != "\"" })
                var v = String.UnicodeScalarView()
                v.append(contentsOf: scalars[s..<e])
                #expect(String(v) == "#" + tag)
                seen.append(tag)
            }
            #expect(seen == tags)
            checked += 1
        }
        #expect(checked > 100)
    }
}
