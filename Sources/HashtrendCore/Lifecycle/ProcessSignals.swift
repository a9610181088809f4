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
}
