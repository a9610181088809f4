import Foundation
import Testing
@testable import HashtrendCore

/// Collects the byte fast path's output as Strings.
/// Tags as byte arrays: `[String] ==` would compare canonical equivalence, tags must match exactly.
func exact(_ tags: [String]) -> [[UInt8]] { tags.map { Array($0.utf8) } }

func fastPathHashtags(_ text: String) -> [String] {
    var bytes = Array(text.utf8)
    return fastPathHashtags(bytes: &bytes)
}

func fastPathHashtags(bytes: inout [UInt8]) -> [String] {
    var out: [String] = []
    bytes.withUnsafeBufferPointer { buf in
        HashtagExtractor.forEachHashtag(utf8: buf) { out.append(String(decoding: $0, as: UTF8.self)) }
    }
    return out
}

@Suite struct HashtagConformanceTests {
    /// The suite file holds 76 cases (65 hashtags, 3 astral, 8 with indices); fewer means the file or
    /// the reader is broken.
    static let expectedCaseCount = 76

    @Test func fileHasAllCases() throws {
        let cases = try ConformanceFile.load()
        #expect(cases.count >= Self.expectedCaseCount, "only \(cases.count) cases read from \(ConformanceFile.path.path)")
        let sections = Dictionary(grouping: cases, by: \.section).mapValues(\.count)
        #expect(sections["hashtags"] == 65)
        #expect(sections["hashtags_from_astral"] == 3)
        #expect(sections["hashtags_with_indices"] == 8)
        // Spot-check the reader: escapes and block lists.
        let astral = try #require(cases.first { $0.section == "hashtags_from_astral" })
        #expect(astral.text == "#\u{20021}")
        #expect(astral.hashtags == ["\u{20021}"])
        let multi = try #require(cases.first { $0.descriptionText == "Extract multiple non-latin hashtags" })
        #expect(multi.indices == [[12, 15], [17, 21], [23, 27], [33, 41]])
    }

    @Test func allCasesPass() throws {
        let cases = try ConformanceFile.load()
        #expect(cases.count >= Self.expectedCaseCount, "only \(cases.count) cases")
        var failures: [String] = []
        for c in cases {
            let got = HashtagExtractor.hashtags(in: c.text)
            let extracted = HashtagExtractor.extract(c.text)
            var ok = exact(got) == exact(c.hashtags) && exact(extracted.map(\.tag)) == exact(c.hashtags)
            if let indices = c.indices {
                ok = ok && extracted.map { [$0.start, $0.end] } == indices
            }
            #expect(ok, "\(c): got \(extracted.map { "\($0.tag)[\($0.start),\($0.end)]" }), expected \(c.hashtags) \(c.indices.map { "\($0)" } ?? "")")
            if !ok { failures.append(c.description) }
        }
        #expect(failures.isEmpty, "failing cases: \(failures)")
    }

    @Test func fastPathAgreesOnConformanceTexts() throws {
        let cases = try ConformanceFile.load()
        try #require(cases.count >= Self.expectedCaseCount)
        for c in cases {
            #expect(exact(fastPathHashtags(c.text)) == exact(HashtagExtractor.hashtags(in: c.text)), "\(c)")
            var bytes = Array(c.text.utf8)
            let count = bytes.withUnsafeBufferPointer { HashtagExtractor.countHashtags(utf8: $0) }
            #expect(count == c.hashtags.count, "\(c)")
            _ = fastPathHashtags(bytes: &bytes)
        }
    }
}

