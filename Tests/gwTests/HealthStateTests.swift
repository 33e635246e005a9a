import NIOCore
import NIOPosix
import Testing

@testable import gw

/// The pure parts of health handling: check thresholds, ejection rules, slow
/// start, and picks that skip unavailable targets.
@Suite struct HealthStateTests {
    static func targets(_ priorities: [Int]) -> [GatewayConfig.Target] {
        priorities.enumerated().map { GatewayConfig.Target(host: "10.0.0.\($0.offset + 1)", port: 80, weight: 1, priority: $0.element) }
    }

    static func balancer(
        _ priorities: [Int], policy: GatewayConfig.Balance = .roundRobin, settings: GatewayConfig.UpstreamReliability = .init(),
        panic: Bool = false
    ) -> LoadBalancer {
        let targets = Self.targets(priorities)
        let health = UpstreamHealth(name: "t", targets: targets, fingerprint: "", settings: settings, loop: MultiThreadedEventLoopGroup.singleton.next())
        return LoadBalancer(targets: targets, policy: policy, health: health, panicMode: panic)
    }

    static func counts(_ balancer: LoadBalancer, picks: Int) -> [Int] {
        var counts = Array(repeating: 0, count: balancer.targets.count)
        for _ in 0..<picks {
            if let i = balancer.pick(hashKey: nil) { counts[i] += 1 }
        }
        return counts
    }

    @Test func aHealthyTargetTurnsUnhealthyAfterTheUnhealthyThresholdOfFailuresInARow() {
        var counter = HealthCounter(healthy: true)
        #expect(counter.record(passed: false, healthyThreshold: 2, unhealthyThreshold: 3) == nil)
        #expect(counter.record(passed: false, healthyThreshold: 2, unhealthyThreshold: 3) == nil)
        #expect(counter.record(passed: true, healthyThreshold: 2, unhealthyThreshold: 3) == nil, "a pass resets the run")
        #expect(counter.record(passed: false, healthyThreshold: 2, unhealthyThreshold: 3) == nil)
        #expect(counter.record(passed: false, healthyThreshold: 2, unhealthyThreshold: 3) == nil)
        #expect(counter.record(passed: false, healthyThreshold: 2, unhealthyThreshold: 3) == false)
        #expect(counter.record(passed: true, healthyThreshold: 2, unhealthyThreshold: 3) == nil)
        #expect(counter.record(passed: true, healthyThreshold: 2, unhealthyThreshold: 3) == true)
    }

    @Test func aTargetThatStartsUnhealthyNeedsOnlyOnePassingCheck() {
        var counter = HealthCounter(healthy: false)
        #expect(counter.record(passed: true, healthyThreshold: 3, unhealthyThreshold: 3) == true)
        var failing = HealthCounter(healthy: false)
        #expect(failing.record(passed: false, healthyThreshold: 3, unhealthyThreshold: 3) == nil)
        #expect(failing.record(passed: true, healthyThreshold: 3, unhealthyThreshold: 3) == nil, "after the first result the threshold applies")
    }

    @Test func ejectionTimeGrowsWithEachEjectionUpToTheCap() {
        let base = TimeAmount.seconds(30)
        #expect(OutlierPolicy.ejectionTime(ejections: 1, base: base, max: .seconds(300)) == .seconds(30))
        #expect(OutlierPolicy.ejectionTime(ejections: 3, base: base, max: .seconds(300)) == .seconds(90))
        #expect(OutlierPolicy.ejectionTime(ejections: 50, base: base, max: .seconds(300)) == .seconds(300))
        #expect(OutlierPolicy.nextEjectionCount(previous: 2, sinceLastEjectionEnded: .seconds(10), max: .seconds(300)) == 3)
        #expect(OutlierPolicy.nextEjectionCount(previous: 2, sinceLastEjectionEnded: .seconds(400), max: .seconds(300)) == 1)
        #expect(OutlierPolicy.nextEjectionCount(previous: 0, sinceLastEjectionEnded: nil, max: .seconds(300)) == 1)
    }

    @Test func maxEjectionPercentAlwaysAllowsOneAndNeverTheOnlyTarget() {
        #expect(OutlierPolicy.mayEject(ejectedNow: 0, total: 1, percent: 100) == false)
        #expect(OutlierPolicy.mayEject(ejectedNow: 0, total: 3, percent: 10) == true)
        #expect(OutlierPolicy.mayEject(ejectedNow: 1, total: 3, percent: 10) == false)
        #expect(OutlierPolicy.mayEject(ejectedNow: 1, total: 3, percent: 67) == true)
        #expect(OutlierPolicy.mayEject(ejectedNow: 2, total: 3, percent: 67) == false)
    }

