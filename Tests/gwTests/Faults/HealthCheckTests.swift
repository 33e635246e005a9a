import GatewayTestSupport
import NIOCore
import Testing

@testable import gw

extension EndToEnd {
    /// Active health checks against fault upstreams, through a running gateway.
    @Suite struct HealthChecks {
        @Test func anUnhealthyTargetIsTakenOutOfRotationAndReturnsWhenItRecovers() async throws {
            try await Faults.withUpstreams(3) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Faults.fastChecks)) { gw async throws in
                    await ups[1].set(.status(503))
                    let down = try await Faults.eventually { try await Faults.health(gw, ups[1]) == "unhealthy" }
                    #expect(down != nil, "marked unhealthy")
                    let before = ups[1].requests
                    let outcomes = await Faults.load(gw, count: 30)
                    #expect(Faults.causes(outcomes) == ["ok": 30])
                    #expect(ups[1].requests == before, "no request reached the unhealthy target")
                    let target = try #require(try await Faults.targets(gw)[ups[1].port])
                    #expect((target["last_failure"] as? [String: Any])?["type"] as? String == "health_check")

                    await ups[1].set(.healthy)
                    let recovery = try await Faults.eventually { try await Faults.health(gw, ups[1]) == "healthy" }
                    #expect(recovery != nil && recovery! < .seconds(1), "recovered in \(String(describing: recovery))")
                    _ = await Faults.load(gw, count: 9)
                    #expect(ups[1].requests > before)
                }
            }
        }

        @Test func targetsThatStartUnhealthyServeAfterTheirFirstPassingCheck() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                await ups[1].set(.refuse)
                let checks = "health_check: {type: tcp, interval: 50ms, timeout: 100ms, initial: unhealthy}"
                try await withGateway(yaml: Faults.yaml(ups, upstream: checks)) { gw async throws in
                    let up = try await Faults.eventually { try await Faults.health(gw, ups[0]) == "healthy" }
                    #expect(up != nil)
                    #expect(try await Faults.health(gw, ups[1]) == "unhealthy")
                    let outcomes = await Faults.load(gw, count: 10)
                    #expect(outcomes.allSatisfy { $0.upstream == "a" })
                }
            }
        }

        @Test func healthStateAndChecksSurviveAReloadThatKeepsTheTargets() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                let yaml = Faults.yaml(ups, upstream: Faults.fastChecks)
                try await withGateway(yaml: yaml) { gw async throws in
                    await ups[1].set(.status(500))
                    #expect(try await Faults.eventually { try await Faults.health(gw, ups[1]) == "unhealthy" } != nil)
                    let health = try #require(gw.gateway.currentState().upstreams["pool"]?.health)
                    try gw.rewriteConfig(yaml.replacingOccurrences(of: "name: all", with: "name: renamed"))
                    #expect(try gw.gateway.reload() == 2)
                    #expect(gw.gateway.currentState().upstreams["pool"]?.health === health)
                    #expect(try await Faults.health(gw, ups[1]) == "unhealthy", "not reset by the reload")
                    let checks = ups[1].healthChecks
                    #expect(try await Faults.eventually { ups[1].healthChecks >= checks + 2 } != nil, "checks keep running")

                    // A changed check restarts cleanly: the old checker stops probing /health.
                    try gw.rewriteConfig(yaml.replacingOccurrences(of: "path: /health", with: "path: /other"))
                    #expect(try gw.gateway.reload() == 3)
                    try await Task.sleep(for: .milliseconds(150))
                    let after = ups[0].healthChecks
                    try await Task.sleep(for: .milliseconds(200))
                    #expect(ups[0].healthChecks == after, "no /health probe after the restart")
                    #expect(ups[0].requests > 0, "the new checker probes /other")
                }
            }
        }

        @Test func aCheckThatTimesOutMarksAHangingTargetUnhealthy() async throws {
            try await Faults.withUpstreams(2) { ups async throws in
                try await withGateway(yaml: Faults.yaml(ups, upstream: Faults.fastChecks)) { gw async throws in
                    await ups[0].set(.hang)
                    #expect(try await Faults.eventually { try await Faults.health(gw, ups[0]) == "unhealthy" } != nil)
                    let outcomes = await Faults.load(gw, count: 10)
                    #expect(outcomes.allSatisfy { $0.upstream == "b" })
                }
            }
        }
    }
}