@Suite struct HashtagExtractorTests {
    @Test func indicesAreCodePointsAcrossAstralText() {
        // 😀 is one code point (two UTF-16 units); indices count code points.
        let tags = HashtagExtractor.extract("😀 #a1 \u{20021} #\u{20021}x")
        #expect(tags == [ExtractedHashtag(tag: "a1", start: 2, end: 5),
                         ExtractedHashtag(tag: "\u{20021}x", start: 8, end: 11)])
    }

    @Test func basicGrammar() {
        #expect(HashtagExtractor.hashtags(in: "") == [])
        #expect(HashtagExtractor.hashtags(in: "#") == [])
        #expect(HashtagExtractor.hashtags(in: "no tags here") == [])
        #expect(HashtagExtractor.hashtags(in: "#a") == ["a"])
        #expect(HashtagExtractor.hashtags(in: "#Swift #swift6 #6swift #66") == ["Swift", "swift6", "6swift"])
        #expect(HashtagExtractor.hashtags(in: "&#39;s and &#tag") == [])          // entities, '&' boundary
        #expect(HashtagExtractor.hashtags(in: "abc#def") == [])
        #expect(HashtagExtractor.hashtags(in: "#foo#bar") == [])                  // followed by '#'
        #expect(HashtagExtractor.hashtags(in: "#foo＃bar") == [])
        #expect(HashtagExtractor.hashtags(in: "##tag") == ["tag"])                // like twitter-text
        #expect(HashtagExtractor.hashtags(in: "#️⃣ #\u{20E3}x #\u{FE0F}x") == [])  // keycap, not a tag
        #expect(HashtagExtractor.hashtags(in: "#tag_with_underscores_ and #_lead") == ["tag_with_underscores_", "_lead"])
        #expect(HashtagExtractor.hashtags(in: "#tag's #tag-ish #tag.") == ["tag", "tag", "tag"])
        #expect(HashtagExtractor.hashtags(in: "＃全角 #ab\u{200D}cd") == ["全角", "ab\u{200D}cd"])
        #expect(HashtagExtractor.hashtags(in: "RT @x: #WWDC26!") == ["WWDC26"])
    }

    @Test func hashtagsInsideURLsAreDropped() {
        #expect(HashtagExtractor.hashtags(in: "see example.com/#tag now") == [])
        #expect(HashtagExtractor.hashtags(in: "https://example.org/a/b?x=1&y=#frag #real") == ["real"])
        #expect(HashtagExtractor.hashtags(in: "http://t.co/#x, (https://www.example.co.uk/p/#y)") == [])
        #expect(HashtagExtractor.hashtags(in: "https://sub.example.com:8080/path/#z") == [])
        #expect(HashtagExtractor.hashtags(in: "https://de.wikipedia.org/wiki/Straße#Geschichte") == [])
        #expect(HashtagExtractor.hashtags(in: "詳しくは→example.jp/#タグ、または　#本物") == ["本物"])
        #expect(HashtagExtractor.hashtags(in: "a.b #one。#two,x.com/#three") == ["one", "two"])
        // Not URLs: no known TLD, '#' before the domain, path-less domain before the tag.
        #expect(HashtagExtractor.hashtags(in: "foo/#bar") == ["bar"])
        #expect(HashtagExtractor.hashtags(in: "http://localhost/#dev") == ["dev"])
        #expect(HashtagExtractor.hashtags(in: "#tag.com") == ["tag"])
        #expect(HashtagExtractor.hashtags(in: "example.com #tag example.com/ #tag2") == ["tag", "tag2"])
        #expect(HashtagExtractor.hashtags(in: "example.com.#tag") == ["tag"])
        // '#' is a URL path character: a tag glued to a path is part of the URL, as in twitter-text ...
        #expect(HashtagExtractor.hashtags(in: "example.com/path.,#tag") == [])
        // ... but a character outside the path grammar ends the URL.
        #expect(HashtagExtractor.hashtags(in: "(example.com/path)#tag example.com/p…#tag2") == ["tag", "tag2"])
        #expect(HashtagExtractor.extract("x.com/#a y.com/b #c") == [ExtractedHashtag(tag: "c", start: 17, end: 19)])
    }

    @Test func characterClassesMatchTheReferenceForEveryScalar() {
        var wrong: [String] = []
        HashtagClass.bmp.withUnsafeBufferPointer { table in
            // Planes 0-3 and 14 (planes 4-13 are unassigned, 15-16 private use).
            for v in Array(UInt32(0)...0x3FFFF) + Array(UInt32(0xE0000)...0xE0FFF) {
                guard let u = Unicode.Scalar(v) else { continue }
                let c = HashtagClass.of(v, bmp: table.baseAddress!)
                let member = c & HashtagClass.member != 0
                let alpha = c & HashtagClass.alpha != 0
                if member != ReferenceHashtags.isTagChar(u) || alpha != ReferenceHashtags.isLetterOrMark(u) {
                    wrong.append(String(v, radix: 16))
                }
            }
        }
        #expect(wrong.isEmpty, "misclassified U+\(wrong.prefix(20))")
    }

    @Test func malformedUTF8IsTolerated() {
        let samples: [[UInt8]] = [
            [0x23, 0xFF, 0x61], [0xFF, 0x23, 0x61], [0x23, 0x61, 0xC3], [0x23, 0xE6, 0x97], [0xEF, 0xBC],
            [0xEF, 0xBC, 0x83, 0x61, 0x80], [0x80, 0x80, 0x23, 0x62], [0xF0, 0x9F, 0x98, 0x23, 0x63],
            [0x23, 0xED, 0xA0, 0x80, 0x61], [0x23, 0x61, 0xF4, 0x90, 0x80, 0x80],
        ]
        for var bytes in samples {
            let viaString = HashtagExtractor.hashtags(in: String(decoding: bytes, as: UTF8.self))
            #expect(fastPathHashtags(bytes: &bytes) == viaString, "\(bytes)")
        }
    }

    @Test func fastPathAgreesWithReferenceOnGeneratedTexts() {
        // Fragments chosen to hit every rule; no '.', so no URL can occur and the simple reference applies.
        let fragments = ["#", "#", "＃", " ", " ", "\n", "a", "Z", "q", "1", "9", "_", "&", "é", "e\u{301}",
                         "日", "ー", "ｶ", "ﾞ", "·", "\u{200C}", "\u{200D}", "\u{FE0F}", "\u{FE0E}", "\u{20E3}", "!",
                         "(", ")", "😀", "✌", "\u{20021}", "۳", "١", "ß", "İ", "/", ":", "://", "'", "〜", "〃",
                         "\u{0F0B}", "ก", "\u{0E49}", "\u{05BE}", "、", "\u{3000}", "٠", "ⅷ", "²"]
        var rng = SplitMix64(seed: 0x5EED_2026)
        for round in 0..<4000 {
            var text = ""
            for _ in 0..<Int.random(in: 1...24, using: &rng) {
                text += fragments.randomElement(using: &rng)!
            }
            let expected = ReferenceHashtags.hashtags(in: text)
            let fromString = HashtagExtractor.hashtags(in: text)
            #expect(exact(fromString) == exact(expected), "round \(round): \(text.debugDescription)")
            #expect(exact(fastPathHashtags(text)) == exact(expected), "round \(round): \(text.debugDescription)")
            let extracted = HashtagExtractor.extract(text)
            let scalars = Array(text.unicodeScalars)
            for e in extracted {
                var s = String.UnicodeScalarView()
                s.append(contentsOf: scalars[(e.start + 1)..<e.end])
                #expect(exactly(String(s), e.tag), "round \(round): \(text.debugDescription)")
            }
        }
    }
}


