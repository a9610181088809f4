import Testing
@testable import HashtrendCore

/// Walks a whole JSON text with the scanner: strings are decoded, everything else skipped.
private func scanAll(_ text: [UInt8], maxDepth: Int = 64) -> Result<[String], JSONScanError> {
    text.withUnsafeBufferPointer { b in
        var s = JSONScanner(b, maxDepth: maxDepth)
        do throws(JSONScanError) {
            try s.skipValue()
            try s.finish()
            return .success([])
        } catch {
            return .failure(error)
        }
    }
}

private func decodeString(_ json: String) -> Result<String, JSONScanError> {
    Array(json.utf8).withUnsafeBufferPointer { b in
        var s = JSONScanner(b)
        do throws(JSONScanError) {
            let r = try s.readString()
            try s.finish()
            return .success(s.string(r))
        } catch {
            return .failure(error)
        }
    }
}

@Suite struct JSONScannerTests {
    @Test(arguments: [
        ("\"plain\"", "plain"),
        ("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d"),
        ("\"\\b\\f\\n\\r\\t\"", "\u{8}\u{C}\n\r\t"),
        ("\"caf\\u00e9 \\u00E9\"", "café é"),
        ("\"\\u6771\\u4eac\"", "東京"),
        ("\"\\ud83d\\ude80 go\"", "🚀 go"),             // surrogate pair
        ("\"x\\ud83d\"", "x\u{FFFD}"),                    // high surrogate at the end
        ("\"\\ud83d y\"", "\u{FFFD} y"),                  // high surrogate, no low follows
        ("\"\\ude80\"", "\u{FFFD}"),                      // lone low surrogate
        ("\"\\ud83d\\u0041\"", "\u{FFFD}A"),              // high then a non-surrogate escape
        ("\"\\u0000\"", "\u{0}"),
        ("\"raw 🚀 東京 مرحبا\"", "raw 🚀 東京 مرحبا"),
    ] as [(String, String)])
    func unescapes(json: String, expected: String) throws {
        #expect(try decodeString(json).get() == expected)
    }

    @Test func quoteOrBackslashAtEveryOffsetOfTheFastPath() throws {
        // The 8-byte skip must find the first special byte wherever it falls.
        for len in 0..<40 {
            let body = String(repeating: "a", count: len)
            #expect(try decodeString("\"\(body)\"").get() == body)
            let escaped = "\"\(body)\\n\(body)\""
            #expect(try decodeString(escaped).get() == body + "\n" + body)
            // A raw control character anywhere is an error.
            let bad = Array("\"\(body)".utf8) + [0x01] + Array("x\"".utf8)
            #expect(scanAll(bad) == .failure(.controlCharacterInString(at: len + 1)))
        }
    }

    @Test(arguments: [
        "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\'\"",
    ])
    func rejectsInvalidEscapes(json: String) {
        guard case .failure(let e) = scanAll(Array(json.utf8)) else {
            Issue.record("accepted \(json)")
            return
        }
        #expect(e == .invalidEscape(at: 1) || e == .unexpectedEnd)
    }

    @Test(arguments: [
        "0", "-0", "12", "-12.5", "1e9", "1E+9", "2.5e-3", "[]", "{}", "[1,[2,[3]],{\"a\":{}}]",
        " { \"a\" : [ true , false , null ] } \r\n", "\"\"",
    ])
    func acceptsValidJSON(json: String) {
        #expect(throws: Never.self) { try scanAll(Array(json.utf8)).get() }
    }

    @Test(arguments: [
        "", "01", "-", "1.", ".5", "1e", "+1", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "[1 2]", "tru", "nul",
        "{\"a\":1", "[", "\"abc", "{} {}", "[1]]", "{\"a\":1}}", "NaN", "'a'",
    ])
    func rejectsInvalidJSON(json: String) {
        #expect(throws: JSONScanError.self) { try scanAll(Array(json.utf8)).get() }
    }

