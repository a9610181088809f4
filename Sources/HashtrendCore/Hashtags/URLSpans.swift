// URL detection, only as far as hashtag extraction needs it: twitter-text drops hashtags that overlap
// a URL (`example.com/#section`, `https://host/path?x=#y`). This is a simplified matcher modelled on
// twitter-text's URL grammar (preceding character, optional http(s) scheme, dotted domain ending in a
// known TLD, optional port, path and query with their character sets and ending rules).

@usableFromInline
enum URLSpans {
    /// Country-code TLDs (ISO 3166-1 alpha-2 plus the few IANA extras).
    static let ccTLDs: Set<String> = Set("""
        ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bv \
        bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et \
        eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie \
        il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly \
        ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz \
        om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn \
        so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve \
        vg vi vn vu wf ws ye yt za zm zw
        """.split(separator: " ").map(String.init))

    /// Generic TLDs: the classic ones and the newer ones common in posts (twitter-text carries the full
    /// IANA list; a missing rare TLD only means a hashtag in such a URL's path is not suppressed).
    static let gTLDs: Set<String> = Set("""
        com net org edu gov mil int arpa info biz name pro mobi asia tel travel jobs cat coop aero museum \
        xxx post app dev page blog shop store online site xyz top club live news tech cloud art design link \
        space website fun game games social media email world today life love music video wiki zone network \
        digital agency studio company center global city group team tokyo london nyc berlin paris amazon \
        google youtube apple microsoft icu vip work click help one ltd inc llc gay moe ninja rocks lol wtf \
        photo photos pics tube film movie show events run fit health care solutions services systems \
        support software tools codes academy school education university science institute foundation \
        church community guru expert bio eco green earth how land house home family kitchen cafe bar pub \
        restaurant pizza wine beer fashion style beauty hair shoes bike car cars auto taxi flights \
        hotel hotels host hosting domains download stream radio fm tv chat press report reviews red blue \
        pink black gold money finance bank capital fund cash tax law legal
        """.split(separator: " ").map(String.init))

    static func isTLD(_ label: UnsafeBufferPointer<UInt8>) -> Bool {
        var s = ""
        s.reserveCapacity(label.count)
        for b in label {
            guard b < 0x80 else { return false }
            s.unicodeScalars.append(Unicode.Scalar(b >= 0x41 && b <= 0x5A ? b | 0x20 : b))
        }
        if s.hasPrefix("xn--") && s.count > 4 { return true } // punycode TLD
        return ccTLDs.contains(s) || gTLDs.contains(s)
    }

    @inline(__always) static func isASCIIAlnum(_ v: UInt32) -> Bool {
        (v >= 0x30 && v <= 0x39) || (v | 0x20 >= 0x61 && v | 0x20 <= 0x7A)
    }

    /// Latin letters with diacritics and combining diacritics, as twitter-text's URL path grammar allows.
    @inline(__always) static func isLatinAccent(_ v: UInt32) -> Bool {
        (v >= 0xC0 && v <= 0x24F && v != 0xD7 && v != 0xF7) || (v >= 0x300 && v <= 0x36F)
            || (v >= 0x1E00 && v <= 0x1EFF)
    }

    @inline(__always) static func isCyrillic(_ v: UInt32) -> Bool { v >= 0x400 && v <= 0x4FF }

