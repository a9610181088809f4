import CSystemd
import Foundation
import Logging

/// journald's native protocol: one entry with structured fields. swift-log metadata keys become
/// upper-case field names (`partition` -> `PARTITION`), so `journalctl -o json` shows them as fields.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public let identifier: String
    public let label: String

    public init(label: String, identifier: String, level: Logger.Level) {
        self.label = label
        self.identifier = identifier
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// syslog priorities, as journald expects them.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// A journald field name: upper-case letters, digits and underscores, not starting with `_` or a
    /// digit (those are trusted or invalid), at most 64 bytes.
    public static func fieldName(_ key: String) -> String {
        var out = ""
        for u in key.uppercased().unicodeScalars {
            if (u >= "A" && u <= "Z") || (u >= "0" && u <= "9") || u == "_" { out.unicodeScalars.append(u) } else { out += "_" }
        }
        while out.hasPrefix("_") { out.removeFirst() }
        if out.isEmpty || out.first!.isNumber { out = "F_" + out }
        return String(out.prefix(64))
    }

    /// The fields of one entry, in the order sent.
    public static func fields(level: Logger.Level, message: String, identifier: String,
                              metadata: Logger.Metadata) -> [String] {
        var out = ["MESSAGE=\(message)", "PRIORITY=\(priority(level))", "SYSLOG_IDENTIFIER=\(identifier)",
                   "DAEMON=\(identifier)"]
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            let name = fieldName(k)
            if name == "MESSAGE" || name == "PRIORITY" || name == "SYSLOG_IDENTIFIER" || name == "DAEMON" { continue }
            out.append("\(name)=\(v)")
        }
        return out
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let m = event.metadata { merged.merge(m) { _, new in new } }
        let fields = Self.fields(level: event.level, message: "\(event.message)", identifier: identifier, metadata: merged)
        let cstrings = fields.map { strdup($0)! }
        defer { cstrings.forEach { free($0) } }
        var iov = cstrings.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        _ = iov.withUnsafeMutableBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
    }
}

/// Readable lines on a terminal or a pipe: `2026-11-25T13:25:52.123Z info  trendd: message key=value`.
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public let identifier: String
    private static let lock = NSLock()

    public init(identifier: String, level: Logger.Level) {
        self.identifier = identifier
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public static func format(timeMillis: Int64, level: Logger.Level, identifier: String, message: String,
                              metadata: Logger.Metadata) -> String {
        var line = "\(EventTime.format(millis: timeMillis)) \(level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))\(identifier): \(message)"
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            let s = "\(v)"
            line += s.contains(" ") || s.isEmpty ? " \(k)=\"\(s)\"" : " \(k)=\(s)"
        }
        return line
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let m = event.metadata { merged.merge(m) { _, new in new } }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let line = Self.format(timeMillis: now, level: event.level, identifier: identifier, message: "\(event.message)", metadata: merged) + "\n"
        Self.lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }
}

public enum LogSetup {
    /// True when stderr is the journal stream systemd gave us (`JOURNAL_STREAM` is `device:inode`).
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let js = environment["JOURNAL_STREAM"] else { return false }
        let parts = js.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    public static func parseLevel(_ s: String) -> Logger.Level? {
        switch s.lowercased() {
        case "warn": return .warning
        case "err": return .error
        default: return Logger.Level(rawValue: s.lowercased())
        }
    }

    private static let once = NSLock()
    nonisolated(unsafe) private static var done = false

    /// Installs the process-wide handler once: journald under systemd, text lines otherwise.
    public static func bootstrap(identifier: String, level: Logger.Level) {
        once.lock(); defer { once.unlock() }
        guard !done else { return }
        done = true
        let journal = stderrIsJournal()
        LoggingSystem.bootstrap { label in
            journal ? JournaldLogHandler(label: label, identifier: identifier, level: level) as any LogHandler
                    : TextLogHandler(identifier: identifier, level: level) as any LogHandler
        }
    }
}
