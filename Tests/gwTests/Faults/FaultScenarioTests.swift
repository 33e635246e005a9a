import GatewayTestSupport
import NIOCore
import Testing

@testable import gw

extension EndToEnd {
    /// The fault-injection scenarios of issue 5: load through a running gateway
    /// against fault upstreams; client-visible outcomes, what the upstreams saw,
    /// recovery time and the admin view.
    @Suite struct FaultScenarios {
        static let quickEjection = "outlier_detection: {consecutive_local_failures: 2, consecutive_5xx: 3, base_ejection_time: 400ms, max_ejection_percent: 50}"

        @Test func oneOfThreeHostsDownLosesNoRequestAndIsEjectedThenReadmitted() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Self.quickEjection)) { gw async throws in
                    await ups[1].set(.refuse)
                    let outcomes = await Faults.load(gw, count: 60)
                    #expect(Faults.causes(outcomes) == ["ok": 60])
                    #expect(ups[0].requests + ups[2].requests == 60, "each request reached a live host exactly once")
                    let b = try #require(try await Faults.targets(gw)[ups[1].port])
                    #expect(b["health"] as? String == "ejected")
                    #expect(b["ejections"] as? Int ?? 0 >= 1)
                    #expect((b["last_failure"] as? [String: Any])?["type"] as? String == "connect_failed")

                    await ups[1].set(.healthy)
                    let recovery = try await Faults.eventually { try await Faults.health(gw, ups[1]) == "healthy" }
                    #expect(recovery != nil && recovery! < .seconds(2), "readmitted after \(String(describing: recovery))")
                    _ = await Faults.load(gw, count: 12)
                    #expect(ups[1].requests > 0)
                }
            }
        }

        @Test func allHostsDownGives503NoHealthyUpstreamAtOnceAndRecoversWithinACheckInterval() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Faults.fastChecks)) { gw async throws in
                    for up in ups { await up.set(.status(503)) }
                    for up in ups { #expect(try await Faults.eventually { try await Faults.health(gw, up) == "unhealthy" } != nil) }
                    let before = ups.map(\.requests).reduce(0, +)
                    let outcomes = await Faults.load(gw, count: 30)
                    #expect(Faults.causes(outcomes) == ["no_healthy_upstream": 30])
                    let response = try await gw.send(.GET, "/x")
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.header("retry-after") == "1")
                    #expect(response.errorType == "no_healthy_upstream")
                    #expect(ups.map(\.requests).reduce(0, +) == before, "nothing was sent to an unhealthy host")

                    await ups[2].set(.healthy)
                    let recovery = try await Faults.eventually { try await gw.send(.GET, "/x").status == .ok }
                    #expect(recovery != nil && recovery! < .seconds(1), "served again after \(String(describing: recovery))")
                }
            }
        }

        @Test func panicModeSendsToUnhealthyHostsWhenAllAreDown() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Faults.fastChecks + "\npanic_mode: true")) { gw async throws in
                    for up in ups { await up.set(.status(500)) }
                    for up in ups { #expect(try await Faults.eventually { try await Faults.health(gw, up) == "unhealthy" } != nil) }
                    let outcomes = await Faults.load(gw, count: 10)
                    #expect(Faults.causes(outcomes) == ["upstream_500": 10], "the hosts' own answers, not no_healthy_upstream")
                }
            }
        }

        @Test func aHangingHostCostsOnePerTryTimeoutAndIsEjected() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                // A budget for as many retries as requests in flight (the default, 3, is exercised below).
                let upstream = Self.quickEjection + "\ncircuit_breakers: {retry_budget: {min_concurrency: 8}}"
                let yaml = Faults.yaml(ups, upstream: upstream, route: "retries: {per_try_timeout: 200ms}")
                try await withGateway(yaml: yaml) { gw async throws in
                    await ups[0].set(.hang)
                    let outcomes = await Faults.load(gw, count: 40)
                    #expect(Faults.causes(outcomes) == ["ok": 40])
                    #expect(Set(outcomes.compactMap(\.upstream)) == ["b", "c"])
                    #expect(ups[1].requests + ups[2].requests == 40, "retries only for the tries that hung")
                    #expect(ups[0].requests <= 10, "ejected after two timeouts (plus what was already in flight)")
                    #expect(try await Faults.health(gw, ups[0]) == "ejected")
                }
            }
        }

        @Test func aResetMidBodyIsNeverRetriedOnceTheResponseStarted() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Self.quickEjection)) { gw async throws in
                    await ups[0].set(.resetMidBody)
                    let outcomes = await Faults.load(gw, count: 30, concurrency: 4)
                    let failed = outcomes.filter { $0.cause != "ok" }
                    #expect(failed.count == ups[0].requests, "every try that reached the resetting host failed at the client")
                    #expect(failed.allSatisfy { $0.cause.hasPrefix("client_error") }, "\(Faults.causes(failed))")
                    #expect(ups[0].requests + ups[1].requests == 30, "no request was sent twice")
                    #expect(ups[0].requests <= 6)
                    #expect(try await Faults.health(gw, ups[0]) == "ejected")
                }
            }
        }

        @Test func aFlappingHostIsHiddenByRetriesAndHealthChecks() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Faults.fastChecks)) { gw async throws in
                    // Start from three checked, healthy targets: in a cold debug build the
                    // first probes can outlast the 100 ms check timeout.
                    try await Faults.waitUntilHealthy(gw, ups)
                    await ups[0].set(.flap(period: .milliseconds(150)))
                    var outcomes: [Faults.Outcome] = []
                    for round in 0..<6 {
                        // Three at a time: with more, every request in flight can be waiting to
                        // retry a 503 from `a` at once, past the retry budget's minimum of three
                        // concurrent retries (the budget has tests of its own).
                        outcomes += await Faults.load(gw, count: 10, concurrency: 3, prefix: "f\(round)")
                        try await Task.sleep(for: .milliseconds(60))
                    }
                    #expect(Faults.causes(outcomes) == ["ok": 60])
                    let answered = ups[1].ids + ups[2].ids
                    #expect(Set(answered).count == answered.count, "b and c each saw a request at most once")
                }
            }
        }

        @Test func theRetryBudgetBoundsRetriesWhenEveryHostFails() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                let yaml = Faults.yaml(
                    ups, upstream: "outlier_detection: off\ncircuit_breakers: {retry_budget: {percent: 0, min_concurrency: 1}}")
                try await withGateway(yaml: yaml) { gw async throws in
                    for up in ups { await up.set(.slowStatus(503, .milliseconds(100))) }
                    let outcomes = await Faults.load(gw, count: 48, concurrency: 16)
                    #expect(Faults.causes(outcomes) == ["upstream_503": 48], "the last host's answer")
                    let attempts = ups.map(\.requests).reduce(0, +)
                    #expect(attempts >= 48 && attempts <= 48 + 16, "\(attempts) tries for 48 requests (unbounded: 144)")
                }
            }
        }

        @Test func circuitBreakerOverflowAnswers503CircuitOpenAtOnce() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                let yaml = Faults.yaml(ups, upstream: "circuit_breakers: {max_requests: 4}")
                try await withGateway(yaml: yaml) { gw async throws in
                    await ups[0].set(.slow(.milliseconds(500)))
                    let outcomes = await Faults.load(gw, count: 16, concurrency: 16)
                    let causes = Faults.causes(outcomes)
                    #expect(causes["ok", default: 0] >= 4 && causes["ok", default: 0] <= 8, "\(causes)")
                    #expect(causes["circuit_open", default: 0] == 16 - causes["ok", default: 0])
                    #expect(ups[0].requests == causes["ok", default: 0], "refused requests never reached the upstream")
                    let refused = outcomes.first { $0.cause == "circuit_open" }
                    #expect(refused?.status == 503)
                    #expect(refused?.body.contains("\"circuit_open\"") == true)
                }
            }
        }

        @Test func maxConnectionsRefusesNewConnectionsBeyondTheLimit() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: "circuit_breakers: {max_connections: 2}")) { gw async throws in
                    await ups[0].set(.slow(.milliseconds(300)))
                    let outcomes = await Faults.load(gw, count: 8, concurrency: 8)
                    #expect(Faults.causes(outcomes)["circuit_open", default: 0] >= 5)
                    #expect(ups[0].connections <= 2)
                }
            }
        }

        /// Idle keep-alive connections count toward `max_connections` but carry nothing,
        /// and a loop reuses only its own pool's: an idle one on the other loop used to
        /// refuse every request of this loop (503 circuit_open, with nothing in flight)
        /// until the upstream closed it. Now it is closed to make room.
        @Test func anIdleConnectionOnAnotherLoopDoesNotRefuseUnderMaxConnections() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: "circuit_breakers: {max_connections: 1}"), eventLoops: 2) { gw async throws in
                    // Each request on a new client connection: accepted connections go to the loops in turn.
                    for i in 0..<8 {
                        let response = try await gw.send(.GET, "/r\(i)")
                        #expect(response.status == .ok, "\(i): \(response.status) \(response.header("x-gw-error") ?? "")")
                    }
                    let admin = try await gw.admin(.GET, "/admin/upstreams")
                    #expect(admin.status == .ok)
                }
            }
        }

        @Test func aReloadDuringFaultsKeepsServingAndKeepsHealthState() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                // A refused connection fails a check at once; the 1 s timeout keeps a check
                // of a healthy host that waits out a CPU-bound reload (debug build, two
                // cores shared with the clients and the upstreams) from failing: what is
                // tested is that reloads keep health state, not how fast a starved probe is.
                let checks = "health_check: {path: /health, interval: 50ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2}"
                let yaml = Faults.yaml(ups, upstream: checks)
                try await withGateway(yaml: yaml) { gw async throws in
                    await ups[1].set(.refuse)
                    #expect(try await Faults.eventually { try await Faults.health(gw, ups[1]) == "unhealthy" } != nil)
                    async let load = Faults.load(gw, count: 120, concurrency: 6)
                    for i in 0..<5 {
                        try gw.rewriteConfig(yaml.replacingOccurrences(of: "name: all", with: "name: all\(i)"))
                        let reload = try await gw.admin(.POST, "/admin/reload")
                        #expect(reload.status == .ok)
                        #expect(try await Faults.health(gw, ups[1]) == "unhealthy")
                        try await Task.sleep(for: .milliseconds(30))
                    }
                    let outcomes = await load
                    #expect(Faults.causes(outcomes) == ["ok": 120])
                    #expect(ups[1].requests == 0)
                }
            }
        }

        @Test func aReusedConnectionTheUpstreamClosedIsRetriedOnAFreshOneEvenForPost() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                await ups[0].set(.closeReusedConnections)
                try await withGateway(yaml: Faults.yaml(ups), eventLoops: 1) { gw async throws in
                    for i in 0..<5 {
                        let response = try await gw.send(.POST, "/orders", headers: [("x-test-id", "p\(i)")], body: .string("{\"n\":\(i)}"))
                        #expect(response.status == .ok, "\(i): \(response.text)")
                    }
                    #expect(ups[0].ids == ["p0"] + (1..<5).flatMap { ["p\($0)", "p\($0)"] }, "each later POST: closed unprocessed, then sent once more")
                    #expect(try await Faults.health(gw, ups[0]) == "healthy", "the keep-alive race is not the host's fault")
                }
            }
        }
    }
}
