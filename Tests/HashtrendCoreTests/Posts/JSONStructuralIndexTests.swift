import CJSONIndex
import Foundation
import Glibc
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

    /// The instruction sets this CPU runs, each to be compared with the portable code.
    static let vectorISAs: [Int32] = [Int32(HT_JSON_ISA_AVX2), Int32(HT_JSON_ISA_AVX512)]
        .filter { $0 <= ht_json_index_isa() }

    /// Runs the first pass with `isa` and returns everything it reports, for comparisons.
    static func index(_ b: UnsafeBufferPointer<UInt8>, isa: Int32, checkUTF8: Bool = true) -> IndexOutcome {
        let cap = b.count + 64
        var tokens = [UInt32](repeating: 0, count: cap), escapes = [UInt32](repeating: 0, count: cap)
        var r = ht_json_index_result()
        ht_json_index_with(isa, b.baseAddress, b.count, &tokens, &escapes, checkUTF8 ? 1 : 0, &r)
        return IndexOutcome(tokens: Array(tokens[..<Int(r.count)]), escapes: Array(escapes[..<Int(r.escape_count)]),
                            error: r.error, errorAt: r.error_at, utf8ErrorAt: r.utf8_error_at)
    }

    struct IndexOutcome: Equatable {
        var tokens: [UInt32], escapes: [UInt32]
        var error: Int32, errorAt: UInt32, utf8ErrorAt: Int32
    }

    /// The portable first pass (CPUs without AVX2) finds the same tokens, errors and UTF-8 verdicts as
    /// each vector one, on generated posts of every shape cut and damaged at random.
    @Test func portableCodeAgreesWithTheVectorCode() {
        var g = PostGenerator(seed: 5, startMillis: 1_795_613_152_000, ratePerSecond: 300)
        var rng = SeededRandom(seed: 31)
        let damage = Array("\"\\{}[]:, \u{1}\u{80}é".utf8)
        var errors = 0
        for i in 0..<3000 {
            var line = PostGenerator.encode(g.next(), format: PostFormat.allCases[i % 3])
            for _ in 0..<rng.below(3) { line[rng.below(line.count)] = damage[rng.below(damage.count)] }
            if rng.below(4) == 0 { line.removeLast(rng.below(line.count)) }
            line.withUnsafeBufferPointer { b in
                let portable = Self.index(b, isa: Int32(HT_JSON_ISA_PORTABLE))
                if portable.error != HT_JSON_OK { errors += 1 }
                for isa in Self.vectorISAs {
                    #expect(Self.index(b, isa: isa) == portable, "isa \(isa): \(String(decoding: line, as: UTF8.self))")
                }
                #expect(Self.index(b, isa: Int32(HT_JSON_ISA_PORTABLE), checkUTF8: false).tokens == portable.tokens)
            }
        }
        #expect(errors > 300)
    }

    /// The last partial block is read only up to the end of the input: lines of every length end right
    /// before an unreadable page (a read past the end would crash the test), and agree with the portable code.
    @Test func readsNothingPastTheEnd() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(region != MAP_FAILED)
        defer { munmap(region, 2 * page) }
        try #require(mprotect(region + page, page, PROT_NONE) == 0)
        let text = Array(#"{"k":["é東🚀",-1.5e3,true,null,"a\"b\\c\u00e9"],"t":"x y"} "#.utf8)
        for count in 0...300 {
            let start = region.assumingMemoryBound(to: UInt8.self) + (page - count)
            for i in 0..<count { start[i] = text[i % text.count] }
            let b = UnsafeBufferPointer(start: start, count: count)
            let portable = Self.index(b, isa: Int32(HT_JSON_ISA_PORTABLE))
            for isa in Self.vectorISAs { #expect(Self.index(b, isa: isa) == portable, "count \(count)") }
        }
    }

    /// UTF-8 sequences laid across the 64-byte block edges, the 96-byte edge where the AVX2 code stops
    /// copying its last block, and the end of the input (cut short there): each vector check reports the
    /// offset the scalar check reports, and exactly the inputs the standard library rejects are rejected.
    @Test func utf8SequencesAcrossBlockEdgesAndTheEnd() {
        let sequences: [[UInt8]] = [
            [0xC2, 0x80], [0xDF, 0xBF], [0xC1, 0xBF], [0xC0, 0x80], [0xE0, 0xA0, 0x80], [0xE0, 0x9F, 0xBF],
            [0xED, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80],
            [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
            [0xF1, 0x80, 0x80, 0x80], [0xE6, 0x9D, 0xB1], [0x80], [0xBF, 0x80], [0xFF],
        ]
        var valid = 0, invalid = 0
        for sequence in sequences {
            for cut in 0...sequence.count {
                let piece = Array(sequence[..<cut])
                for total in [64, 96, 128, 160] {
                    // The piece ends at total - 4 ... total + 4: across an edge, or at the end of the input.
                    for before in max(0, total - 4 - piece.count)...(total + 4 - piece.count) {
                        for after in [0, 1, 3, 40] {
                            let bytes = [UInt8](repeating: 0x61, count: before) + piece + [UInt8](repeating: 0x62, count: after)
                            bytes.withUnsafeBufferPointer { b in
                                let scalar = JSONScanner.firstInvalidUTF8(in: b)
                                #expect((scalar == nil) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
                                if scalar == nil { valid += 1 } else { invalid += 1 }
                                for isa in Self.vectorISAs + [Int32(HT_JSON_ISA_PORTABLE)] {
                                    let got = Self.index(b, isa: isa).utf8ErrorAt
                                    #expect(got == Int32(scalar ?? -1), "isa \(isa), \(before) + \(piece) + \(after)")
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(valid > 1000 && invalid > 1000)
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
