import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol (a datagram to `$NOTIFY_SOCKET`), spoken directly so the socket is explicit
/// and testable. Without `NOTIFY_SOCKET` (not under systemd) every call is a no-op.
public final class Notifier: @unchecked Sendable {
    public let socketPath: String?
    /// Watchdog interval systemd asked for (`WATCHDOG_USEC`, only when `WATCHDOG_PID` is absent or ours).
    public let watchdogInterval: HTDuration?
    private let fd: Int32
    private let lock = NSLock()
    private var lastStatus = ""

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        fd = path == nil ? -1 : socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true {
            watchdogInterval = HTDuration(millis: max(usec / 1000, 1))
        } else {
            watchdogInterval = nil
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    public var isActive: Bool { fd >= 0 }

    /// Sends `READY=1` with a first status line.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) {
        let changed = lock.withLock { () -> Bool in
            defer { lastStatus = text }
            return lastStatus != text
        }
        if changed { send("STATUS=\(text)") }
    }
    public func watchdog() { send("WATCHDOG=1") }
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }

    /// Sends one notification; failures are ignored as sd_notify does (systemd may be gone).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard fd >= 0, let path = socketPath else { return false }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // '@' names an abstract socket: a leading NUL byte on the wire.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { ap in
            ap.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, len) }
            }
        }
        return sent == payload.count
    }
}