    /// Characters allowed anywhere in a URL path.
    static func isPathChar(_ v: UInt32) -> Bool {
        if v < 0x80 {
            if isASCIIAlnum(v) { return true }
            switch UInt8(v) {
            case UInt8(ascii: "!"), UInt8(ascii: "*"), UInt8(ascii: "'"), UInt8(ascii: ";"), UInt8(ascii: ":"),
                 UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "."), UInt8(ascii: "$"),
                 UInt8(ascii: "/"), UInt8(ascii: "%"), UInt8(ascii: "#"), UInt8(ascii: "["), UInt8(ascii: "]"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "@"), UInt8(ascii: "|"),
                 UInt8(ascii: "&"):
                return true
            default:
                return false
            }
        }
        return v == 0x2013 || isLatinAccent(v) || isCyrillic(v)
    }

    /// Characters a URL path may end with (so a trailing `.` or `,` stays outside the URL).
    static func isPathEndChar(_ v: UInt32) -> Bool {
        if v < 0x80 {
            if isASCIIAlnum(v) { return true }
            switch UInt8(v) {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "="), UInt8(ascii: "_"), UInt8(ascii: "#"),
                 UInt8(ascii: "/"):
                return true
            default:
                return false
            }
        }
        return isLatinAccent(v) || isCyrillic(v)
    }

    static func isQueryChar(_ v: UInt32) -> Bool {
        guard v < 0x80 else { return false }
        if isASCIIAlnum(v) { return true }
        switch UInt8(v) {
        case UInt8(ascii: "!"), UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "'"), UInt8(ascii: "@"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "&"),
             UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "$"), UInt8(ascii: "/"), UInt8(ascii: "%"),
             UInt8(ascii: "#"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "-"), UInt8(ascii: "_"),
             UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: "~"), UInt8(ascii: "|"):
            return true
        default:
            return false
        }
    }

    static func isQueryEndChar(_ v: UInt32) -> Bool {
        guard v < 0x80 else { return false }
        if isASCIIAlnum(v) { return true }
        switch UInt8(v) {
        case UInt8(ascii: "_"), UInt8(ascii: "&"), UInt8(ascii: "="), UInt8(ascii: "#"), UInt8(ascii: "/"),
             UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// A URL may not start right after these (twitter-text: alphanumerics, `@＠$#＃`, bidi embeddings).
    static func blocksURLStart(_ v: UInt32) -> Bool {
        isASCIIAlnum(v) || v == 0x40 || v == 0xFF20 || v == 0x24 || v == 0x23 || v == 0xFF03
            || (v >= 0x202A && v <= 0x202E) || v == 0xFEFF || v == 0xFFFE || v == 0xFFFF
    }

    /// A domain label character. Without a scheme only ASCII domains count (as in twitter-text).
    @inline(__always)
    static func isLabelChar(_ v: UInt32, unicode: Bool, bmp: UnsafePointer<UInt8>) -> Bool {
        if v < 0x80 { return isASCIIAlnum(v) || v == 0x2D || v == 0x5F }
        guard unicode else { return false }
        let c = HashtagClass.of(v, bmp: bmp)
        return c & HashtagClass.member != 0 && v != 0x5F && !HashtagClass.specials.contains(v)
    }

    /// If a URL starts exactly at `start`, returns its end (exclusive byte offset).
    static func match(_ p: UnsafePointer<UInt8>, _ count: Int, at start: Int, bmp: UnsafePointer<UInt8>) -> Int? {
        var before: UInt32? = nil
        if start > 0 {
            let prev = UTF8Scan.decodeBefore(p, start, count)
            if blocksURLStart(prev) { return nil }
            before = prev
        }
        var i = start
        // Optional scheme.
        var hasScheme = false
        if matchASCII(p, count, i, "http") {
            var j = i + 4
            if j < count, p[j] | 0x20 == UInt8(ascii: "s") { j += 1 }
            if matchASCII(p, count, j, "://") { hasScheme = true; i = j + 3 }
        }
        if !hasScheme, let b = before,
           b == 0x2D || b == 0x5F || b == 0x2E || b == 0x2F { // "-_./" before a scheme-less URL
            return nil
        }
        // Domain: dotted labels; the last accepted label must be a TLD followed by no [a-z0-9@+-].
        var labelStart = i
        var labels = 0
        var domainEnd: Int? = nil
        while true {
            var j = labelStart
            while j < count {
                let (v, n) = UTF8Scan.decode(p, j, count)
                guard isLabelChar(v, unicode: hasScheme, bmp: bmp) else { break }
                j += n
            }
            if j == labelStart { break }
            labels += 1
            if labels >= 2 {
                let next: UInt32 = j < count ? UTF8Scan.decode(p, j, count).value : 0x20
                if next != 0x40 && next != 0x2B,
                   isTLD(UnsafeBufferPointer(start: p + labelStart, count: j - labelStart)) {
                    domainEnd = j
                }
            }
            guard j < count, p[j] == UInt8(ascii: ".") else { break }
            labelStart = j + 1
        }
        guard var end = domainEnd else { return nil }
        // Optional port.
        if end < count, p[end] == UInt8(ascii: ":") {
            var j = end + 1
            while j < count, p[j] >= 0x30, p[j] <= 0x39 { j += 1 }
            if j > end + 1 { end = j }
        }
        // Optional path.
        if end < count, p[end] == UInt8(ascii: "/") {
            var j = end + 1
            var good = j
            while j < count {
                let (v, n) = UTF8Scan.decode(p, j, count)
                if isPathChar(v) {
                    j += n
                    if isPathEndChar(v) { good = j }
                } else if v == 0x28, let close = balancedParens(p, count, j) {
                    j = close
                    good = j
                } else {
                    break
                }
            }
            end = good
        }
        // Optional query.
        if end < count, p[end] == UInt8(ascii: "?") {
            var j = end + 1
            var good: Int? = nil
            while j < count, p[j] < 0x80, isQueryChar(UInt32(p[j])) {
                if isQueryEndChar(UInt32(p[j])) { good = j + 1 }
                j += 1
            }
            if let g = good { end = g }
        }
        return end
    }

    /// `(` path chars, optionally one nested `( ... )`, `)`; returns the offset after the `)`.
    static func balancedParens(_ p: UnsafePointer<UInt8>, _ count: Int, _ open: Int) -> Int? {
        var j = open + 1
        var depth = 1
        var content = 0
        while j < count {
            let (v, n) = UTF8Scan.decode(p, j, count)
            if v == 0x28 {
                if depth == 2 { return nil }
                depth += 1
            } else if v == 0x29 {
                if content == 0 { return nil }
                depth -= 1
                if depth == 0 { return j + n }
            } else if isPathChar(v) {
                content += 1
            } else {
                return nil
            }
            j += n
        }
        return nil
    }

    @inline(__always)
    static func matchASCII(_ p: UnsafePointer<UInt8>, _ count: Int, _ i: Int, _ lit: StaticString) -> Bool {
        let n = lit.utf8CodeUnitCount
        guard i + n <= count else { return false }
        let l = lit.utf8Start
        for k in 0..<n where p[i + k] | 0x20 != l[k] | 0x20 { return false }
        return true
    }
}

/// Answers "is the `#` at byte offset h inside a URL?" for increasing h over one text, in amortized
/// linear time: it only looks at the whitespace-free run that contains h and resumes where it left off.
@usableFromInline
struct URLOverlapChecker {
    var scannedTo = 0
    var lastURLEnd = 0

    mutating func covers(_ h: Int, _ p: UnsafePointer<UInt8>, _ count: Int, bmp: UnsafePointer<UInt8>) -> Bool {
        if h < lastURLEnd { return true }
        // URLs never contain whitespace: start at the beginning of h's run, or where the last scan stopped.
        var s = h
        var sawDot = false
        while s > scannedTo {
            let b = p[s - 1]
            if b == 0x20 || (b >= 0x09 && b <= 0x0D) { break }
            if b == 0x2E { sawDot = true }
            s -= 1
        }
        // A URL covering h starts in [s, h) and its domain has a dot there; none, no URL (the common
        // case for CJK text, where tags follow "。" or an ideographic space rather than ASCII space).
        if !sawDot {
            scannedTo = h
            return false
        }
        // Land on a scalar boundary (scannedTo and post-whitespace offsets already are).
        while s < h, p[s] & 0xC0 == 0x80 { s += 1 }
        while s < h {
            if let end = URLSpans.match(p, count, at: s, bmp: bmp), end > s {
                lastURLEnd = end
                if end > h { scannedTo = end; return true }
                s = end
            } else {
                s += UTF8Scan.decode(p, s, count).length
            }
        }
        scannedTo = max(scannedTo, h)
        return false
    }
}
