/// X API v1.1 timestamps: `Sat Jun 25 19:09:37 +0000 2016` (seconds only; v1.1 statuses from the
/// stream also carry `timestamp_ms`, which the decoder prefers).
public enum TwitterTime {
    static let months: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let weekdays: [StaticString] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"] // 1970-01-01 was a Thursday

    public static func parse(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { parse(bytes: $0) }
    }

    /// Milliseconds since the epoch, or nil unless the bytes are exactly that layout with a known
    /// weekday and month name (the weekday is not checked against the date: X never gets it wrong, and
    /// the date is what counts).
    public static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count == 30 else { return nil }
        func num(_ at: Int, _ len: Int) -> Int? { asciiNumber(b, at, len) }
        func name(_ at: Int, _ names: [StaticString]) -> Int? {
            for (k, n) in names.enumerated() {
                let p = n.utf8Start
                if b[at] == p[0] && b[at + 1] == p[1] && b[at + 2] == p[2] { return k }
            }
            return nil
        }
        guard name(0, weekdays) != nil, b[3] == 32, let mo = name(4, months), b[7] == 32,
              let d = num(8, 2), b[10] == 32, let h = num(11, 2), b[13] == 58, let mi = num(14, 2),
              b[16] == 58, let sec = num(17, 2), b[19] == 32, b[20] == 43 || b[20] == 45,
              let oh = num(21, 2), let om = num(23, 2), b[25] == 32, let y = num(26, 4),
              (1...31).contains(d), h < 24, mi < 60, sec < 61, oh < 24, om < 60
        else { return nil }
        let offset = (oh * 60 + om) * (b[20] == 43 ? 1 : -1)
        let days = EventTime.daysFromCivil(year: y, month: mo + 1, day: d)
        // Reject dates like Feb 30 that days_from_civil would roll over.
        let back = EventTime.civilFromDays(days)
        guard back.month == mo + 1, back.day == d else { return nil }
        let secs = Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + sec) - Int64(offset * 60)
        return secs * 1000
    }

    /// Formats in UTC (`+0000`), dropping milliseconds, as X does.
    public static func format(millis: Int64) -> String {
        var secs = millis / 1000
        if millis % 1000 < 0 { secs -= 1 }
        var days = secs / 86400
        var sod = secs % 86400
        if sod < 0 { sod += 86400; days -= 1 }
        let (y, mo, d) = EventTime.civilFromDays(Int(days))
        let wd = Int(((days % 7) + 7) % 7)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yearText = String(y)
        let paddedYear = String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText
        return "\(weekdays[wd]) \(months[mo - 1]) \(two(d)) \(two(Int(sod / 3600))):\(two(Int(sod / 60 % 60))):\(two(Int(sod % 60))) +0000 \(paddedYear)"
    }
}
