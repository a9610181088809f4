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
        func num(_ at: Int, _ len: Int) -> Int? { asciiNumber(b, at, len) }
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
