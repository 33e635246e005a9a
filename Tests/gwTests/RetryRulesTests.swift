import NIOCore
import NIOHTTP1
import Testing

@testable import gw

/// When a failed try is retried, and how long to wait.
@Suite struct RetryRulesTests {
    static let policy = GatewayConfig.Retries()

    @Test func aConnectFailureGoesToAnotherHostForAnyMethod() {
        #expect(RetryRules.decide(.connectFailure, Self.policy, .init(method: .POST)) == .retryOtherHost)
        #expect(RetryRules.decide(.connectFailure, Self.policy, .init(method: .GET, retriesDone: 9)) == .retryOtherHost)
    }

    @Test func aResetOrTimeoutOrGatewayErrorIsRetriedOnlyForIdempotentMethods() {
        for failure in [TryFailure.reset(protocolError: false), .timeout, .status(502), .status(503), .status(504)] {
            #expect(RetryRules.decide(failure, Self.policy, .init(method: .GET)) == .retryOtherHost, "\(failure)")
            #expect(RetryRules.decide(failure, Self.policy, .init(method: .PUT)) == .retryOtherHost, "\(failure)")
            #expect(RetryRules.decide(failure, Self.policy, .init(method: .POST)) == .giveUp, "\(failure)")
            #expect(RetryRules.decide(failure, Self.policy, .init(method: .PATCH, retryNonIdempotent: true)) == .retryOtherHost)
        }
        #expect(RetryRules.decide(.status(500), Self.policy, .init(method: .GET)) == .giveUp, "500 is not retried by default")
    }

    @Test func retriesStopAtTheAttemptLimitAndWhenTheBodyIsNoLongerHeld() {
        #expect(RetryRules.decide(.status(503), Self.policy, .init(method: .GET, retriesDone: 1)) == .retryOtherHost)
        #expect(RetryRules.decide(.status(503), Self.policy, .init(method: .GET, retriesDone: 2)) == .giveUp)
        #expect(RetryRules.decide(.timeout, Self.policy, .init(method: .PUT, replayable: false)) == .giveUp)
        var off = Self.policy
        off.attempts = 0
        #expect(RetryRules.decide(.status(503), off, .init(method: .GET)) == .giveUp)
    }

    @Test func aResetOnAReusedConnectionIsRetriedOnceOnAFreshOneEvenForPost() {
        let reused = RetryRules.Context(method: .POST, reusedConnection: true)
        #expect(RetryRules.decide(.reset(protocolError: false), Self.policy, reused) == .retryOnFreshConnection)
        var again = reused
        again.freshConnectionRetryDone = true
        #expect(RetryRules.decide(.reset(protocolError: false), Self.policy, again) == .giveUp)
        #expect(RetryRules.decide(.reset(protocolError: true), Self.policy, reused) == .giveUp, "garbage is an answer")
        var unreplayable = reused
        unreplayable.replayable = false
        #expect(RetryRules.decide(.reset(protocolError: false), Self.policy, unreplayable) == .giveUp)
    }

    @Test func backoffIsFullJitterUnderAnExponentialCeiling() {
        let base = TimeAmount.milliseconds(25)
        let max = TimeAmount.milliseconds(250)
        for retry in 1...6 {
            let ceiling = min(max.nanoseconds, base.nanoseconds << Int64(retry - 1))
            for random: UInt64 in [0, 1, 12345, UInt64.max] {
                let delay = RetryRules.backoff(retry: retry, base: base, max: max, random: random)
                #expect(delay.nanoseconds >= 0 && delay.nanoseconds < ceiling)
            }
        }
        #expect(RetryRules.backoff(retry: 1, base: .zero, max: max, random: 7) == .zero)
    }

    @Test func theRetryBudgetIsAShareOfTheRequestsInFlightWithAMinimum() {
        var breakers = GatewayConfig.CircuitBreakers()
        #expect(RetryRules.allowedConcurrentRetries(inFlight: 0, breakers) == 3)
        #expect(RetryRules.allowedConcurrentRetries(inFlight: 100, breakers) == 20)
        breakers.maxRetries = 5
        #expect(RetryRules.allowedConcurrentRetries(inFlight: 100, breakers) == 5)
    }

