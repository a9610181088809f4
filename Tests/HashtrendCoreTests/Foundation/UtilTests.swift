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
}
