/// RFC 3339 timestamps in UTC with milliseconds, without Foundation's formatters (they are slow and
/// allocate on the hot path).
public enum EventTime {
    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    @inlinable
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    @inlinable
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// `2026-11-25T13:25:52.123Z`
    public static func format(millis: Int64) -> String {
        var ms = millis
        var days = Int(ms / 86_400_000)
        ms %= 86_400_000
        if ms < 0 { ms += 86_400_000; days -= 1 }
        let (y, mo, d) = civilFromDays(days)
        let secOfDay = Int(ms / 1000)
        let frac = Int(ms % 1000)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func put(_ v: Int, _ width: Int) {
            var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            var v = v
            var i = width - 1
            while i >= 0 { digits[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; i -= 1 }
            out.append(contentsOf: digits)
        }
        put(y, 4); out.append(UInt8(ascii: "-")); put(mo, 2); out.append(UInt8(ascii: "-")); put(d, 2)
        out.append(UInt8(ascii: "T"))
        put(secOfDay / 3600, 2); out.append(UInt8(ascii: ":")); put(secOfDay / 60 % 60, 2)
        out.append(UInt8(ascii: ":")); put(secOfDay % 60, 2)
        out.append(UInt8(ascii: ".")); put(frac, 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`); fractions beyond milliseconds are
    /// truncated. Returns nil for anything else.
    public static func parse(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { parse(bytes: $0) }
    }

    public static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = b.count
        guard n >= 20 else { return nil }
        @inline(__always) func num(_ at: Int, _ len: Int) -> Int? { asciiNumber(b, at, len) }
        guard let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32,
              let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58, let sec = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61
        else { return nil }
        var i = 19
        var frac = 0
        if i < n && b[i] == 46 {
            i += 1
            var digits = 0
            while i < n, b[i] &- 48 <= 9 {
                if digits < 3 { frac = frac * 10 + Int(b[i] &- 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            while digits < 3 { frac *= 10; digits += 1 }
        }
        guard i < n else { return nil }
        var offset = 0
        switch b[i] {
        case 90, 122: i += 1
        case 43, 45:
            guard i + 6 <= n, let oh = num(i + 1, 2), b[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
            offset = (oh * 60 + om) * (b[i] == 43 ? 1 : -1)
            i += 6
        default: return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year: y, month: mo, day: d)
        let secs = Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + sec) - Int64(offset * 60)
        return secs * 1000 + Int64(frac)
    }
}

extension EventTime {
    /// The date of the last timestamp `parseCommon` read, and its day number: the posts of a stream or a
    /// file mostly share their date, and the day arithmetic (divisions) was ~1% of the hot path.
    public struct DayMemo: Sendable {
        var date: UInt64 = 0 // bytes 0..<8 of "YYYY-MM-DD"
        var dayDigits: UInt16 = 0 // bytes 8..<10
        var days = Int.min // .min: empty
        public init() {}
        init(date: UInt64, dayDigits: UInt16, days: Int) {
            self.date = date
            self.dayDigits = dayDigits
            self.days = days
        }
    }

    /// The form X and the canonical records use, `YYYY-MM-DDTHH:MM:SS.fffZ` (24 bytes), parsed with
    /// `memo`; nil for any other form or an invalid value (use `parse(bytes:)`, which also accepts other
    /// forms). A date that does not exist (Feb 30) is nil here, where `parse(bytes:)` would roll it over.
    @inline(__always)
    public static func parseCommon(_ p: UnsafePointer<UInt8>, count: Int, memo: inout DayMemo) -> Int64? {
        guard count == 24, p[10] == 84, p[13] == 58, p[16] == 58, p[19] == 46, p[23] == 90 else { return nil }
        @inline(__always) func d(_ i: Int) -> Int? {
            let c = p[i] &- 48
            return c <= 9 ? Int(c) : nil
        }
        guard let h1 = d(11), let h2 = d(12), let m1 = d(14), let m2 = d(15), let s1 = d(17), let s2 = d(18),
              let f1 = d(20), let f2 = d(21), let f3 = d(22) else { return nil }
        let h = h1 * 10 + h2, mi = m1 * 10 + m2, sec = s1 * 10 + s2
        guard h < 24, mi < 60, sec < 61 else { return nil }
        let date = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
        let dayDigits = UnsafeRawPointer(p + 8).loadUnaligned(as: UInt16.self)
        let days: Int
        if memo.days != .min && date == memo.date && dayDigits == memo.dayDigits {
            days = memo.days
        } else {
            guard p[4] == 45, p[7] == 45, let y1 = d(0), let y2 = d(1), let y3 = d(2), let y4 = d(3),
                  let mo1 = d(5), let mo2 = d(6), let d1 = d(8), let d2 = d(9) else { return nil }
            let y = y1 * 1000 + y2 * 100 + y3 * 10 + y4, mo = mo1 * 10 + mo2, day = d1 * 10 + d2
            guard (1...12).contains(mo), day >= 1, day <= daysInMonth(year: y, month: mo) else { return nil }
            days = daysFromCivil(year: y, month: mo, day: day)
            memo = DayMemo(date: date, dayDigits: dayDigits, days: days)
        }
        let secs = Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + sec)
        return secs * 1000 + Int64(f1 * 100 + f2 * 10 + f3)
    }

    /// Days in a month of the proleptic Gregorian calendar.
    @inlinable
    public static func daysInMonth(year y: Int, month m: Int) -> Int {
        switch m {
        case 2: return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// The decimal number in `len` ASCII digits at `at`, or nil when any byte is not a digit.
@inline(__always)
func asciiNumber(_ b: UnsafeBufferPointer<UInt8>, _ at: Int, _ len: Int) -> Int? {
    var v = 0
    for i in at..<(at + len) {
        let c = b[i] &- 48
        if c > 9 { return nil }
        v = v * 10 + Int(c)
    }
    return v
}
