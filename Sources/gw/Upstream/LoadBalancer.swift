import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Picks a target for a request. Shared by every event loop; lock-free: the
/// round-robin cursor, request counts and target health are atomics. While every
/// target is available (`UpstreamHealth.isPristine`) a pick reads no health state;
/// otherwise `pickAvailable` (LoadBalancer+Health.swift) skips unavailable targets.
final class LoadBalancer: Sendable {
    let targets: [GatewayConfig.Target]
    let policy: GatewayConfig.Balance
    let health: UpstreamHealth
    /// Send to unavailable targets when none is available.
    let panicMode: Bool
    let cursor = Atomic<Int>(0)
    /// In-flight requests per target (least_request).
    let active: [ActiveCount]
    /// Smooth weighted round robin: the expanded schedule, built once.
    let schedule: [Int]
    /// Consistent hashing ring: (point, target index), sorted by point.
    let ring: [(UInt64, Int)]

    init(targets: [GatewayConfig.Target], policy: GatewayConfig.Balance, health: UpstreamHealth? = nil, panicMode: Bool = false) {
        self.targets = targets
        self.policy = policy
        self.health = health ?? UpstreamHealth(
            name: "", targets: targets, fingerprint: "", settings: .init(), loop: MultiThreadedEventLoopGroup.singleton.next())
        self.panicMode = panicMode
        self.active = targets.map { _ in ActiveCount() }
        self.schedule = Self.smoothWeightedSchedule(targets.map(\.weight))
        var ring: [(UInt64, Int)] = []
        for (index, target) in targets.enumerated() {
            for replica in 0..<(160 * max(1, target.weight)) {
                ring.append((Self.hash("\(target.host):\(target.port)#\(replica)"), index))
            }
        }
        self.ring = ring.sorted { $0.0 < $1.0 }
    }

    /// Index of the target for a request; `excluding` lists targets already tried.
    func pick(hashKey: String?, excluding: [Int]) -> Int? {
        pick(hashKey: hashKey, excluding: TargetSet(excluding))
    }

    /// Index of an available target not in `excluding`; nil if there is none (and
    /// panic mode is off).
    @inline(__always)
    func pick(hashKey: String?, excluding: TargetSet = TargetSet()) -> Int? {
        if health.isPristine { return pickAny(hashKey: hashKey, excluding: excluding) }
        if let choice = pickAvailable(hashKey: hashKey, excluding: excluding) { return choice }
        return panicMode ? pickAny(hashKey: hashKey, excluding: excluding) : nil
    }

    /// Ignoring health.
    func pickAny(hashKey: String?, excluding: TargetSet) -> Int? {
        let count = targets.count
        guard count > excluding.count else { return nil }
        if count == 1 { return 0 }
        var choice: Int
        switch policy {
        case .roundRobin:
            choice = cursor.wrappingAdd(1, ordering: .relaxed).oldValue % count
        case .weighted:
            let step = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
            choice = schedule[step % schedule.count]
        case .leastRequest:
            // Fewest in flight; ties broken by a rotating start so load spreads.
            let start = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
            choice = -1
            var best = Int.max
            for offset in 0..<count {
                let i = (start &+ offset) % count
                if excluding.contains(i) { continue }
                let load = active[i].value * 1000 / max(1, targets[i].weight)
                if load < best {
                    best = load
                    choice = i
                }
            }
        case .consistentHash:
            let point = Self.hash(hashKey ?? "")
            var low = 0
            var high = ring.count
            while low < high {
                let mid = (low + high) / 2
                if ring[mid].0 < point { low = mid + 1 } else { high = mid }
            }
            choice = ring[low % ring.count].1
            var walk = low
            while excluding.contains(choice) {
                walk += 1
                choice = ring[walk % ring.count].1
            }
        }
        choice = abs(choice) % count
        var tries = 0
        while excluding.contains(choice) && tries < count {
            choice = (choice + 1) % count
            tries += 1
        }
        return choice
    }

    /// Weights [5, 1, 1] -> a, a, b, a, c, a, a (nginx's smooth weighted round robin).
    static func smoothWeightedSchedule(_ weights: [Int]) -> [Int] {
        guard !weights.isEmpty else { return [0] }
        let total = weights.reduce(0, +)
        var current = Array(repeating: 0, count: weights.count)
        var schedule: [Int] = []
        for _ in 0..<max(1, total) {
            var best = 0
            for i in weights.indices {
                current[i] += weights[i]
                if current[i] > current[best] { best = i }
            }
            current[best] -= total
            schedule.append(best)
        }
        return schedule
    }

    /// FNV-1a 64 then a mix, stable across runs and processes.
    static func hash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }
}

/// What happened to one target since the configuration was loaded: in-flight and
/// total requests, failures by kind, and the last failure (for the admin view).
final class ActiveCount: Sendable {
    private let count = Atomic<Int>(0)
    private let total = Atomic<Int>(0)
    private let connectFailures = Atomic<Int>(0)
    private let serverErrors = Atomic<Int>(0)
    private let last = Mutex<(type: String, at: Int)?>(nil)

    /// In flight now.
    var value: Int { count.load(ordering: .relaxed) }
    var requests: Int { total.load(ordering: .relaxed) }
    var connectFailureCount: Int { connectFailures.load(ordering: .relaxed) }
    var serverErrorCount: Int { serverErrors.load(ordering: .relaxed) }
    var lastFailure: (type: String, at: Int)? { last.withLock { $0 } }

    func add(_ delta: Int) {
        count.wrappingAdd(delta, ordering: .relaxed)
        if delta > 0 { total.wrappingAdd(delta, ordering: .relaxed) }
    }

    /// Record a failure of kind `type` (an `x-gw-error` value or `http_5xx`).
    func failed(_ type: String) {
        if type == "connect_failed" { connectFailures.wrappingAdd(1, ordering: .relaxed) }
        if type == "http_5xx" { serverErrors.wrappingAdd(1, ordering: .relaxed) }
        let now = Int(time(nil))
        last.withLock { $0 = (type, now) }
    }
}
