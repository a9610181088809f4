import Foundation

public enum TrendWindowJSONError: Error, Equatable, CustomStringConvertible {
    case notAnObject
    case unsupportedVersion(String)
    case missingField(String)
    case badField(String)

    public var description: String {
        switch self {
        case .notAnObject: return "trends record is not a JSON object"
        case .unsupportedVersion(let v): return "trends record has unsupported version \(v)"
        case .missingField(let f): return "trends record lacks field '\(f)'"
        case .badField(let f): return "trends record has a malformed '\(f)'"
        }
    }
}

extension TrendWindow {
    /// The `trends` record value (DESIGN.md): fields in a fixed order, times in RFC 3339 with
    /// milliseconds, scores with at most 6 decimals, so equal windows give equal bytes.
    public func json() -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(160 + top.count * 90)
        o += Array(#"{"v":1,"window_start":""#.utf8)
        o += Array(EventTime.format(millis: windowStartMillis).utf8)
        o += Array(#"","window_end":""#.utf8)
        o += Array(EventTime.format(millis: windowEndMillis).utf8)
        o += Array(#"","final":"#.utf8)
        o += Array((final ? "true" : "false").utf8)
        o += Array(#","emitted_at":""#.utf8)
        o += Array(EventTime.format(millis: emittedAtMillis).utf8)
        o += Array(#"","posts":"#.utf8)
        o += Array(String(posts).utf8)
        o += Array(#","distinct":"#.utf8)
        o += Array(String(distinct).utf8)
        o += Array(#","late_dropped":"#.utf8)
        o += Array(String(lateDropped).utf8)
        o += Array(#","top":["#.utf8)
        for (i, e) in top.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o += Array(#"{"tag":"#.utf8)
            appendJSONString(e.tag, to: &o)
            o += Array(#","display":"#.utf8)
            appendJSONString(e.display, to: &o)
            o += Array(#","count":"#.utf8)
            o += Array(String(e.count).utf8)
            o += Array(#","rank":"#.utf8)
            o += Array(String(e.rank).utf8)
            o += Array(#","score":"#.utf8)
            o += Array(formatScore(e.score).utf8)
            o.append(UInt8(ascii: "}"))
        }
        o += Array("]}".utf8)
        return o
    }

    public init(json: [UInt8]) throws {
        let any = try JSONSerialization.jsonObject(with: Data(json))
        guard let d = any as? [String: Any] else { throw TrendWindowJSONError.notAnObject }
        guard let v = d["v"] else { throw TrendWindowJSONError.missingField("v") }
        guard jsonInt(v) == 1 else { throw TrendWindowJSONError.unsupportedVersion("\(v)") }
        func time(_ k: String) throws -> Int64 {
            guard let x = d[k] else { throw TrendWindowJSONError.missingField(k) }
            guard let s = x as? String, let t = EventTime.parse(s) else { throw TrendWindowJSONError.badField(k) }
            return t
        }
        func int(_ k: String, in d: [String: Any]) throws -> Int64 {
            guard let x = d[k] else { throw TrendWindowJSONError.missingField(k) }
            guard let i = jsonInt(x) else { throw TrendWindowJSONError.badField(k) }
            return i
        }
        guard let f = d["final"] else { throw TrendWindowJSONError.missingField("final") }
        guard let fin = jsonBool(f) else { throw TrendWindowJSONError.badField("final") }
        guard let t = d["top"] else { throw TrendWindowJSONError.missingField("top") }
        guard let arr = t as? [Any] else { throw TrendWindowJSONError.badField("top") }
        var top: [TrendEntry] = []
        for el in arr {
            guard let e = el as? [String: Any] else { throw TrendWindowJSONError.badField("top") }
            guard let tag = e["tag"] as? String else { throw TrendWindowJSONError.badField("top.tag") }
            guard let display = e["display"] as? String else { throw TrendWindowJSONError.badField("top.display") }
            let rank = try int("rank", in: e)
            guard let r32 = Int32(exactly: rank) else { throw TrendWindowJSONError.badField("top.rank") }
            guard let sv = e["score"], let score = jsonDouble(sv) else { throw TrendWindowJSONError.badField("top.score") }
            top.append(TrendEntry(tag: tag, display: display, count: try int("count", in: e), rank: r32,
                                  score: (score * 1e6).rounded() / 1e6))
        }
        self.init(windowStartMillis: try time("window_start"), windowEndMillis: try time("window_end"), final: fin,
                  emittedAtMillis: try time("emitted_at"), posts: try int("posts", in: d),
                  distinct: try int("distinct", in: d), lateDropped: try int("late_dropped", in: d), top: top)
    }
}

/// Fixed-point with up to 6 decimals, trailing zeros trimmed: `2`, `1.5`, `-0.333333`.
func formatScore(_ x: Double) -> String {
    guard x.isFinite else { return "0" }
    let micro = Int64((x * 1e6).rounded())
    let neg = micro < 0
    let mag = micro.magnitude
    var s = neg ? "-" : ""
    s += String(mag / 1_000_000)
    var frac = mag % 1_000_000
    if frac != 0 {
        var digits = 6
        while frac % 10 == 0 { frac /= 10; digits -= 1 }
        let f = String(frac)
        s += "." + String(repeating: "0", count: digits - f.count) + f
    }
    return s
}

func appendJSONString(_ s: String, to o: inout [UInt8]) {
    o.append(UInt8(ascii: "\""))
    let hex = Array("0123456789abcdef".utf8)
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "\""): o += [92, 34]
        case UInt8(ascii: "\\"): o += [92, 92]
        case 0x0A: o += [92, UInt8(ascii: "n")]
        case 0x0D: o += [92, UInt8(ascii: "r")]
        case 0x09: o += [92, UInt8(ascii: "t")]
        case 0..<0x20: o += [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]]
        default: o.append(b)
        }
    }
    o.append(UInt8(ascii: "\""))
}

// Foundation on Linux hands numbers and booleans back as NSNumber, which bridges to both Bool and
// Int; the field decides which one is meant.
private func jsonBool(_ x: Any) -> Bool? {
    x as? Bool
}

private func jsonInt(_ x: Any) -> Int64? {
    if let i = x as? Int { return Int64(i) }
    if let i = x as? Int64 { return i }
    if let d = x as? Double, d == d.rounded(), abs(d) < 9.0e15 { return Int64(d) }
    if let n = x as? NSNumber { return n.int64Value }
    return nil
}

private func jsonDouble(_ x: Any) -> Double? {
    if let d = x as? Double { return d }
    if let i = x as? Int { return Double(i) }
    if let n = x as? NSNumber { return n.doubleValue }
    return nil
}
