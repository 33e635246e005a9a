import NIOCore
import NIOSSL
import Synchronization

/// Counts one target's check results against the thresholds (a value type, unit-tested).
struct HealthCounter: Sendable, Equatable {
    private(set) var healthy: Bool
    private var successes = 0
    private var failures = 0
    /// The first result after start: from an initial unhealthy state one pass is enough.
    private var first = true

    init(healthy: Bool) {
        self.healthy = healthy
    }

    /// Record one result; returns the new state when it changes.
    mutating func record(passed: Bool, healthyThreshold: Int, unhealthyThreshold: Int) -> Bool? {
        defer { first = false }
        if passed {
            failures = 0
            successes += 1
            if !healthy && (successes >= healthyThreshold || first) {
                healthy = true
                return true
            }
        } else {
            successes = 0
            failures += 1
            if healthy && failures >= unhealthyThreshold {
                healthy = false
                return false
            }
        }
        return nil
    }
}

/// Active health checks of one upstream's targets: each target is probed every
/// `interval` (+ jitter) by scheduled tasks on the health loop, never blocking it.
/// Results reach the balancer through `UpstreamHealth.setActiveHealthy`.
final class HealthChecker: Sendable {
    private struct State {
        var counters: [HealthCounter]
        var tasks: [Scheduled<Void>?]
        var stopped = false
    }

    let upstream: UpstreamSet
    let check: GatewayConfig.HealthCheck
    let loop: any EventLoop
    private let state: Mutex<State>

    init(upstream: UpstreamSet, check: GatewayConfig.HealthCheck, loop: any EventLoop) {
        self.upstream = upstream
        self.check = check
        self.loop = loop
        let counters = upstream.health.targets.map { HealthCounter(healthy: $0.flags & TargetHealth.activeDown == 0) }
        self.state = Mutex(State(counters: counters, tasks: Array(repeating: nil, count: counters.count)))
    }

    /// First checks at once for targets that start unhealthy, spread over one interval otherwise.
    func start() {
        for index in upstream.targets.indices {
            let down = upstream.health.targets[index].flags & TargetHealth.activeDown != 0
            let delay: TimeAmount = down ? .zero : .nanoseconds(Int64.random(in: 0...max(0, check.interval.nanoseconds)))
            schedule(index, after: delay)
        }
    }

    func stop() {
        let tasks = state.withLock { state in
            state.stopped = true
            defer { state.tasks = state.tasks.map { _ in nil } }
            return state.tasks
        }
        for task in tasks { task?.cancel() }
    }

    var isStopped: Bool { state.withLock { $0.stopped } }

    private func schedule(_ index: Int, after delay: TimeAmount) {
        state.withLock { state in
            guard !state.stopped else { return }
            state.tasks[index] = loop.scheduleTask(in: delay) { self.probe(index) }
        }
    }

    private func probe(_ index: Int) {
        guard !isStopped else { return }
        let target = upstream.targets[index]
        HealthProbe.run(target: target, check: check, tls: upstream.tls, on: loop).whenComplete { result in
            let passed = (try? result.get()) == true
            let change: Bool? = self.state.withLock { state in
                guard !state.stopped else { return nil }
                return state.counters[index].record(
                    passed: passed, healthyThreshold: self.check.healthyThreshold, unhealthyThreshold: self.check.unhealthyThreshold)
            }
            if let healthy = change { self.upstream.health.setActiveHealthy(index, healthy) }
            var next = self.check.interval
            if self.check.jitter.nanoseconds > 0 { next = next + .nanoseconds(Int64.random(in: 0..<self.check.jitter.nanoseconds)) }
            self.schedule(index, after: next)
        }
    }
}
