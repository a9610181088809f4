import CJSONIndex
import Foundation
import Testing
@testable import HashtrendCore

/// The scanner's first pass (CJSONIndex): its vector code works on 64-byte blocks with state carried
/// from one block to the next, so these tests place every construct at every offset around a block edge.
@Suite struct JSONStructuralIndexTests {
    /// The vector UTF-8 check of the index against the scalar one (itself checked against the standard
    /// library in JSONScannerTests), on pieces of well- and ill-formed UTF-8 laid across block edges.
    @Test func utf8CheckAgreesWithTheScalarCheckAcrossBlocks() {
        let pieces: [[UInt8]] = [
            Array("abcdefgh".utf8), [0x20], Array("é".utf8), Array("東".utf8), Array("🚀".utf8), Array("ق".utf8),
            [0xC3], [0x80], [0xE6, 0x9D], [0xF0, 0x9F, 0x9A], [0xC0, 0x80], [0xC1, 0xBF], [0xC2, 0x80],
            [0xED, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xE0, 0x9F, 0x80], [0xE0, 0xA0, 0x80],
            [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80],
            [0xF5, 0x80, 0x80, 0x80], [0xFF], Array("\"".utf8), Array("\\".utf8),
        ]
        var rng = SeededRandom(seed: 11)
        let index = JSONStructuralIndex()
        var invalid = 0, valid = 0
        for round in 0..<30_000 {
            // A run of ASCII puts the interesting part at every offset of the first block edges.
            var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: round % 130)
            for _ in 0..<rng.below(24) {
                bytes += rng.below(3) == 0 ? pieces[rng.below(pieces.count)] : pieces[rng.below(6)]
            }
            let expected = bytes.withUnsafeBufferPointer { JSONScanner.firstInvalidUTF8(in: $0) }
            let got: Int? = bytes.withUnsafeBufferPointer { b in
                index.build(b, checkUTF8: true)
                return index.firstInvalidUTF8
            }
            #expect(got == expected, "\(bytes)")
            if expected == nil { valid += 1 } else { invalid += 1 }
        }
        #expect(valid > 3000 && invalid > 3000)
    }

    /// Random JSON-ish texts (strings with escapes, nesting, numbers, literals, stray bytes) at every
    /// alignment: the two-pass scanner accepts exactly what Foundation's parser accepts.
    @Test func acceptsWhatFoundationAcceptsAtEveryAlignment() throws {
        let fragments: [String] = [
            "{", "}", "[", "]", ":", ",", "\"", "\"k\"", "\"a b\"", "\"\\\"\"", "\"\\\\\"", "\"x\\n\"", "\"\\u00e9\"",
            "\"\\u12\"", "\"\\x\"", "\\", "1", "-2.5e3", "01", "1.", "true", "fals", "null", " ", "\n", "\t",
            "\"東京\"", "\"🚀\"", "\u{1}", "\"a\u{1}b\"", "x", "{\"a\":1}", "[1,2]", "{\"b\":[true,null,\"c\"]}",
        ]
        let valid = ["{\"a\":[1,{\"b\":\"c\\\"d\"},null]}", "[\"東京 🚀\",-0.5,true]", "\"\\\\\\\"\"", "{}", "[]"]
        var rng = SeededRandom(seed: 23)
        let trailingComma = /,[ \t\n]*[}\]]/
        var accepted = 0, rejected = 0
        for round in 0..<20_000 {
            var text: String
            if rng.below(4) == 0 {
                // A valid document with one random edit: near misses of valid JSON.
                var b = Array(valid[rng.below(valid.count)].utf8)
                let at = rng.below(b.count)
                let piece = Array(fragments[rng.below(fragments.count)].utf8)
                switch rng.below(3) {
                case 0: b.replaceSubrange(at...at, with: piece)
                case 1: b.remove(at: at)
                default: b.insert(contentsOf: piece, at: at)
                }
                text = String(decoding: b, as: UTF8.self)
            } else {
                text = (0..<rng.below(8)).map { _ in fragments[rng.below(fragments.count)] }.joined()
            }
            // Leading spaces move the text across the 64-byte block edges of the first pass.
            let line = Array((String(repeating: " ", count: round % 70) + text).utf8)
            guard !line.allSatisfy({ $0 == 0x20 }) else { continue }
            // Foundation also takes a trailing comma (`[1,]`, `{"a":1,}`), which RFC 8259 does not allow
            // and the scanner rejects (JSONScannerTests): leave those texts out.
            if text.contains(trailingComma) { continue }
            let foundationOK = (try? JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])) != nil
            let mineOK = line.withUnsafeBufferPointer { b -> Bool in
                var s = JSONScanner(b)
                do throws(JSONScanError) { try s.skipValue(); try s.finish(); return true } catch { return false }
            }
            #expect(mineOK == foundationOK, "\(text.debugDescription)")
            if mineOK { accepted += 1 } else { rejected += 1 }
        }
        #expect(accepted > 1000 && rejected > 1000)
    }

    /// Strings read across block edges come back whole, with escapes noticed, wherever the quotes fall.
    @Test func readsStringsAcrossBlockEdges() throws {
        for pad in 0..<140 {
            let body = String(repeating: "é", count: pad % 37) + "q\\\"x" + String(repeating: "b", count: pad)
            let json = Array("{\"\(String(repeating: "k", count: pad))\" :  \"\(body)\"  , \"n\":[\"\",\"\\\\\"]}".utf8)
            try json.withUnsafeBufferPointer { b in
                var s = JSONScanner(b)
                try s.enterObject()
                var first = true
                let key = try #require(try s.nextKey(&first))
                #expect(s.string(key) == String(repeating: "k", count: pad))
                #expect(!key.hasEscapes)
                let value = try s.readString()
                #expect(value.hasEscapes)
                #expect(s.string(value) == String(repeating: "é", count: pad % 37) + "q\"x" + String(repeating: "b", count: pad))
                let n = try #require(try s.nextKey(&first))
                #expect(s.equals(n, "n"))
                try s.enterArray()
                var firstElement = true
                var items: [String] = []
                while try s.nextElement(&firstElement) { items.append(s.string(try s.readString())) }
                #expect(items == ["", "\\"])
                #expect(try s.nextKey(&first) == nil)
                try s.finish()
            }
        }
    }

    /// String-level errors surface where a byte-by-byte parser would meet them, not before.
    @Test func stringErrorsAreReportedWhenReached() {
        func walk(_ text: String) -> JSONScanError? {
            Array(text.utf8).withUnsafeBufferPointer { b in
                var s = JSONScanner(b)
                do throws(JSONScanError) { try s.skipValue(); try s.finish(); return nil } catch { return error }
            }
        }
        // A grammar error before a bad string wins; the bad string's own error otherwise.
        #expect(walk("[1 2, \"a\u{1}\"]") == .unexpectedByte(UInt8(ascii: "2"), at: 3))
        #expect(walk("[1, \"a\u{1}\"]") == .controlCharacterInString(at: 6))
        #expect(walk("[\"ok\", \"\\q\"]") == .invalidEscape(at: 8))
        #expect(walk("[\"unterminated") == .unexpectedEnd)
        #expect(walk("\"\\u12") == .unexpectedEnd)
        #expect(walk("{\"a\":\"b\"} \"c\u{1}\"") == .trailingData(at: 10))
    }

    /// The portable first pass (CPUs without AVX2) finds the same tokens, errors and UTF-8 verdicts as
    /// the vector one, on generated posts of every shape cut and damaged at random.
    @Test func portableCodeAgreesWithTheVectorCode() {
        var g = PostGenerator(seed: 5, startMillis: 1_795_613_152_000, ratePerSecond: 300)
        var rng = SeededRandom(seed: 31)
        let damage = Array("\"\\{}[]:, \u{1}\u{80}é".utf8)
        for i in 0..<3000 {
            var line = PostGenerator.encode(g.next(), format: PostFormat.allCases[i % 3])
            for _ in 0..<rng.below(3) { line[rng.below(line.count)] = damage[rng.below(damage.count)] }
            if rng.below(4) == 0 { line.removeLast(rng.below(line.count)) }
            let cap = line.count + 64
            var fast = [UInt32](repeating: 0, count: cap), portable = [UInt32](repeating: 0, count: cap)
            var fastEscapes = [UInt32](repeating: 0, count: cap), portableEscapes = [UInt32](repeating: 0, count: cap)
            var rf = ht_json_index_result(), rp = ht_json_index_result()
            line.withUnsafeBufferPointer { b in
                ht_json_index(b.baseAddress, b.count, &fast, &fastEscapes, 1, &rf)
                ht_json_index_portable(b.baseAddress, b.count, &portable, &portableEscapes, 1, &rp)
            }
            #expect(rf.count == rp.count && rf.error == rp.error && rf.error_at == rp.error_at
                    && rf.utf8_error_at == rp.utf8_error_at && rf.escape_count == rp.escape_count)
            #expect(fast[..<Int(rf.count)] == portable[..<Int(rp.count)])
            #expect(fastEscapes[..<Int(rf.escape_count)] == portableEscapes[..<Int(rp.escape_count)])
        }
    }

    /// One huge line does not pin its token buffer: the next ordinary line gets a small one again.
    @Test func buffersShrinkAfterAHugeLine() throws {
        let index = JSONStructuralIndex()
        let huge = Array(("[" + String(repeating: "1,", count: 1_500_000) + "1]").utf8)
        huge.withUnsafeBufferPointer { index.build($0, checkUTF8: true) }
        #expect(index.count == 3_000_003) // [, 1.5M times "1" and ",", the last 1, ]
        #expect(index.capacity >= huge.count)
        let small = Array(#"{"a":"b"}"#.utf8)
        small.withUnsafeBufferPointer { index.build($0, checkUTF8: true) }
        #expect(index.count == 5)
        #expect(index.capacity < 1 << 16)
        try small.withUnsafeBufferPointer { b in
            var s = JSONScanner(b, index: index)
            try s.skipValue()
            try s.finish()
        }
    }
}
