import Foundation

/// A credential. It prints as `<redacted>` everywhere (logs, errors, dumps), so it cannot leak by
/// interpolation; only `reveal()` gives the value, to the code that sends it.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String
    public init(_ value: String) { self.value = value }
    public func reveal() -> String { value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

public enum SecretError: Error, CustomStringConvertible, Equatable {
    case notFound(name: String, tried: [String])
    case unreadable(path: String, reason: String)
    case empty(path: String)

    public var description: String {
        switch self {
        case .notFound(let name, let tried):
            return "secret '\(name)' not found (looked in: \(tried.joined(separator: ", ")))"
        case .unreadable(let path, let reason): return "cannot read secret file \(path): \(reason)"
        case .empty(let path): return "secret file \(path) is empty"
        }
    }
}

/// Secrets come from files only, never argv: an explicit `--…-file` path, else
/// `$CREDENTIALS_DIRECTORY/<name>` (systemd `LoadCredential=`), else `/run/secrets/<name>` (compose).
public enum SecretStore {
    public static func load(name: String, file: String?,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Secret {
        var candidates: [String] = []
        if let file, !file.isEmpty { candidates = [file] } else {
            if let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty { candidates.append(dir + "/" + name) }
            candidates.append("/run/secrets/" + name)
        }
        for path in candidates {
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw SecretError.unreadable(path: path, reason: (error as NSError).localizedDescription)
            }
            // One trailing newline is how editors and `echo` save a token; it is not part of it.
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            guard !text.isEmpty else { throw SecretError.empty(path: path) }
            return Secret(text)
        }
        throw SecretError.notFound(name: name, tried: candidates)
    }
}
