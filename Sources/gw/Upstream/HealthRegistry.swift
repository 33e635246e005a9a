import NIOCore
import Synchronization

/// The gateway's `UpstreamHealth` objects and their health checkers, by upstream
/// name. A compile reuses an upstream's health object when its targets are
/// unchanged; `sync` (after the new state is swapped in) keeps checkers whose
/// configuration is unchanged running, restarts the others and stops those of
/// upstreams that are gone.
final class HealthRegistry: Sendable {
    private struct Entry {
        var health: UpstreamHealth
        var check: GatewayConfig.HealthCheck?
        var checker: HealthChecker?
    }

    /// One loop of the group runs every check and timer.
    let loop: any EventLoop
    private let entries = Mutex<[String: Entry]>([:])

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// The health object for an upstream of a config being compiled.
    func health(for config: GatewayConfig.Upstream) -> UpstreamHealth {
        let fingerprint = UpstreamHealth.fingerprint(config)
        if let existing = entries.withLock({ $0[config.name]?.health }), existing.fingerprint == fingerprint {
            return existing
        }
        return UpstreamHealth(name: config.name, targets: config.targets, fingerprint: fingerprint, settings: config.reliability, loop: loop)
    }

    /// Make the running checkers match `upstreams` (the state now serving).
    func sync(_ upstreams: [String: UpstreamSet]) {
        var toStop: [HealthChecker] = []
        var toStart: [HealthChecker] = []
        entries.withLock { entries in
            for (name, entry) in entries where upstreams[name] == nil {
                if let checker = entry.checker { toStop.append(checker) }
                entries[name] = nil
            }
            for (name, upstream) in upstreams {
                let health = upstream.health
                health.update(settings: upstream.config.reliability)
                let check = upstream.config.reliability.healthCheck
                if let entry = entries[name], entry.health === health, entry.check == check { continue }
                if let checker = entries[name]?.checker { toStop.append(checker) }
                var checker: HealthChecker?
                if let check {
                    let made = HealthChecker(upstream: upstream, check: check, loop: loop)
                    checker = made
                    toStart.append(made)
                } else {
                    health.clearActiveDown()
                }
                entries[name] = Entry(health: health, check: check, checker: checker)
            }
        }
        for checker in toStop { checker.stop() }
        for checker in toStart { checker.start() }
    }

    func stopAll() {
        let checkers = entries.withLock { entries in
            defer { entries.removeAll() }
            return entries.values.compactMap(\.checker)
        }
        for checker in checkers { checker.stop() }
    }
}
