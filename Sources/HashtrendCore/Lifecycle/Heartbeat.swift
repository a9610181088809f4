import Synchronization

/// Proof of life from a daemon's own loop. The watchdog pings systemd only when the loop has beaten
/// since the last ping, so a hung loop gets restarted while a Kafka or HDFS outage (the loop still
/// turning, just waiting) does not.
public final class Heartbeat: Sendable {
    private let beats = Atomic<UInt64>(0)
    private let lastSeen = Atomic<UInt64>(0)

    public init() {}

    /// Called by the loop on every turn, including idle ones.
    @inline(__always)
    public func beat() { beats.add(1, ordering: .relaxed) }

    /// True when the loop beat since the previous call.
    public func aliveSinceLastCheck() -> Bool {
        let now = beats.load(ordering: .relaxed)
        let before = lastSeen.exchange(now, ordering: .relaxed)
        return now != before
    }
}
