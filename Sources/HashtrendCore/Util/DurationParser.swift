/// Durations as operators write them everywhere in Hashtrend: `500ms`, `20s`, `5m`, `1h`, `1d`,
/// or combinations like `1h30m`. A bare number is rejected: the unit is never guessed.
public struct HTDuration: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var millis: Int64

    public init(millis: Int64) { self.millis = millis }
    public static func seconds(_ s: Int64) -> HTDuration { HTDuration(millis: s * 1000) }

    public var seconds: Double { Double(millis) / 1000 }
    public var swiftDuration: Duration { .milliseconds(millis) }

    public static func < (a: HTDuration, b: HTDuration) -> Bool { a.millis < b.millis }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self {
            case .invalid(let s):
                return "invalid duration '\(s)': write a number with a unit, like 500ms, 20s, 5m, 1h"
            }
        }
    }

    public init(parsing text: String) throws {
        let s = Array(text.utf8)
        guard !s.isEmpty else { throw ParseError.invalid(text) }
        var i = 0
        var total: Int64 = 0
        while i < s.count {
            var v: Int64 = 0
            let start = i
            while i < s.count, s[i] >= 48, s[i] <= 57 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(s[i] - 48))
                guard !o1, !o2 else { throw ParseError.invalid(text) }
                v = a
                i += 1
            }
            guard i > start else { throw ParseError.invalid(text) }
            let unitStart = i
            while i < s.count, s[i] >= 97, s[i] <= 122 { i += 1 }
            let unit = String(decoding: s[unitStart..<i], as: UTF8.self)
            let factor: Int64
            switch unit {
            case "ms": factor = 1
            case "s": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            case "d": factor = 86_400_000
            default: throw ParseError.invalid(text)
            }
            let (m, o) = v.multipliedReportingOverflow(by: factor)
            guard !o else { throw ParseError.invalid(text) }
            total += m
        }
        self.millis = total
    }

    /// The shortest exact spelling: `1h30m`, `500ms`, `0s`.
    public var description: String {
        if millis == 0 { return "0s" }
        var rest = millis
        var out = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if rest >= size {
                out += "\(rest / size)\(unit)"
                rest %= size
            }
        }
        return out
    }
}
