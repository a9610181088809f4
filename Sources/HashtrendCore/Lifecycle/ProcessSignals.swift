import Dispatch
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

    /// Routes `signals` to `handler` (on a global queue) instead of their default action. Keep the
    /// returned sources alive for as long as the handling should last.
    public static func handle(_ signals: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
        // A queue of its own (overcommit: always gets a thread). On `.global()` the handler could wait
        // forever behind a caller that blocks a worker of that pool until the signal arrives, as
        // `hashtrend broker` does.
        let queue = DispatchQueue(label: "hashtrend.signals")
        return signals.map { sig in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { handler(sig) }
            s.resume()
            return s
        }
    }
}
