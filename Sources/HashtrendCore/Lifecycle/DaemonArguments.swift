import Foundation

/// Command-line parsing for the daemons, driven by the same `SettingSpec`s that drive the environment
/// and env-file lookups, so `--help`, `docs/configuration.md` and the env files cannot drift apart.
public struct DaemonArguments: Sendable {
    public var values: [String: [String]] = [:]
    public var helpRequested = false
    public var markdownRequested = false
    public var versionRequested = false
    public var positional: [String] = []

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ args: [String], specs: [SettingSpec]) throws {
        let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            switch a {
            case "-h", "--help": helpRequested = true; continue
            case "--help-markdown": markdownRequested = true; continue
            case "--version": versionRequested = true; continue
            default: break
            }
            guard a.hasPrefix("--") else { positional.append(a); continue }
            var name = String(a.dropFirst(2))
            var value: String? = nil
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard byName[name] != nil else {
                throw ParseError(description: "unknown option '--\(name)' (see --help)")
            }
            if value == nil {
                guard i < args.count else { throw ParseError(description: "option '--\(name)' needs a value") }
                value = args[i]
                i += 1
            }
            values[name, default: []].append(value!)
        }
    }

    /// `--help`: every flag with its variable and default.
    public static func help(daemon: String, summary: String, specs: [SettingSpec]) -> String {
        var out = "\(daemon): \(summary)\n\nUSAGE: \(daemon) [options]\n\n"
        out += "Each option can also be set by its environment variable, or in the env file named by --config\n"
        out += "(flags win over the environment, which wins over the file). librdkafka properties pass through as\n"
        out += "--kafka key=value or KAFKA_<PROPERTY> (dots written as underscores). Durations: 500ms, 20s, 5m, 1h.\n\nOPTIONS:\n"
        for s in specs {
            let dflt = s.defaultValue.map { $0.isEmpty ? " (default: none)" : " (default: \($0))" } ?? ""
            out += "  \(s.flag) <value>\(s.isList ? " (repeatable)" : "")\n      \(s.help)\(dflt)\n      env: \(s.variable)\n"
        }
        out += "  -h, --help\n      Show this help.\n  --version\n      Print the version.\n"
        return out
    }

    /// The reference table for docs/configuration.md.
    public static func markdown(daemon: String, summary: String, specs: [SettingSpec]) -> String {
        var out = "## \(daemon)\n\n\(summary)\n\n| flag | variable | default | meaning |\n|---|---|---|---|\n"
        for s in specs {
            let d = s.defaultValue.map { $0.isEmpty ? "(none)" : "`\($0)`" } ?? "(required)"
            out += "| `\(s.flag)`\(s.isList ? " (repeatable)" : "") | `\(s.variable)` | \(d) | \(s.help.replacingOccurrences(of: "|", with: "\\|")) |\n"
        }
        return out
    }
}

public enum HashtrendVersion {
    public static let string = "0.1.0"
}
