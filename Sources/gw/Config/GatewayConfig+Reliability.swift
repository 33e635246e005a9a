import NIOCore

/// Configuration of what gw does when upstreams fail (issue 5): active health
/// checks, outlier ejection, circuit breakers, panic mode and slow start per
/// upstream; retries and failover per route. See docs/reliability.md.
extension GatewayConfig {
    struct HealthCheck: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            /// GET `path`; healthy when the status is in `expectedStatuses`.
            case http(path: String)
            /// A TCP connect that succeeds within the timeout.
            case tcp
        }

        var kind = Kind.http(path: "/health")
        var interval: TimeAmount = .seconds(5)
        var timeout: TimeAmount = .seconds(1)
        /// A random extra delay in [0, jitter) before each check (spreads checks out).
        var jitter: TimeAmount = .zero
        var healthyThreshold = 2
        var unhealthyThreshold = 3
        var expectedStatuses: ClosedRange<Int> = 200...399
        /// Whether targets start healthy. Unhealthy targets become healthy after one passing check.
        var initiallyHealthy = true
        /// Host header of HTTP checks (default: the target's host:port).
        var host: String?
    }

    struct OutlierDetection: Sendable, Equatable {
        var enabled = true
        /// Consecutive 5xx answers that eject a target (0 = never on 5xx).
        var consecutive5xx = 5
        /// Consecutive connect failures, resets and timeouts that eject a target (0 = never).
        var consecutiveLocalFailures = 5
        var baseEjectionTime: TimeAmount = .seconds(30)
        var maxEjectionTime: TimeAmount = .seconds(300)
        /// Share of the targets that may be ejected at once; one target may always be ejected.
        var maxEjectionPercent = 10
    }

    struct CircuitBreakers: Sendable, Equatable {
        /// 0 = unlimited (for each limit).
        var maxConnections = 0
        var maxPending = 0
        var maxRequests = 0
        var maxRetries = 0
        /// Concurrent retries allowed: max(minRetryConcurrency, budgetPercent% of the requests in flight).
        var budgetPercent = 20
        var minRetryConcurrency = 3

        var limitsRequests: Bool { maxRequests > 0 }
        var limitsConnections: Bool { maxConnections > 0 || maxPending > 0 }
    }

    struct UpstreamReliability: Sendable, Equatable {
        var healthCheck: HealthCheck?
        var outlier = OutlierDetection()
        var breakers = CircuitBreakers()
        /// When no target is available, send to all of them anyway (off: 503 no_healthy_upstream).
        var panicMode = false
        /// A target that comes back gets a share of traffic that grows over this window (0 = off).
        var slowStart: TimeAmount = .zero
    }

    struct Retries: Sendable, Equatable {
        /// Retries after the first try (0 = no retry).
        var attempts = 2
        var onConnectFailure = true
        var onReset = true
        var onTimeout = true
        var statuses: Set<Int> = [502, 503, 504]
        /// Time from the end of the request to the response head, per try (0 = the upstream's first_byte_timeout).
        var perTryTimeout: TimeAmount = .zero
        var backoffBase: TimeAmount = .milliseconds(25)
        var backoffMax: TimeAmount = .milliseconds(250)
        /// Request body bytes kept for a replay; a larger body is not retried once it started streaming.
        var bufferBytes = 64 * 1024
    }

    struct RouteReliability: Sendable {
        var retries = Retries()
        /// Retry POST, PATCH and other non-idempotent methods after the request was sent.
        var retryNonIdempotent = false
        /// Used when the route's upstream has no available target or every try failed.
        var fallbackUpstream: String?
        var fallbackResponse: DirectResponse?
    }
}
