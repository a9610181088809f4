import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum ProcessSignals {
    /// A child inherits its parent's signal mask; some parents (test runners, some shells' job
    /// control) start children with SIGTERM/SIGINT blocked, which would make a clean stop impossible.
    public static func unblockTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Routes `signals` to `handler` (on a thread of its own) instead of their default action, for the
    /// rest of the process's life; keep the returned routes (they are tokens).
    ///
    /// Not Dispatch's signal sources: they read a signalfd, which sees a signal only while every thread
    /// blocks it, and under an async `main` the main thread waits in `sigsuspend` with nothing blocked,
    /// takes the signal and drops it (`hashtrend broker` ignored SIGTERM that way). A plain handler runs
    /// in whichever thread the signal lands on and writes its number to a pipe.
    public static func handle(_ signals: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) -> [SignalRoute] {
        let id = SignalPipe.shared.add(signals, handler)
        return signals.map { SignalRoute(signal: $0, id: id) }
    }
}

/// One signal routed by `ProcessSignals.handle`.
public struct SignalRoute: Sendable {
    public let signal: Int32
    let id: Int
    /// Stops calling this route's handler (the signal stays caught, so it is then ignored).
    public func cancel() { SignalPipe.shared.remove(id) }
}

/// The write end of the signal pipe, read by the handler (async-signal-safe: a load and a write).
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1

private func forwardSignal(_ sig: Int32) {
    let saved = errno
    var b = UInt8(truncatingIfNeeded: sig)
    _ = write(signalPipeWriteFD, &b, 1)
    errno = saved
}

private final class SignalPipe: @unchecked Sendable {
    static let shared = SignalPipe()
    private let lock = NSLock()
    private var handlers: [Int32: [(id: Int, run: @Sendable (Int32) -> Void)]] = [:]
    private var nextID = 0

    private init() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("signal pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // A full pipe drops a signal rather than block a handler.
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        signalPipeWriteFD = fds[1]
        let readFD = fds[0]
        let thread = Thread { [self] in
            var b: UInt8 = 0
            while true {
                let n = read(readFD, &b, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                let sig = Int32(b)
                for h in lock.withLock({ handlers[sig] ?? [] }) { h.run(sig) }
            }
        }
        thread.name = "signals"
        thread.start()
    }

    func add(_ signals: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) -> Int {
        let id = lock.withLock { () -> Int in
            nextID += 1
            for s in signals { handlers[s, default: []].append((nextID, handler)) }
            return nextID
        }
        defer { installHandlers(signals) }
        return id
    }

    func remove(_ id: Int) {
        lock.withLock { for s in handlers.keys { handlers[s]?.removeAll { $0.id == id } } }
    }

    private func installHandlers(_ signals: [Int32]) {
        for s in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = forwardSignal
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(s, &action, nil)
        }
    }
}
