import Foundation
import Logging

/// One setting of a daemon: flag `--name`, variable `HASHTREND_NAME`, a default and its meaning.
public struct SettingSpec: Sendable, Equatable {
    public let name: String
    public let defaultValue: String?
    public let help: String
    public let isList: Bool

    public init(_ name: String, default defaultValue: String? = nil, list: Bool = false, help: String) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
        self.isList = list
    }

    public var flag: String { "--" + name }
    public var variable: String { "HASHTREND_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }
}

/// Where a value came from, for messages that tell the operator which line to fix.
public enum ConfigOrigin: Sendable, Equatable, CustomStringConvertible {
    case flag, environment, file(String, line: Int), defaultValue
    public var description: String {
        switch self {
        case .flag: return "flag"
        case .environment: return "environment"
        case .file(let path, let line): return "\(path):\(line)"
        case .defaultValue: return "default"
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}

/// An env file as systemd's `EnvironmentFile=` and compose's `env_file:` read it: `KEY=VALUE` lines,
/// `#` comments, optional `export `, optional single or double quotes around the value.
public struct EnvFile: Sendable {
    public var values: [String: (value: String, line: Int)] = [:]
    public var problems: [String] = []
    public let path: String

    public init(path: String, contents: String) {
        self.path = path
        for (i, raw) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "=") else {
                problems.append("\(path):\(i + 1): expected KEY=VALUE, found '\(line)'")
                continue
            }
            let key = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                problems.append("\(path):\(i + 1): '\(key)' is not a variable name")
                continue
            }
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = (value, i + 1)
        }
    }

    public static func load(path: String) throws -> EnvFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(problems: ["--config \(path): cannot read the file"])
        }
        return EnvFile(path: path, contents: String(decoding: data, as: UTF8.self))
    }
}

/// Resolves settings by precedence (flags, then `HASHTREND_*` environment, then the env file, then
/// defaults) and collects every validation problem, so the operator sees them all at once.
public final class Configuration: @unchecked Sendable {
    public let daemon: String
    public let specs: [String: SettingSpec]
    private let flags: [String: [String]]
    private let environment: [String: String]
    private let file: EnvFile?
    public private(set) var problems: [String] = []

    /// - Parameters:
    ///   - flags: values given on the command line, by setting name (lists keep every occurrence).
    public init(daemon: String, specs: [SettingSpec], flags: [String: [String]],
                environment: [String: String] = ProcessInfo.processInfo.environment, configFile: String?) {
        self.daemon = daemon
        self.specs = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.flags = flags.filter { !$0.value.isEmpty }
        self.environment = environment
        let path = configFile ?? environment["HASHTREND_CONFIG"]
        if let path, !path.isEmpty {
            do {
                let f = try EnvFile.load(path: path)
                file = f
                problems += f.problems
                let known = Set(specs.map(\.variable)).union(["HASHTREND_CONFIG"])
                for key in f.values.keys.sorted() where key.hasPrefix("HASHTREND_") && !known.contains(key) {
                    problems.append("\(path):\(f.values[key]!.line): unknown setting \(key) for \(daemon)")
                }
            } catch let e as ConfigError {
                file = nil
                problems += e.problems
            } catch {
                file = nil
                problems.append("--config \(path): \(error)")
            }
        } else {
            file = nil
        }
    }

    /// The raw value and where it came from.
    public func lookup(_ name: String) -> (value: String, origin: ConfigOrigin)? {
        guard let spec = specs[name] else { preconditionFailure("setting '\(name)' is not declared") }
        if let v = flags[name]?.last { return (v, .flag) }
        if let v = environment[spec.variable] { return (v, .environment) }
        if let f = file, let v = f.values[spec.variable] { return (v.value, .file(f.path, line: v.line)) }
        if let d = spec.defaultValue { return (d, .defaultValue) }
        return nil
    }

