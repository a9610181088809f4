import Foundation
import Testing
@testable import HashtrendCore

/// Swift's String `==` compares canonical equivalence; keys must match byte for byte.
func exactly(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

/// The byte API; also checks that the allocation-free `withKey` yields the same bytes.
func keyViaBytes(_ tag: String) -> String {
    let bytes = Array(tag.utf8)
    let key = bytes.withUnsafeBufferPointer { HashtagKey.key(utf8: $0) }
    let viaWithKey = bytes.withUnsafeBufferPointer { buf in
        HashtagKey.withKey(utf8: buf) { String(decoding: $0, as: UTF8.self) }
    }
    #expect(exactly(key, viaWithKey), "withKey differs for \(tag.debugDescription)")
    return key
}

@Suite struct HashtagKeyTests {
    @Test func asciiCaseVariantsShareAKey() {
        for variant in ["SwiftLang", "swiftlang", "SWIFTLANG", "sWiFtLaNg"] {
            #expect(exactly(HashtagKey.key(variant), "swiftlang"))
            #expect(exactly(keyViaBytes(variant), "swiftlang"))
        }
        #expect(exactly(HashtagKey.key("Euro2028_Final"), "euro2028_final"))
        #expect(exactly(HashtagKey.key(""), ""))
    }

    @Test func nfcAndNfdGiveTheSameKey() {
        let nfc = "Caf\u{E9}"          // precomposed é
        let nfd = "Cafe\u{301}"        // e + combining acute
        #expect(nfc.unicodeScalars.count != nfd.unicodeScalars.count)
        #expect(exactly(HashtagKey.key(nfc), "caf\u{E9}"))
        #expect(exactly(HashtagKey.key(nfd), "caf\u{E9}"))
        #expect(exactly(keyViaBytes(nfd), "caf\u{E9}"))
        // Mark order does not matter (canonical reordering): dot below + macron in either order.
        #expect(exactly(HashtagKey.key("A\u{323}\u{304}"), HashtagKey.key("A\u{304}\u{323}")))
        // Kana with a combining voiced mark composes to the precomposed kana.
        #expect(exactly(HashtagKey.key("\u{304B}\u{3099}んばろう"), "\u{304C}んばろう"))
        // Hangul jamo compose to the syllable.
        #expect(exactly(HashtagKey.key("\u{1110}\u{1171}\u{110B}\u{1165}"), "튀어"))
    }

    @Test func turkishGreekGerman() {
        // Locale-independent lowercasing: İ keeps its dot as a combining mark, I becomes i, ı stays.
        #expect(exactly(HashtagKey.key("İstanbul"), "i\u{307}stanbul"))
        #expect(exactly(HashtagKey.key("İSTANBUL"), HashtagKey.key("i\u{307}stanbul")))
        #expect(exactly(HashtagKey.key("ISTANBUL"), "istanbul"))
        #expect(exactly(HashtagKey.key("Ateş"), "ateş"))
        #expect(exactly(HashtagKey.key("ıLIK"), "ılik"))
        // Greek: accents survive, all sigmas (final or not) fold to σ/ς as written in lower case.
        #expect(exactly(HashtagKey.key("ΑΘΗΝΑ"), "αθηνα"))
        #expect(exactly(HashtagKey.key("Αθήνα"), HashtagKey.key("ΑΘΉΝΑ")))
        #expect(exactly(HashtagKey.key("Αθη\u{301}να"), "αθήνα"))
        #expect(exactly(HashtagKey.key("ΣΟΦΙΑ"), "σοφια"))
        #expect(exactly(HashtagKey.key("ΟΔΥΣΣΕΥΣ"), "οδυσσευσ")) // no final-sigma rule (documented)
        // German: lower-casing is not case folding, so ß and ss stay distinct; capital ẞ maps to ß.
        #expect(exactly(HashtagKey.key("STRASSE"), "strasse"))
        #expect(exactly(HashtagKey.key("Straße"), "straße"))
        #expect(exactly(HashtagKey.key("STRAẞE"), "straße"))
        #expect(exactly(HashtagKey.key("München"), HashtagKey.key("MU\u{308}NCHEN")))
    }

    @Test func nonAsciiFastPathKeepsStableTags() {
        for tag in ["日本語ハッシュタグ", "がんばろう", "السياسة", "트위터", "การเมือง", "ашок"] {
            #expect(exactly(HashtagKey.key(tag), HashtagKey.slowKey(tag)))
        }
        #expect(exactly(HashtagKey.key("РОССИЯ"), "россия"))
        #expect(exactly(HashtagKey.key("ＷＷＤＣ"), "ｗｗｄｃ")) // full-width letters lower-case, stay full-width
    }

    @Test func keyIsIdempotentAndFastPathsMatchReferenceForEveryBMPScalar() {
        var mismatches: [String] = []
        var notIdempotent: [String] = []
        for v in 0..<0x10000 {
            guard let u = Unicode.Scalar(UInt32(v)) else { continue }
            let s = "x" + String(Character(u)) + "A"
            let k = keyViaBytes(s)
            if !exactly(k, HashtagKey.slowKey(s)) { mismatches.append(String(v, radix: 16)) }
            if !exactly(HashtagKey.key(k), k) { notIdempotent.append(String(v, radix: 16)) }
        }
        #expect(mismatches.isEmpty, "fast path differs for U+\(mismatches.prefix(20))")
        #expect(notIdempotent.isEmpty, "key not idempotent for U+\(notIdempotent.prefix(20))")
    }

    @Test func randomStringsMatchReferenceAndAreIdempotent() {
        // Mixes stable scalars with combining marks, jamo and cased letters to probe boundaries.
        let pool: [Unicode.Scalar] = ["a", "Z", "é", "e", "\u{301}", "\u{308}", "\u{323}", "\u{304}", "\u{345}",
            "Σ", "ς", "ι", "Ω", "\u{1F80}", "İ", "ı", "ß", "ẞ", "か", "\u{3099}", "\u{309A}", "は", "ｶ", "ﾞ", "日",
            "\u{1100}", "\u{1161}", "\u{11A8}", "가", "ก", "\u{0E49}", "ب", "\u{653}", "\u{654}", "ا",
            "\u{0B47}", "\u{0B3E}", "\u{0B57}", "\u{09C7}", "\u{09BE}", "\u{0DD9}", "\u{0DCF}", "\u{0DCA}",
            "Ǆ", "ǅ", "\u{212B}", "Å", "\u{2126}", "Ꭰ", "ꭰ", "\u{10400}", "\u{1D15E}", "\u{1E900}", "\u{11131}", "\u{11127}"]
        var rng = SplitMix64(seed: 42)
        for round in 0..<20_000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 1...8, using: &rng) { s.append(pool.randomElement(using: &rng)!) }
            let tag = String(s)
            let k = keyViaBytes(tag)
            #expect(exactly(k, HashtagKey.slowKey(tag)), "round \(round): \(tag.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(exactly(HashtagKey.key(k), k), "round \(round): \(tag.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}
