import NIOCore
import NIOHTTP1

/// What went wrong with one try of a request.
enum TryFailure: Sendable, Equatable {
    /// Nothing was sent.
    case connectFailure
    /// The connection closed or reset before a response head; `protocolError` when
    /// the upstream sent something that is not HTTP.
    case reset(protocolError: Bool)
    /// No response head within the per-try timeout.
    case timeout
    /// A response head with a status the route retries.
    case status(Int)
    /// A circuit breaker refused the request.
    case overflow

    /// The `x-gw-error` value gw answers with when it gives up on this failure.
    var errorType: String {
        switch self {
        case .connectFailure: "no_healthy_upstream"
        case .reset(let protocolError): protocolError ? "upstream_protocol_error" : "upstream_reset"
        case .timeout: "upstream_timeout"
        case .status(let status): "upstream_\(status)"
        case .overflow: "circuit_open"
        }
    }
}

/// The pure retry rules (unit-tested); the exchange adds the budget, the choice of
/// host and the backoff timer.
enum RetryRules {
    enum Verdict: Sendable, Equatable {
        case giveUp
        /// Another target, after a backoff.
        case retryOtherHost
        /// The same target on a new connection, at once: a reused keep-alive
        /// connection failed before the upstream answered anything.
        case retryOnFreshConnection
    }

    /// RFC 9110 §9.2.2.
    static func isIdempotent(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: true
        default: false
        }
    }

    struct Context: Sendable {
        var method: HTTPMethod
        var retryNonIdempotent = false
        /// Retries (to another host) already made.
        var retriesDone = 0
        /// The failed try ran on a keep-alive connection that had carried an earlier exchange.
        var reusedConnection = false
        var freshConnectionRetryDone = false
        /// Every body byte sent so far is still held for a replay.
        var replayable = true
    }

    static func decide(_ failure: TryFailure, _ policy: GatewayConfig.Retries, _ c: Context) -> Verdict {
        switch failure {
        case .overflow:
            return .giveUp
        case .connectFailure:
            // Nothing was sent: any method may go elsewhere. Bounded by the number of targets.
            return policy.onConnectFailure ? .retryOtherHost : .giveUp
        case .reset(let protocolError):
            if !protocolError && c.reusedConnection && !c.freshConnectionRetryDone && c.replayable {
                return .retryOnFreshConnection
            }
            guard policy.onReset else { return .giveUp }
        case .timeout:
            guard policy.onTimeout else { return .giveUp }
        case .status(let status):
            guard policy.statuses.contains(status) else { return .giveUp }
        }
        guard c.retriesDone < policy.attempts, c.replayable, isIdempotent(c.method) || c.retryNonIdempotent else { return .giveUp }
        return .retryOtherHost
    }

    /// Full-jitter exponential backoff: a random delay in [0, min(max, base × 2^(retry-1))).
    static func backoff(retry: Int, base: TimeAmount, max: TimeAmount, random: UInt64) -> TimeAmount {
        let shift = Swift.min(Swift.max(0, retry - 1), 20)
        let ceiling = Swift.min(max.nanoseconds, base.nanoseconds << Int64(shift))
        guard ceiling > 0 else { return .zero }
        return .nanoseconds(Int64(random % UInt64(ceiling)))
    }

    /// Concurrent retries an upstream allows: the budget share of the requests in
    /// flight (at least `minRetryConcurrency`), capped by `max_retries` when set.
    static func allowedConcurrentRetries(inFlight: Int, _ breakers: GatewayConfig.CircuitBreakers) -> Int {
        var allowed = Swift.max(breakers.minRetryConcurrency, inFlight * breakers.budgetPercent / 100)
        if breakers.maxRetries > 0 { allowed = Swift.min(allowed, breakers.maxRetries) }
        return allowed
    }
}