    @Test func boundsNesting() {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try scanAll(Array(ok.utf8)).get() }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(scanAll(Array(deep.utf8)) == .failure(.tooDeep(64)))
        let deepObjects = String(repeating: "{\"a\":", count: 10) + "1" + String(repeating: "}", count: 10)
        #expect(scanAll(Array(deepObjects.utf8), maxDepth: 9) == .failure(.tooDeep(9)))
        // A million open brackets: an error, not a stack overflow.
        let huge = [UInt8](repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(scanAll(huge) == .failure(.tooDeep(64)))
    }

    @Test func validatesUTF8() {
        func check(_ bytes: [UInt8]) -> Int? { bytes.withUnsafeBufferPointer { JSONScanner.firstInvalidUTF8(in: $0) } }
        #expect(check(Array("plain ascii that is longer than eight bytes".utf8)) == nil)
        #expect(check(Array("mixed é 東京 🚀 مرحبا and more ascii text".utf8)) == nil)
        #expect(check([0x61, 0xC3, 0x28]) == 1)                 // bad continuation
        #expect(check([0xC0, 0xAF]) == 0)                       // overlong '/'
        #expect(check([0xE0, 0x80, 0xAF]) == 0)                 // overlong 3-byte
        #expect(check([0xED, 0xA0, 0x80]) == 0)                 // UTF-16 surrogate encoded
        #expect(check([0xF4, 0x90, 0x80, 0x80]) == 0)           // above U+10FFFF
        #expect(check([0xF5, 0x80, 0x80, 0x80]) == 0)
        #expect(check(Array("12345678".utf8) + [0xE6, 0x9D]) == 8) // truncated at the end
        #expect(check([0x80]) == 0)                             // stray continuation
        #expect(check(Array("abcdefgh".utf8) + [0xFF] + Array("abcdefgh".utf8)) == 8)
    }

    @Test func utf8ValidationAgreesWithTheStandardLibrary() {
        // Random byte strings built from pieces of well- and ill-formed UTF-8, at every alignment.
        let pieces: [[UInt8]] = [
            Array("abcdefgh".utf8), [0x20], Array("é".utf8), Array("東".utf8), Array("🚀".utf8), Array("ق".utf8),
            [0xC3], [0x80], [0xE6, 0x9D], [0xF0, 0x9F, 0x9A], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xED, 0x9F, 0xBF],
            [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x9F, 0x80], [0xE0, 0xA0, 0x80], [0xFF],
        ]
        var rng = SeededRandom(seed: 4)
        var invalid = 0
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<rng.below(12) {
                bytes += rng.below(3) == 0 ? pieces[rng.below(pieces.count)] : pieces[rng.below(6)]
            }
            let mine = bytes.withUnsafeBufferPointer { JSONScanner.firstInvalidUTF8(in: $0) }
            let stdlibValid = String(validating: bytes, as: UTF8.self) != nil
            #expect((mine == nil) == stdlibValid, "\(bytes)")
            if let at = mine {
                invalid += 1
                // Everything before the reported offset is well formed.
                #expect(String(validating: bytes[..<at], as: UTF8.self) != nil)
            }
        }
        #expect(invalid > 2000)
    }

    @Test func walksObjectsMemberByMember() throws {
        let json = Array(#"{"a":1,"b":{"c":[1,2,{"d":"e"}]},"c\u0061t":"x\"y","n":null,"t":true}"#.utf8)
        try json.withUnsafeBufferPointer { b in
            var s = JSONScanner(b)
            try s.enterObject()
            var first = true
            var seen: [String] = []
            var cat: String?
            while let k = try s.nextKey(&first) {
                seen.append(s.string(k))
                if s.equals(k, "cat") { cat = s.string(try s.readString()) } else { try s.skipValue() }
            }
            try s.finish()
            #expect(seen == ["a", "b", "cat", "n", "t"])
            #expect(cat == "x\"y")
            #expect(s.depth == 0)
        }
    }
}
