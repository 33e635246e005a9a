import GatewayTestSupport
import NIOCore
import Testing

@testable import gw

extension EndToEnd {
    /// Retries of bodies, fallback upstreams and responses, priority groups, slow start.
    @Suite struct Failover {
        @Test func aPutBodyIsReplayedToTheNextHostAfterA503() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: "balance: round_robin")) { gw async throws in
                    await ups[0].set(.status(503))
                    for i in 0..<4 {
                        let response = try await gw.send(.PUT, "/doc", headers: [("x-test-id", "u\(i)")], body: .string("document \(i)"))
                        #expect(response.status == .ok)
                        #expect(response.header("x-upstream") == "b")
                    }
                    #expect(ups[1].requests == 4)
                }
            }
        }

        @Test func aPostIsNotRetriedAfterA503UnlessTheRouteSaysSo() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                await ups[0].set(.status(503))
                try await withGateway(yaml: Faults.yaml(ups)) { gw async throws in
                    let outcomes = await Faults.load(gw, count: 10, concurrency: 1, method: .POST, body: .string("x"))
                    #expect(Faults.causes(outcomes) == ["ok": 5, "upstream_503": 5])
                }
                try await withGateway(yaml: Faults.yaml(ups, route: "retry_non_idempotent: true")) { gw async throws in
                    let outcomes = await Faults.load(gw, count: 10, concurrency: 1, method: .POST, body: .string("x"))
                    #expect(Faults.causes(outcomes) == ["ok": 10])
                }
            }
        }

        /// The fallback upstream follows the retry rules: a POST the failed upstream may
        /// have acted on, or a body no longer held whole, is not sent there.
        @Test func theFallbackUpstreamGetsOnlyWhatARetryWouldResend() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                let backup = """
                      backup:
                        targets: ["127.0.0.1:\(ups[1].port)"]
                    """
                await ups[0].set(.hang)
                let route = "fallback_upstream: backup\nretries: {per_try_timeout: 200ms, buffer_bytes: 1KiB}"
                try await withGateway(yaml: Faults.yaml(Array(ups[0..<1]), route: route, extraUpstreams: backup)) { gw async throws in
                    let get = try await gw.send(.GET, "/read")
                    #expect(get.status == .ok && get.header("x-upstream") == "b", "a GET falls back")
                    let post = try await gw.send(.POST, "/orders", headers: [("x-test-id", "p1")], body: .string("{}"))
                    #expect(post.status == .gatewayTimeout, "\(post.status) \(post.text)")
                    #expect(!ups[1].ids.contains("p1"), "the POST the hung upstream holds was not sent to the fallback too")
                    let big = try await gw.send(.PUT, "/doc", headers: [("x-test-id", "u1")], body: .pattern(length: 200_000))
                    #expect(big.status == .gatewayTimeout, "\(big.status) \(big.text)")
                    #expect(!ups[1].ids.contains("u1"), "a body past the replay buffer would reach the fallback truncated")
                    let small = try await gw.send(.PUT, "/doc", headers: [("x-test-id", "u2")], body: .string("small"))
                    #expect(small.status == .ok && ups[1].ids.contains("u2"))
                }
            }
        }

        @Test func aBodyLargerThanTheReplayBufferIsNotRetried() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                await ups[0].set(.status(503))
                let yaml = Faults.yaml(ups, route: "retries: {buffer_bytes: 1KiB}")
                try await withGateway(yaml: yaml) { gw async throws in
                    let outcomes = await Faults.load(gw, count: 4, concurrency: 1, method: .PUT, body: .pattern(length: 200_000))
                    #expect(Faults.causes(outcomes) == ["ok": 2, "upstream_503": 2])
                    let small = await Faults.load(gw, count: 4, concurrency: 1, method: .PUT, body: .string("small"))
                    #expect(Faults.causes(small) == ["ok": 4])
                }
            }
        }

        @Test func aFallbackUpstreamServesWhenThePrimaryHasNoHealthyHost() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                let backup = """
                      backup:
                        targets: ["127.0.0.1:\(ups[2].port)"]
                    """
                let yaml = Faults.yaml(Array(ups[0..<2]), upstream: Faults.fastChecks, route: "fallback_upstream: backup", extraUpstreams: backup)
                try await withGateway(yaml: yaml) { gw async throws in
                    #expect(Set(await Faults.load(gw, count: 6).compactMap(\.upstream)) == ["a", "b"])
                    await ups[0].set(.status(503))
                    await ups[1].set(.refuse)
                    for up in ups[0..<2] { #expect(try await Faults.eventually { try await Faults.health(gw, up) == "unhealthy" } != nil) }
                    let outcomes = await Faults.load(gw, count: 10)
                    #expect(Faults.causes(outcomes) == ["ok": 10])
                    #expect(outcomes.allSatisfy { $0.upstream == "c" })
                }
            }
        }

        @Test func aFallbackResponseAnswersWhenEveryTryFailed() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                let route = "fallback_response: {status: 200, body: \"{\\\"degraded\\\":true}\", content_type: application/json}"
                try await withGateway(yaml: Faults.yaml(ups, route: route)) { gw async throws in
                    for up in ups { await up.set(.status(502)) }
                    let response = try await gw.send(.GET, "/x")
                    #expect(response.status == .ok)
                    #expect(response.text == "{\"degraded\":true}")
                    #expect(response.header("x-gw-error") == "upstream_502")
                    #expect(ups.map(\.requests) == [1, 1], "both hosts were tried first")
                }
            }
        }

        @Test func lowerPriorityHostsServeOnlyWhileTheHigherOnesAreDown() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Faults.fastChecks, priorities: [0, 0, 1])) { gw async throws in
                    #expect(Set(await Faults.load(gw, count: 10).compactMap(\.upstream)) == ["a", "b"])
                    for up in ups[0..<2] { await up.set(.status(500)) }
                    for up in ups[0..<2] { #expect(try await Faults.eventually { try await Faults.health(gw, up) == "unhealthy" } != nil) }
                    #expect(Set(await Faults.load(gw, count: 10).compactMap(\.upstream)) == ["c"])
                    await ups[0].set(.healthy)
                    #expect(try await Faults.eventually { try await Faults.health(gw, ups[0]) == "healthy" } != nil)
                    #expect(Set(await Faults.load(gw, count: 10).compactMap(\.upstream)) == ["a"])
                }
            }
        }

        @Test func aRecoveredHostGetsAGrowingShareDuringSlowStart() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                let yaml = Faults.yaml(ups, upstream: Faults.fastChecks + "\nslow_start: 3s")
                try await withGateway(yaml: yaml) { gw async throws in
                    await ups[1].set(.status(500))
                    #expect(try await Faults.eventually { try await Faults.health(gw, ups[1]) == "unhealthy" } != nil)
                    await ups[1].set(.healthy)
                    #expect(try await Faults.eventually { try await Faults.health(gw, ups[1]) == "healthy" } != nil)
                    #expect(try await Faults.targets(gw)[ups[1].port]?["slow_start"] as? Bool == true)
                    let early = await Faults.load(gw, count: 60)
                    let share = Double(early.filter { $0.upstream == "b" }.count) / 60
                    #expect(share < 0.35, "b took \(share) of the traffic right after recovering")
                }
            }
        }
    }
}
