import Dispatch
import Foundation

/// Posts per second over the last few seconds (thread-safe: sources count from their own threads).
final class RateMeter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var since = DispatchTime.now()
    private var last: Double = 0
    func add(_ n: Int) { lock.withLock { count += n } }
    func perSecond() -> Double {
        lock.lock(); defer { lock.unlock() }
        let now = DispatchTime.now()
        let dt = Double(now.uptimeNanoseconds - since.uptimeNanoseconds) / 1e9
        if dt >= 1 {
            last = Double(count) / dt
            count = 0
            since = now
        }
        return last
    }
}