    /// A list setting: repeated flags, or a comma-separated variable.
    public func list(_ name: String) -> [String] {
        if let v = flags[name], !v.isEmpty { return v }
        guard let (raw, _) = lookup(name) else { return [] }
        return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func string(_ name: String) -> String? { lookup(name)?.value }

    public func requireString(_ name: String) -> String {
        if let v = lookup(name)?.value, !v.isEmpty { return v }
        problem(name, "is required")
        return ""
    }

    public func duration(_ name: String, min: HTDuration? = nil) -> HTDuration {
        guard let (raw, origin) = lookup(name) else { problem(name, "is required"); return HTDuration(millis: 0) }
        do {
            let d = try HTDuration(parsing: raw)
            if let min, d < min { problem(name, "\(raw) (\(origin)) must be at least \(min)") }
            return d
        } catch {
            problem(name, "\(error) (\(origin))")
            return HTDuration(millis: 0)
        }
    }

    public func optionalDuration(_ name: String) -> HTDuration? {
        guard let (raw, origin) = lookup(name), !raw.isEmpty, raw != "off", raw != "0" else { return nil }
        do { return try HTDuration(parsing: raw) } catch {
            problem(name, "\(error) (\(origin))")
            return nil
        }
    }

    public func int(_ name: String, range: ClosedRange<Int> = Int.min...Int.max) -> Int {
        guard let (raw, origin) = lookup(name) else { problem(name, "is required"); return range.lowerBound }
        guard let v = Int(raw.replacingOccurrences(of: "_", with: "")) else {
            problem(name, "'\(raw)' (\(origin)) is not a whole number"); return range.lowerBound
        }
        guard range.contains(v) else {
            problem(name, "\(v) (\(origin)) must be between \(range.lowerBound) and \(range.upperBound)"); return range.lowerBound
        }
        return v
    }

    /// Byte sizes: `1048576`, `64KiB`, `512MiB`, `2GiB` (also KB/MB/GB as powers of 1000).
    public func byteSize(_ name: String) -> Int64 {
        guard let (raw, origin) = lookup(name) else { problem(name, "is required"); return 0 }
        guard let v = Self.parseByteSize(raw) else {
            problem(name, "'\(raw)' (\(origin)) is not a size (e.g. 512MiB)"); return 0
        }
        return v
    }

    public static func parseByteSize(_ raw: String) -> Int64? {
        let s = raw.trimmingCharacters(in: .whitespaces)
        let digits = s.prefix(while: { $0.isNumber })
        guard let n = Int64(digits) else { return nil }
        let units: [String: Int64] = ["": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
                                      "mb": 1_000_000, "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000]
        guard let f = units[s.dropFirst(digits.count).lowercased()] else { return nil }
        return n * f
    }

    public func bool(_ name: String) -> Bool {
        guard let (raw, origin) = lookup(name) else { return false }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off", "": return false
        default: problem(name, "'\(raw)' (\(origin)) is not a boolean (true/false)"); return false
        }
    }

    public func oneOf(_ name: String, _ allowed: [String]) -> String {
        let v = requireString(name)
        if !v.isEmpty && !allowed.contains(v) { problem(name, "'\(v)' must be one of \(allowed.joined(separator: ", "))") }
        return v
    }

    /// librdkafka properties: `--kafka k=v` flags over `KAFKA_*` environment over `KAFKA_*` file lines,
    /// with `bootstrap.servers` from `--brokers` / `HASHTREND_BROKERS` unless a property set it.
    public func kafka(flagAssignments: [String], brokersSetting: String = "brokers") -> KafkaConfig {
        var props: [String: String] = [:]
        if let f = file {
            for (k, v) in f.values { if let p = KafkaConfig.propertyName(forVariable: k) { props[p] = v.value } }
        }
        for (k, v) in environment { if let p = KafkaConfig.propertyName(forVariable: k) { props[p] = v } }
        for a in flagAssignments {
            guard let (k, v) = KafkaConfig.parseAssignment(a) else {
                problems.append("--kafka '\(a)': expected key=value (a librdkafka property)")
                continue
            }
            props[k] = v
        }
        if props["bootstrap.servers"] == nil || flags[brokersSetting] != nil, specs[brokersSetting] != nil {
            if let b = string(brokersSetting), !b.isEmpty { props["bootstrap.servers"] = b }
        }
        if props["bootstrap.servers"] == nil { problems.append("--brokers (\(specs[brokersSetting]?.variable ?? "HASHTREND_BROKERS")): no Kafka brokers configured") }
        return KafkaConfig(props)
    }

    public func problem(_ name: String, _ text: String) {
        let spec = specs[name]
        problems.append("\(spec?.flag ?? name) (\(spec?.variable ?? "")): \(text)")
    }

    /// Warnings for `HASHTREND_*` variables no setting of this daemon reads (a typo, most likely).
    public func unknownEnvironmentVariables(ignoring others: Set<String> = []) -> [String] {
        let known = Set(specs.values.map(\.variable)).union(["HASHTREND_CONFIG"]).union(others)
        return environment.keys.filter { $0.hasPrefix("HASHTREND_") && !known.contains($0) }.sorted()
    }

    /// Throws every collected problem at once.
    public func validate() throws {
        if !problems.isEmpty { throw ConfigError(problems: problems) }
    }
}
