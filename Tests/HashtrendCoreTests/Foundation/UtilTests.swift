import Foundation
import Testing
@testable import HashtrendCore

@Suite struct DurationTests {
    @Test(arguments: [("500ms", 500), ("20s", 20_000), ("5m", 300_000), ("1h", 3_600_000), ("1h30m", 5_400_000), ("0s", 0)] as [(String, Int64)])
    func parses(text: String, millis: Int64) throws {
        #expect(try HTDuration(parsing: text).millis == millis)
    }

    @Test(arguments: ["", "5", "ms", "5x", "-1s", "1.5s", "99999999999999999999s"])
    func rejects(text: String) {
        #expect(throws: HTDuration.ParseError.self) { try HTDuration(parsing: text) }
    }

    @Test func roundTrips() throws {
        for ms: Int64 in [1, 999, 1000, 61_000, 5_400_000, 90_061_001] {
            let d = HTDuration(millis: ms)
            #expect(try HTDuration(parsing: d.description) == d)
        }
    }
}

@Suite struct EventTimeTests {
    @Test func formatsAndParses() {
        #expect(EventTime.format(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(EventTime.format(millis: 1_467_000_000_123) == "2016-06-27T04:00:00.123Z")
        #expect(EventTime.parse("2016-06-27T04:00:00.123Z") == 1_467_000_000_123)
        #expect(EventTime.parse("2016-06-27T04:00:00Z") == 1_467_000_000_000)
        #expect(EventTime.parse("2016-06-27T06:00:00.1234+02:00") == 1_467_000_000_123)
        #expect(EventTime.parse("2016-02-30") == nil)
        #expect(EventTime.parse("2016-06-27T04:00:00.123") == nil)
        #expect(EventTime.parse("2016-06-27T04:00:00.Z") == nil)
    }

    @Test func roundTripsAcrossCenturies() {
        var ms: Int64 = -2_000_000_000_000
        while ms < 5_000_000_000_000 {
            #expect(EventTime.parse(EventTime.format(millis: ms)) == ms)
            ms += 123_456_789_013
        }
    }

    /// The memoised common form against the general parser: same value for every valid timestamp, nil
    /// for a bad one, whatever date the memo holds from the line before.
    @Test func commonFormAgreesWithTheGeneralParser() {
        func common(_ s: String, _ memo: inout EventTime.DayMemo) -> Int64? {
            var s = s
            return s.withUTF8 { EventTime.parseCommon($0.baseAddress!, count: $0.count, memo: &memo) }
        }
        var memo = EventTime.DayMemo()
        var rng = SystemRandomNumberGenerator()
        var ms: Int64 = 1_700_000_000_000
        for i in 0..<20_000 {
            // Mostly small steps (the memo's date is reused), sometimes a jump to another day or year.
            ms += i % 97 == 0 ? Int64.random(in: -400_000_000_000...400_000_000_000, using: &rng) : Int64.random(in: 0...5_000_000, using: &rng)
            let s = EventTime.format(millis: ms)
            #expect(common(s, &memo) == ms)
            #expect(EventTime.parse(s) == ms)
        }
        for bad in ["2016-02-30T04:00:00.123Z", "2015-02-29T04:00:00.123Z", "2016-13-01T04:00:00.123Z",
                    "2016-06-27T24:00:00.123Z", "2016-06-27T04:60:00.123Z", "2016-06-2xT04:00:00.123Z",
                    "2016-06-27T04:00:0x.123Z", "2016-06-27T04:00:00.12xZ", "2016-06-00T04:00:00.123Z"] {
            #expect(common(bad, &memo) == nil, "\(bad)")
            // The memo holds a valid date now; the same bad date right after must still fail.
            _ = common("2016-06-27T04:00:00.123Z", &memo)
            #expect(common(bad, &memo) == nil, "\(bad) after a good line")
        }
        // Leap day, and forms the common parser leaves to the general one.
        #expect(common("2016-02-29T00:00:00.000Z", &memo) == EventTime.parse("2016-02-29T00:00:00.000Z"))
        #expect(common("2016-06-27T04:00:00Z", &memo) == nil)
        #expect(common("2016-06-27T06:00:00.123+02:00", &memo) == nil)
    }
}

@Suite struct LineReaderTests {
    /// Every line of `path` as (bytes, truncated, length), read with or without the mapping.
    static func lines(_ path: String, mapped: Bool, max: Int) throws -> [([UInt8], Bool, Int)] {
        let reader = try LineReader(path: path, maxLineBytes: max, mapped: mapped)
        var out: [([UInt8], Bool, Int)] = []
        while let line = try reader.nextLine({ Array($0) }) { out.append((line, reader.lastLineTruncated, reader.lastLineLength)) }
        return out
    }

    @Test("a mapped file gives the same lines as reading it: CRLF, empty lines, no final newline, a line past the limit")
    func mappedEqualsRead() throws {
        let dir = TestSupport.tempDir("linereader")
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: 3 << 20)
        var bytes = Array("first\r\n\nsecond line ü\n".utf8) + long + [10] + Array("after\nlast without newline".utf8)
        let path = dir.appendingPathComponent("lines.txt").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let read = try Self.lines(path, mapped: false, max: 2 << 20)
        let mapped = try Self.lines(path, mapped: true, max: 2 << 20)
        #expect(read.map { String(decoding: $0.0, as: UTF8.self) } == ["first", "", "second line ü", "", "after", "last without newline"])
        #expect(read.map(\.1) == [false, false, false, true, false, false])
        #expect(mapped.count == read.count)
        for (m, r) in zip(mapped, read) {
            #expect(m.0 == r.0)
            #expect(m.1 == r.1)
        }
        #expect(mapped[3].2 == long.count)
        // An empty file has no lines either way.
        bytes = []
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try Self.lines(path, mapped: true, max: 100).isEmpty)
        #expect(try Self.lines(path, mapped: false, max: 100).isEmpty)
    }
}
