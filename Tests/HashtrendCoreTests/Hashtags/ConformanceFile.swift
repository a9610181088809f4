import Foundation

/// One case of twitter-text's hashtag conformance suite.
struct ConformanceCase: Sendable, CustomStringConvertible {
    var section: String
    var descriptionText: String
    var text: String
    /// Expected hashtags, in order.
    var hashtags: [String]
    /// Expected code point indices, for the `hashtags_with_indices` section only.
    var indices: [[Int]]?

    var description: String { "\(section): \(descriptionText)" }
}

/// Reads `extract-hashtags.yml`: a small reader for exactly that file's YAML subset (a `tests:` map of
/// sections, each a list of `description`/`text`/`expected`; `expected` is a flow list of double-quoted
/// strings or a block list of `hashtag`/`indices` maps), with YAML's double-quoted escapes.
enum ConformanceFile {
    struct FormatError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "extract-hashtags.yml line \(line): \(message)" }
    }

    static var sharedDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["HASHTREND_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        // <package root>/Tests/HashtrendCoreTests/Hashtags/<this file>
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared")
    }

    static var path: URL {
        sharedDirectory.appendingPathComponent("data/twitter-text/extract-hashtags.yml")
    }

    static func load() throws -> [ConformanceCase] {
        try parse(String(contentsOf: path, encoding: .utf8))
    }

    static func parse(_ source: String) throws -> [ConformanceCase] {
        var cases: [ConformanceCase] = []
        var section: String?
        var current: ConformanceCase?
        var pendingHashtag: String?

        func finish() {
            if let c = current { cases.append(c) }
            current = nil
        }

        for (number, rawLine) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = number + 1
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            func fail(_ m: String) -> FormatError { FormatError(line: lineNo, message: m) }

            if indent == 0 {
                guard trimmed == "tests:" else { throw fail("unexpected top-level key \(trimmed)") }
            } else if indent == 2 {
                guard trimmed.hasSuffix(":") else { throw fail("expected a section name") }
                finish()
                section = String(trimmed.dropLast())
            } else if trimmed.hasPrefix("- description:") {
                finish()
                guard let section else { throw fail("case outside a section") }
                let value = try scalarValue(after: "- description:", in: trimmed, line: lineNo)
                current = ConformanceCase(section: section, descriptionText: value, text: "", hashtags: [])
            } else if trimmed.hasPrefix("text:") {
                guard current != nil else { throw fail("text outside a case") }
                current!.text = try scalarValue(after: "text:", in: trimmed, line: lineNo)
            } else if trimmed.hasPrefix("expected:") {
                guard current != nil else { throw fail("expected outside a case") }
                let rest = trimmed.dropFirst("expected:".count).trimmingCharacters(in: .whitespaces)
                if rest.isEmpty {
                    current!.indices = [] // block list of {hashtag, indices} follows
                } else {
                    current!.hashtags = try flowStrings(rest, line: lineNo)
                }
            } else if trimmed.hasPrefix("- hashtag:") {
                guard current?.indices != nil else { throw fail("hashtag entry outside an expected block") }
                pendingHashtag = try scalarValue(after: "- hashtag:", in: trimmed, line: lineNo)
            } else if trimmed.hasPrefix("indices:") {
                guard let tag = pendingHashtag, current?.indices != nil else { throw fail("indices without hashtag") }
                let rest = trimmed.dropFirst("indices:".count).trimmingCharacters(in: .whitespaces)
                guard rest.hasPrefix("["), rest.hasSuffix("]") else { throw fail("indices must be a flow list") }
                let numbers = rest.dropFirst().dropLast().split(separator: ",").map {
                    Int($0.trimmingCharacters(in: .whitespaces))
                }
                guard numbers.count == 2, let a = numbers[0], let b = numbers[1] else { throw fail("bad indices") }
                current!.hashtags.append(tag)
                current!.indices!.append([a, b])
                pendingHashtag = nil
            } else {
                throw fail("unrecognised line: \(trimmed)")
            }
        }
        finish()
        return cases
    }

    static func scalarValue(after key: String, in trimmed: String, line: Int) throws -> String {
        let rest = Substring(trimmed.dropFirst(key.count).trimmingCharacters(in: .whitespaces))
        var index = rest.startIndex
        let value = try quoted(rest, &index, line: line)
        guard rest[index...].trimmingCharacters(in: .whitespaces).isEmpty else {
            throw FormatError(line: line, message: "trailing text after string")
        }
        return value
    }

    /// `["a", "b"]` or `[]`.
    static func flowStrings(_ s: String, line: Int) throws -> [String] {
        let text = Substring(s)
        var i = text.startIndex
        func skipSpaces() { while i < text.endIndex, text[i] == " " { i = text.index(after: i) } }
        guard text.first == "[" else { throw FormatError(line: line, message: "expected a flow list") }
        i = text.index(after: i)
        var out: [String] = []
        skipSpaces()
        if i < text.endIndex, text[i] == "]" { return out }
        while true {
            skipSpaces()
            out.append(try quoted(text, &i, line: line))
            skipSpaces()
            guard i < text.endIndex else { throw FormatError(line: line, message: "unterminated list") }
            if text[i] == "]" { break }
            guard text[i] == "," else { throw FormatError(line: line, message: "expected , in list") }
            i = text.index(after: i)
        }
        return out
    }

    /// A YAML double-quoted scalar starting at `i`; leaves `i` after the closing quote.
    static func quoted(_ s: Substring, _ i: inout Substring.Index, line: Int) throws -> String {
        let scalars = s.unicodeScalars
        var k = i
        guard k < scalars.endIndex, scalars[k] == "\"" else {
            throw FormatError(line: line, message: "expected a double-quoted string")
        }
        k = scalars.index(after: k)
        var out = String.UnicodeScalarView()
        func hex(_ digits: Int) throws -> Unicode.Scalar {
            var v: UInt32 = 0
            for _ in 0..<digits {
                k = scalars.index(after: k)
                guard k < scalars.endIndex, let d = UInt32(String(scalars[k]), radix: 16) else { throw FormatError(line: line, message: "bad hex escape") }
                v = v * 16 + d
            }
            guard let u = Unicode.Scalar(v) else { throw FormatError(line: line, message: "bad scalar \(v)") }
            return u
        }
        while true {
            guard k < scalars.endIndex else { throw FormatError(line: line, message: "unterminated string") }
            let c = scalars[k]
            if c == "\"" { break }
            if c == "\\" {
                k = scalars.index(after: k)
                guard k < scalars.endIndex else { throw FormatError(line: line, message: "dangling escape") }
                switch scalars[k] {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "0": out.append("\0")
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "/": out.append("/")
                case " ": out.append(" ")
                case "x": out.append(try hex(2))
                case "u": out.append(try hex(4))
                case "U": out.append(try hex(8))
                default: throw FormatError(line: line, message: "unsupported escape \\\(scalars[k])")
                }
            } else {
                out.append(c)
            }
            k = scalars.index(after: k)
        }
        i = scalars.index(after: k)
        return String(out)
    }
}