    @Test func slowStartShareRampsFromTenPercentToAll() {
        #expect(OutlierPolicy.slowStartShare(elapsed: .zero, window: .seconds(10)) == 100)
        #expect(OutlierPolicy.slowStartShare(elapsed: .seconds(5), window: .seconds(10)) == 500)
        #expect(OutlierPolicy.slowStartShare(elapsed: .seconds(10), window: .seconds(10)) == 1000)
        #expect(OutlierPolicy.slowStartShare(elapsed: .seconds(1), window: .zero) == 1000)
    }

    @Test(arguments: [GatewayConfig.Balance.roundRobin, .weighted, .leastRequest, .consistentHash])
    func picksSkipAnUnhealthyTarget(_ policy: GatewayConfig.Balance) {
        let balancer = Self.balancer([0, 0, 0], policy: policy)
        balancer.health.setActiveHealthy(1, false)
        var counts = [0, 0, 0]
        for i in 0..<300 {
            if let index = balancer.pick(hashKey: "user-\(i)") { counts[index] += 1 }
        }
        #expect(counts[1] == 0)
        #expect(counts[0] + counts[2] == 300)
        if policy == .roundRobin || policy == .weighted { #expect(counts == [150, 0, 150]) }
        balancer.health.setActiveHealthy(1, true)
        #expect(balancer.health.isPristine)
    }

    @Test func noAvailableTargetGivesNoPickUnlessPanicModeIsOn() {
        let strict = Self.balancer([0, 0])
        strict.health.setActiveHealthy(0, false)
        strict.health.setActiveHealthy(1, false)
        #expect(strict.pick(hashKey: nil) == nil)
        let panicking = Self.balancer([0, 0], panic: true)
        panicking.health.setActiveHealthy(0, false)
        panicking.health.setActiveHealthy(1, false)
        #expect(Self.counts(panicking, picks: 10) == [5, 5])
    }

    @Test func lowerPriorityTargetsServeOnlyWhenEveryHigherOneIsUnavailable() {
        let balancer = Self.balancer([0, 0, 1])
        #expect(Self.counts(balancer, picks: 10) == [5, 5, 0])
        balancer.health.setActiveHealthy(0, false)
        #expect(Self.counts(balancer, picks: 10) == [0, 10, 0])
        balancer.health.setActiveHealthy(1, false)
        #expect(Self.counts(balancer, picks: 10) == [0, 0, 10])
        balancer.health.setActiveHealthy(0, true)
        #expect(Self.counts(balancer, picks: 10) == [10, 0, 0])
        // A retry that already tried the only priority-0 target falls back to priority 1.
        #expect(balancer.pick(hashKey: nil, excluding: [0]) == 2)
    }

    @Test func consecutiveFailuresEjectATargetWithinTheEjectionCap() {
        var settings = GatewayConfig.UpstreamReliability()
        settings.outlier.consecutiveLocalFailures = 3
        settings.outlier.consecutive5xx = 2
        settings.outlier.maxEjectionPercent = 67
        let balancer = Self.balancer([0, 0, 0], settings: settings)
        let health = balancer.health
        health.failed(0, kind: .local, cause: "upstream_reset")
        health.failed(0, kind: .local, cause: "upstream_reset")
        health.succeeded(0)
        health.failed(0, kind: .local, cause: "upstream_reset")
        health.failed(0, kind: .local, cause: "upstream_reset")
        #expect(health.targets[0].isAvailable, "a success broke the run")
        health.failed(0, kind: .local, cause: "upstream_reset")
        #expect(health.report(0).state == "ejected")
        #expect(health.report(0).ejections == 1)
        #expect(health.report(0).lastFailure?.type == "upstream_reset")
        health.failed(1, kind: .serverError, cause: "http_5xx")
        health.failed(1, kind: .serverError, cause: "http_5xx")
        #expect(health.report(1).state == "ejected")
        health.failed(2, kind: .serverError, cause: "http_5xx")
        health.failed(2, kind: .serverError, cause: "http_5xx")
        #expect(health.report(2).state == "healthy", "67% of three targets: at most two ejected")
        #expect(Self.counts(balancer, picks: 4) == [0, 0, 4])
    }

    @Test func aTargetBroughtBackUpByItsChecksIsNoLongerEjected() {
        var settings = GatewayConfig.UpstreamReliability()
        settings.outlier.consecutiveLocalFailures = 1
        let balancer = Self.balancer([0, 0], settings: settings)
        let health = balancer.health
        health.failed(0, kind: .local, cause: "connect_failed")
        #expect(health.report(0).state == "ejected")
        health.setActiveHealthy(0, true)
        #expect(health.report(0).state == "ejected", "a passing check alone does not end an ejection")
        health.setActiveHealthy(0, false)
        health.setActiveHealthy(0, true)
        #expect(health.report(0).state == "healthy")
        #expect(health.isPristine)
    }

    @Test func targetSetHoldsIndexesBeyondSixtyFour() {
        var set = TargetSet([1, 70])
        set.insert(1)
        set.insert(3)
        #expect(set.count == 3)
        #expect(set.contains(70) && set.contains(3) && !set.contains(2) && !set.contains(64))
    }
}
