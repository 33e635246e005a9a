/// Picking while some target is down, ejected or in slow start, or with priority
/// groups: only targets of the best priority that has an available one.
extension LoadBalancer {
    func pickAvailable(hashKey: String?, excluding: TargetSet) -> Int? {
        let hosts = health.targets
        var level = Int.max
        for i in hosts.indices where !excluding.contains(i) && hosts[i].isAvailable && hosts[i].priority < level {
            level = hosts[i].priority
        }
        guard level != Int.max else { return nil }
        @inline(__always) func candidate(_ i: Int) -> Bool {
            !excluding.contains(i) && hosts[i].priority == level && hosts[i].isAvailable
        }
        let count = targets.count
        switch policy {
        case .roundRobin, .weighted:
            let length = policy == .roundRobin ? count : schedule.count
            for _ in 0..<(2 * length) {
                let step = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
                let i = policy == .roundRobin ? step % count : schedule[step % length]
                if candidate(i) && admitsSlowStart(i, salt: step) { return i }
            }
        case .leastRequest:
            let start = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
            var best = Int.max
            var choice = -1
            for offset in 0..<count {
                let i = (start &+ offset) % count
                guard candidate(i) else { continue }
                let share = hosts[i].flags & TargetHealth.slowStart != 0 ? max(1, hosts[i].slowStartShare.load(ordering: .relaxed)) : 1000
                let load = (active[i].value + 1) * 1_000_000 / max(1, targets[i].weight) / share
                if load < best {
                    best = load
                    choice = i
                }
            }
            if choice >= 0 { return choice }
        case .consistentHash:
            let point = Self.hash(hashKey ?? "")
            var low = 0
            var high = ring.count
            while low < high {
                let mid = (low + high) / 2
                if ring[mid].0 < point { low = mid + 1 } else { high = mid }
            }
            for walk in low..<(low + ring.count) where candidate(ring[walk % ring.count].1) {
                return ring[walk % ring.count].1
            }
        }
        // Every candidate declined its slow-start draw: take the first.
        return hosts.indices.first(where: candidate)
    }

    /// A target in slow start takes a request with probability share/1000.
    @inline(__always)
    private func admitsSlowStart(_ i: Int, salt: Int) -> Bool {
        let host = health.targets[i]
        guard host.flags & TargetHealth.slowStart != 0 else { return true }
        var x = UInt64(truncatingIfNeeded: salt) &+ 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        return Int(x % 1000) < host.slowStartShare.load(ordering: .relaxed)
    }
}

extension LoadBalancer {
    /// Whether a pick excluding `excluding` could succeed (a retry has somewhere to go).
    func hasCandidate(excluding: TargetSet) -> Bool {
        guard excluding.count < targets.count else { return false }
        if panicMode || health.isPristine { return true }
        return health.targets.indices.contains { !excluding.contains($0) && health.targets[$0].isAvailable }
    }
}
