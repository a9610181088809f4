import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Proof of life from a daemon's own loop. The watchdog pings systemd only when the loop has beaten
/// since the last ping, so a hung loop gets restarted while a Kafka or HDFS outage (the loop still
/// turning, just waiting) does not.
public final class Heartbeat: Sendable {
    private let beats = Atomic<UInt64>(0)
    private let lastSeen = Atomic<UInt64>(0)
    private let frozen = Atomic<Bool>(false)

    public init() {}

    /// Called by the loop on every turn, including idle ones.
    @inline(__always)
    public func beat() {
        if frozen.load(ordering: .relaxed) { hang() }
        beats.add(1, ordering: .relaxed)
    }

    /// The watchdog drill (SIGUSR2, docs/operations.md): the next `beat()` never returns, as a hung loop
    /// would not, so an operator can check that systemd restarts a daemon whose loop stops.
    public func freeze() { frozen.store(true, ordering: .relaxed) }

    private func hang() -> Never {
        while true { sleep(3600) }
    }

    /// True when the loop beat since the previous call.
    public func aliveSinceLastCheck() -> Bool {
        let now = beats.load(ordering: .relaxed)
        let before = lastSeen.exchange(now, ordering: .relaxed)
        return now != before
    }
}