    @Test func theReplayBufferKeepsBodiesUpToItsLimit() {
        var attempt = AttemptState()
        attempt.remember(ByteBuffer(string: "hello "), limit: 16)
        attempt.remember(ByteBuffer(string: "world"), limit: 16)
        #expect(attempt.replayParts.count == 2)
        #expect(!attempt.replayLost)
        attempt.remember(ByteBuffer(string: "and more!"), limit: 16)
        #expect(attempt.replayLost)
        #expect(attempt.replayParts.isEmpty)
    }

    @Test func reliabilityKeysAreReadFromTheConfig() throws {
        let config = try ConfigLoader.parse(
            """
            upstreams:
              api:
                targets: [{address: "127.0.0.1:1", priority: 0}, {address: "127.0.0.1:2", priority: 1}]
                health_check: {type: http, path: /ready, interval: 2s, timeout: 500ms, jitter: 100ms, healthy_threshold: 1, unhealthy_threshold: 4, expected_statuses: 200-204, initial: unhealthy}
                outlier_detection: {consecutive_5xx: 3, consecutive_local_failures: 2, base_ejection_time: 10s, max_ejection_time: 60s, max_ejection_percent: 50}
                circuit_breakers: {max_connections: 10, max_pending: 5, max_requests: 20, max_retries: 2, retry_budget: {percent: 25, min_concurrency: 1}}
                panic_mode: true
                slow_start: 30s
              backup:
                targets: ["127.0.0.1:3"]
            routes:
              - name: r
                upstream: api
                retries: {attempts: 1, on: [reset, 503], per_try_timeout: 1s, backoff: {base: 10ms, max: 100ms}, buffer_bytes: 8KiB}
                retry_non_idempotent: true
                fallback_upstream: backup
                fallback_response: {status: 503, body: "try later", content_type: text/plain}
            """, file: "t.yaml")
        let api = try #require(config.upstreams["api"])
        #expect(api.targets.map(\.priority) == [0, 1])
        let r = api.reliability
        let check = try #require(r.healthCheck)
        #expect(check.kind == .http(path: "/ready") && check.interval == .seconds(2) && check.timeout == .milliseconds(500))
        #expect(check.expectedStatuses == 200...204 && !check.initiallyHealthy && check.healthyThreshold == 1 && check.unhealthyThreshold == 4)
        #expect(r.outlier.consecutive5xx == 3 && r.outlier.maxEjectionPercent == 50 && r.outlier.baseEjectionTime == .seconds(10))
        #expect(r.breakers == GatewayConfig.CircuitBreakers(
            maxConnections: 10, maxPending: 5, maxRequests: 20, maxRetries: 2, budgetPercent: 25, minRetryConcurrency: 1))
        #expect(r.panicMode && r.slowStart == .seconds(30))
        let route = try #require(config.routes.first).reliability
        #expect(route.retries.attempts == 1 && route.retries.statuses == [503] && route.retries.onReset && !route.retries.onConnectFailure)
        #expect(route.retries.perTryTimeout == .seconds(1) && route.retries.bufferBytes == 8192)
        #expect(route.retryNonIdempotent && route.fallbackUpstream == "backup" && route.fallbackResponse?.body == "try later")
    }

    @Test func badReliabilityKeysAreReportedWithTheirPaths() {
        do {
            _ = try ConfigLoader.parse(
                """
                upstreams:
                  api:
                    targets: ["127.0.0.1:1"]
                    health_check: {type: udp, expected_statuses: 99-700}
                routes:
                  - name: r
                    upstream: api
                    retries: {on: [teapot]}
                    fallback_upstream: nowhere
                """, file: "t.yaml")
            Issue.record("expected the config to be refused")
        } catch {
            let paths = Set(error.issues.map(\.keyPath))
            #expect(paths.contains("upstreams.api.health_check.type"))
            #expect(paths.contains("upstreams.api.health_check.expected_statuses"))
            #expect(paths.contains("routes[0].retries.on[0]"))
            #expect(paths.contains("routes.r.fallback_upstream"))
        }
    }
}
