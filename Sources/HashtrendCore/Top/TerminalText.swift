/// Text for a terminal: display widths (CJK and emoji take two columns), truncation to a width, and
/// ANSI styles applied after layout so colour never changes where things line up.
public enum TerminalText {
    /// Columns a string occupies on a terminal.
    public static func width(_ s: String) -> Int {
        var n = 0
        for c in s { n += width(c) }
        return n
    }

    public static func width(_ c: Character) -> Int {
        let scalars = c.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if first.value < 0x80 { return first.value < 0x20 || first.value == 0x7F ? 0 : 1 }
        var visible = false
        for u in scalars {
            if u.value == 0xFE0F || u.properties.isEmojiPresentation || isWide(u.value) { return 2 }
            switch u.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .format, .control: continue
            default: visible = true
            }
        }
        return visible ? 1 : 0
    }

    /// East Asian Wide and Fullwidth blocks (UAX #11), coarse but covering what hashtags use.
    static func isWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19,
             0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF,
             0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }

    /// Replaces control characters (ESC included) so text from the topic can never drive the terminal.
    public static func sanitized(_ s: String) -> String {
        var needs = false
        for u in s.unicodeScalars where u.properties.generalCategory == .control { needs = true; break }
        guard needs else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            out.append(u.properties.generalCategory == .control ? "\u{FFFD}" : u)
        }
        return String(out)
    }

    /// At most `columns` columns; a cut string ends in `…`.
    public static func truncate(_ s: String, to columns: Int) -> String {
        guard columns > 0 else { return "" }
        if width(s) <= columns { return s }
        var out = ""
        var used = 0
        for c in s {
            let w = width(c)
            if used + w > columns - 1 { break }
            out.append(c)
            used += w
        }
        return out + "…"
    }

    /// Pads with spaces to `columns` (left-aligned, or right-aligned).
    public static func pad(_ s: String, to columns: Int, right: Bool = false) -> String {
        let w = width(s)
        guard w < columns else { return s }
        let fill = String(repeating: " ", count: columns - w)
        return right ? fill + s : s + fill
    }
}

/// SGR styles the table uses.
public enum TextStyle: Sendable, Equatable {
    case bold, dim, reverse, green, red, yellow, cyan, magenta, boldGreen, boldRed, boldYellow, boldCyan, boldMagenta

    var sgr: String {
        switch self {
        case .bold: return "1"
        case .dim: return "2"
        case .reverse: return "7"
        case .green: return "32"
        case .red: return "31"
        case .yellow: return "33"
        case .cyan: return "36"
        case .magenta: return "35"
        case .boldGreen: return "1;32"
        case .boldRed: return "1;31"
        case .boldYellow: return "1;33"
        case .boldCyan: return "1;36"
        case .boldMagenta: return "1;35"
        }
    }
}

/// One output line as styled pieces; truncation works on the visible text only.
public struct StyledLine: Sendable, Equatable {
    public var pieces: [(text: String, style: TextStyle?)] = []

    public init() {}

    public static func == (a: StyledLine, b: StyledLine) -> Bool {
        a.pieces.count == b.pieces.count && zip(a.pieces, b.pieces).allSatisfy { $0.text == $1.text && $0.style == $1.style }
    }

    public mutating func add(_ text: String, _ style: TextStyle? = nil) {
        pieces.append((text, style))
    }

    public var width: Int { pieces.reduce(0) { $0 + TerminalText.width($1.text) } }
    public var plain: String { pieces.map(\.text).joined() }

    /// The line cut to `columns`, ending in `…` (in the style of the piece that was cut).
    public func truncated(to columns: Int) -> StyledLine {
        guard width > columns else { return self }
        var out = StyledLine()
        guard columns > 0 else { return out }
        var used = 0
        for p in pieces {
            var kept = ""
            for c in p.text {
                let w = TerminalText.width(c)
                if used + w > columns - 1 {
                    out.add(kept + "…", p.style)
                    return out
                }
                kept.append(c)
                used += w
            }
            out.add(kept, p.style)
        }
        return out
    }

    /// Text with SGR sequences, or plain with trailing spaces trimmed.
    public func rendered(color: Bool) -> String {
        if !color {
            var s = plain
            while s.last == " " { s.removeLast() }
            return s
        }
        var s = ""
        var last = pieces.count
        while last > 0, pieces[last - 1].style == nil, pieces[last - 1].text.allSatisfy({ $0 == " " }) { last -= 1 }
        for p in pieces[..<last] {
            if let st = p.style, !p.text.isEmpty {
                s += "\u{1B}[\(st.sgr)m" + p.text + "\u{1B}[0m"
            } else {
                s += p.text
            }
        }
        return s
    }
}