/// An independent, deliberately naive statement of the grammar over an array of scalars (no URL
/// handling), used to cross-check the byte scanner on generated texts.
enum ReferenceHashtags {
    static let specials: Set<Unicode.Scalar> = ["_", "\u{200C}", "\u{200D}", "\u{A67E}", "\u{05BE}", "\u{05F3}",
        "\u{05F4}", "\u{FF5E}", "\u{301C}", "\u{309B}", "\u{309C}", "\u{30A0}", "\u{30FB}", "\u{3003}",
        "\u{0F0B}", "\u{0F0C}", "\u{00B7}"]

    static func isLetterOrMark(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    static func isTagChar(_ u: Unicode.Scalar) -> Bool {
        isLetterOrMark(u) || u.properties.generalCategory == .decimalNumber || specials.contains(u)
    }

    static func isHash(_ u: Unicode.Scalar) -> Bool { u == "#" || u == "\u{FF03}" }

    static func hashtags(in text: String) -> [String] {
        let u = Array(text.unicodeScalars)
        var out: [String] = []
        var i = 0
        while i < u.count {
            defer { i += 1 }
            guard isHash(u[i]) else { continue }
            if i > 0 {
                let prev = u[i - 1]
                let selector = prev == "\u{FE0E}" || prev == "\u{FE0F}"
                if !selector && (prev == "&" || isTagChar(prev)) { continue }
            }
            if i + 1 < u.count, u[i + 1] == "\u{FE0F}" || u[i + 1] == "\u{20E3}" { continue }
            var j = i + 1
            while j < u.count, isTagChar(u[j]) { j += 1 }
            guard u[(i + 1)..<j].contains(where: isLetterOrMark) else { continue }
            let followedByHash = j < u.count && isHash(u[j])
            let followedByScheme = j + 2 < u.count && u[j] == ":" && u[j + 1] == "/" && u[j + 2] == "/"
            if !followedByHash && !followedByScheme {
                var s = String.UnicodeScalarView()
                s.append(contentsOf: u[(i + 1)..<j])
                out.append(String(s))
            }
            i = j - 1
        }
        return out
    }
}
