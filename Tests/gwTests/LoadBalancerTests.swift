import Testing

@testable import gw

@Suite struct LoadBalancerTests {
    static func targets(_ weights: [Int]) -> [GatewayConfig.Target] {
        weights.enumerated().map { GatewayConfig.Target(host: "10.0.0.\($0.offset + 1)", port: 80, weight: $0.element) }
    }

    static func counts(_ balancer: LoadBalancer, picks: Int, key: (Int) -> String? = { _ in nil }) -> [Int] {
        var counts = Array(repeating: 0, count: balancer.targets.count)
        for i in 0..<picks {
            if let index = balancer.pick(hashKey: key(i)) { counts[index] += 1 }
        }
        return counts
    }

    @Test func roundRobinSpreadsRequestsEvenly() {
        let balancer = LoadBalancer(targets: Self.targets([1, 1, 1]), policy: .roundRobin)
        let first = (0..<3).compactMap { _ in balancer.pick(hashKey: nil) }
        #expect(Set(first) == [0, 1, 2], "three picks visit every target once")
        #expect(Self.counts(balancer, picks: 300) == [100, 100, 100])
    }

    @Test func weightedFiveOneOneGivesFiveToOneToOnePerCycle() {
        let balancer = LoadBalancer(targets: Self.targets([5, 1, 1]), policy: .weighted)
        #expect(Self.counts(balancer, picks: 7) == [5, 1, 1])
        #expect(Self.counts(balancer, picks: 700) == [500, 100, 100])
        // Smooth: the light targets are interleaved, not batched at the end.
        #expect(LoadBalancer.smoothWeightedSchedule([5, 1, 1]) == [0, 0, 1, 0, 2, 0, 0])
    }

    @Test func leastRequestPrefersTheIdleTarget() {
        let balancer = LoadBalancer(targets: Self.targets([1, 1, 1]), policy: .leastRequest)
        balancer.active[0].add(3)
        balancer.active[1].add(1)
        for _ in 0..<10 { #expect(balancer.pick(hashKey: nil) == 2) }
        balancer.active[2].add(5)
        for _ in 0..<10 { #expect(balancer.pick(hashKey: nil) == 1) }
    }

    @Test func leastRequestSpreadsTiesAcrossTargets() {
        let balancer = LoadBalancer(targets: Self.targets([1, 1]), policy: .leastRequest)
        #expect(Self.counts(balancer, picks: 100) == [50, 50])
    }

    @Test func consistentHashIsStableForAKeyAndSpreadsKeys() {
        let balancer = LoadBalancer(targets: Self.targets([1, 1, 1]), policy: .consistentHash)
        for key in ["alice", "bob", "carol", "10.1.2.3"] {
            let first = balancer.pick(hashKey: key)
            for _ in 0..<20 { #expect(balancer.pick(hashKey: key) == first) }
        }
        // A second balancer over the same targets agrees (no per-instance randomness).
        let again = LoadBalancer(targets: Self.targets([1, 1, 1]), policy: .consistentHash)
        for i in 0..<50 { #expect(again.pick(hashKey: "user-\(i)") == balancer.pick(hashKey: "user-\(i)")) }
        let counts = Self.counts(balancer, picks: 3000, key: { "user-\($0)" })
        for count in counts { #expect(count > 600, "counts: \(counts)") }
    }

    @Test func excludedTargetsAreNeverPicked() {
        for policy in GatewayConfig.Balance.allCases {
            let balancer = LoadBalancer(targets: Self.targets([1, 3, 1]), policy: policy)
            for i in 0..<60 {
                let pick = balancer.pick(hashKey: "k\(i)", excluding: [1])
                #expect(pick != nil && pick != 1, "\(policy): \(String(describing: pick))")
                let last = balancer.pick(hashKey: "k\(i)", excluding: [0, 1])
                #expect(last == 2, "\(policy)")
            }
            #expect(balancer.pick(hashKey: "k", excluding: [0, 1, 2]) == nil, "\(policy)")
        }
    }

    @Test func consistentHashMovesOnlyTheExcludedTargetsKeys() {
        let balancer = LoadBalancer(targets: Self.targets([1, 1, 1]), policy: .consistentHash)
        for i in 0..<200 {
            let key = "user-\(i)"
            let home = balancer.pick(hashKey: key)!
            let other = (home + 1) % 3
            #expect(balancer.pick(hashKey: key, excluding: [other]) == home)
            #expect(balancer.pick(hashKey: key, excluding: [home]) != home)
        }
    }

    @Test func aSingleTargetIsAlwaysPickedUntilExcluded() {
        let balancer = LoadBalancer(targets: Self.targets([1]), policy: .roundRobin)
        #expect(balancer.pick(hashKey: nil) == 0)
        #expect(balancer.pick(hashKey: nil, excluding: [0]) == nil)
    }
}
