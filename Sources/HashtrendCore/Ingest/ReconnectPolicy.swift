import Foundation

/// What ended a connection attempt, as far as backing off is concerned.
public enum StreamFailure: Sendable, Equatable, CustomStringConvertible {
    /// TCP/TLS errors, resets, stalls, a body the server ended, an operational disconnect.
    case network
    /// A retryable HTTP error status (5xx and the like).
    case http(status: Int)
    /// 429 (or v1.1's 420), including TooManyConnections.
    case rateLimited

    public var description: String {
        switch self {
        case .network: return "network"
        case .http(let s): return "HTTP \(s)"
        case .rateLimited: return "rate limited"
        }
    }
}

/// X's published reconnect guidance as a pure function of (failure, headers, now), so it can be
/// tested without a network:
/// - network errors: linear, +250 ms per consecutive failure, at most 16 s; the first reconnect
///   after a healthy connection is immediate ("reconnect immediately, then back off");
/// - HTTP errors: exponential from 5 s, doubling, at most 320 s;
/// - 429: exponential from 60 s, doubling, at most 15 min (one rate-limit window), and never before
///   `x-rate-limit-reset` (epoch seconds) when that is later.
/// A connection that stayed up `healthyAfter` seconds and delivered data resets all counters.
/// `timeScale` shrinks every computed delay (not the absolute reset time) so tests run in seconds.
public struct ReconnectPolicy: Sendable, Equatable {
    public var networkStep: Double = 0.25
    public var networkMax: Double = 16
    public var httpInitial: Double = 5
    public var httpMax: Double = 320
    public var rateLimitInitial: Double = 60
    public var rateLimitMax: Double = 900
    public var healthyAfter: Double = 30
    public var timeScale: Double = 1

    public private(set) var networkFailures = 0
    public private(set) var httpFailures = 0
    public private(set) var rateLimitFailures = 0

    public init(timeScale: Double = 1) { self.timeScale = timeScale }

    /// Forgets past failures (a healthy connection).
    public mutating func reset() {
        networkFailures = 0
        httpFailures = 0
        rateLimitFailures = 0
    }

    /// The delay before the next attempt, in seconds.
    /// - Parameters:
    ///   - failure: what ended the attempt.
    ///   - connectedFor: seconds the connection was up with a 2xx response (0 if it never was).
    ///   - receivedData: whether it delivered at least one line (keep-alives do not count).
    ///   - headers: response headers, names lower-cased (`x-rate-limit-reset`).
    ///   - now: wall-clock seconds since the epoch (to compare with `x-rate-limit-reset`).
    public mutating func nextDelay(after failure: StreamFailure, connectedFor: Double = 0, receivedData: Bool = false,
                                   headers: [String: String] = [:], now: Double) -> Double {
        let wasHealthy = connectedFor >= healthyAfter * timeScale && receivedData
        if wasHealthy { reset() }
        switch failure {
        case .network:
            if wasHealthy { return 0 }
            networkFailures += 1
            return min(networkStep * Double(networkFailures), networkMax) * timeScale
        case .http:
            httpFailures += 1
            return min(httpInitial * pow(2, Double(min(httpFailures - 1, 30))), httpMax) * timeScale
        case .rateLimited:
            rateLimitFailures += 1
            let backoff = min(rateLimitInitial * pow(2, Double(min(rateLimitFailures - 1, 30))), rateLimitMax) * timeScale
            if let text = headers["x-rate-limit-reset"], let reset = Double(text.trimmingCharacters(in: .whitespaces)),
               reset - now > backoff {
                return reset - now
            }
            return backoff
        }
    }
}
