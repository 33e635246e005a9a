import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The failure-handling state of one upstream, shared by every event loop and kept
/// across reloads that leave its targets unchanged: each target's health, outlier
/// ejections, slow start, and the circuit-breaker counters. State changes are rare
/// and happen under a lock; the request path reads atomics only.
final class UpstreamHealth: Sendable {
    enum FailureKind: Sendable {
        /// Connect failure, reset, protocol error, timeout.
        case local
        case serverError
    }

    struct Book {
        var settings: GatewayConfig.UpstreamReliability
        /// The current multiplier (consecutive ejections) and all ejections since start.
        var ejections: [Int]
        var ejectionsTotal: [Int]
        /// Ejections started per target: a timer only ends the ejection that armed it.
        var ejectionSerial: [Int]
        var lastEjectionEnded: [NIODeadline?]
        var lastFailure: [(type: String, at: Int)?]
        var slowStartSince: [NIODeadline?]
    }

    let name: String
    let targets: [TargetHealth]
    /// Identity of the target list: a reload that keeps it keeps this object.
    let fingerprint: String
    /// Where health checks, ejection timers and slow-start ramps run.
    let loop: any EventLoop
    /// More than one priority among the targets.
    let hasPriorities: Bool
    /// Targets whose flags are not all clear: 0 means every pick takes the fast path.
    private let impaired = Atomic<Int>(0)
    private let book: Mutex<Book>

    // Circuit-breaker counters.
    let inFlight = Atomic<Int>(0)
    let connections = Atomic<Int>(0)
    /// Of `connections`, those waiting in some loop's idle pool: they count toward
    /// `max_connections` but carry nothing, so they never refuse a request (one is
    /// closed to make room instead, `Exchange.admitConnection`).
    let idle = Atomic<Int>(0)
    let pending = Atomic<Int>(0)
    let retries = Atomic<Int>(0)

    init(name: String, targets: [GatewayConfig.Target], fingerprint: String, settings: GatewayConfig.UpstreamReliability, loop: any EventLoop) {
        self.name = name
        self.targets = targets.map { TargetHealth(address: "\($0.host):\($0.port)", priority: $0.priority) }
        self.fingerprint = fingerprint
        self.loop = loop
        self.hasPriorities = Set(targets.map(\.priority)).count > 1
        let n = targets.count
        self.book = Mutex(Book(
            settings: settings, ejections: Array(repeating: 0, count: n), ejectionsTotal: Array(repeating: 0, count: n), ejectionSerial: Array(repeating: 0, count: n), lastEjectionEnded: Array(repeating: nil, count: n),
            lastFailure: Array(repeating: nil, count: n), slowStartSince: Array(repeating: nil, count: n)))
        if let check = settings.healthCheck, !check.initiallyHealthy {
            for target in self.targets { target.setFlag(TargetHealth.activeDown, true) }
            impaired.store(n, ordering: .relaxed)
        }
    }

    static func fingerprint(_ config: GatewayConfig.Upstream) -> String {
        (config.tls ? "https|" : "http|") + config.targets.map { "\($0.host):\($0.port)/\($0.priority)" }.joined(separator: ",")
    }

    /// Every target available, no slow start, one priority: picks need no health check.
    @inline(__always)
    var isPristine: Bool { impaired.load(ordering: .relaxed) == 0 && !hasPriorities }

    var settings: GatewayConfig.UpstreamReliability { book.withLock { $0.settings } }

    func update(settings: GatewayConfig.UpstreamReliability) {
        book.withLock { $0.settings = settings }
    }

    // MARK: - Passive outcomes

    @inline(__always)
    func succeeded(_ index: Int) {
        targets[index].succeeded()
    }

    /// A failed try; ejects the target when a run of failures reaches its threshold.
    func failed(_ index: Int, kind: FailureKind, cause: String) {
        let target = targets[index]
        let run: Int
        switch kind {
        case .local: run = target.consecutiveLocal.wrappingAdd(1, ordering: .relaxed).newValue
        case .serverError: run = target.consecutive5xx.wrappingAdd(1, ordering: .relaxed).newValue
        }
        let now = Int(time(nil))
        let ejectFor: (TimeAmount, Int)? = book.withLock { book in
            book.lastFailure[index] = (cause, now)
            let outlier = book.settings.outlier
            let threshold = kind == .local ? outlier.consecutiveLocalFailures : outlier.consecutive5xx
            guard outlier.enabled, threshold > 0, run >= threshold, target.flags & TargetHealth.ejected == 0 else { return nil }
            let ejectedNow = targets.filter { $0.flags & TargetHealth.ejected != 0 }.count
            guard OutlierPolicy.mayEject(ejectedNow: ejectedNow, total: targets.count, percent: outlier.maxEjectionPercent) else { return nil }
            let quiet = book.lastEjectionEnded[index].map { NIODeadline.now() - $0 }
            book.ejections[index] = OutlierPolicy.nextEjectionCount(previous: book.ejections[index], sinceLastEjectionEnded: quiet, max: outlier.maxEjectionTime)
            book.ejectionsTotal[index] += 1
            book.ejectionSerial[index] += 1
            target.setFlag(TargetHealth.ejected, true)
            target.consecutive5xx.store(0, ordering: .relaxed)
            target.consecutiveLocal.store(0, ordering: .relaxed)
            recount()
            let time = OutlierPolicy.ejectionTime(ejections: book.ejections[index], base: outlier.baseEjectionTime, max: outlier.maxEjectionTime)
            return (time, book.ejectionSerial[index])
        }
        if let (time, serial) = ejectFor {
            loop.scheduleTask(in: time) { self.uneject(index, serial: serial) }
        }
    }

    private func uneject(_ index: Int, serial: Int) {
        book.withLock { book in
            guard book.ejectionSerial[index] == serial, targets[index].flags & TargetHealth.ejected != 0 else { return }
            targets[index].setFlag(TargetHealth.ejected, false)
            book.lastEjectionEnded[index] = .now()
            beginSlowStartIfAvailable(index, &book)
            recount()
        }
    }

    // MARK: - Active checks

    /// Set by the health checker when a target crosses a threshold. A target that
    /// comes back up is also un-ejected; one that never went down stays ejected until
    /// its timer fires (a passing check alone does not prove the data path works).
    func setActiveHealthy(_ index: Int, _ healthy: Bool) {
        book.withLock { book in
            let target = targets[index]
            let wasDown = target.flags & TargetHealth.activeDown != 0
            guard wasDown == healthy else { return }
            target.setFlag(TargetHealth.activeDown, !healthy)
            if healthy {
                // Back up by its checks after being down by them: any ejection ends too
                // (otherwise a host ejected while everything failed stays out after recovering).
                if target.flags & TargetHealth.ejected != 0 {
                    target.setFlag(TargetHealth.ejected, false)
                    book.lastEjectionEnded[index] = .now()
                }
                beginSlowStartIfAvailable(index, &book)
            } else {
                book.lastFailure[index] = ("health_check", Int(time(nil)))
            }
            recount()
        }
    }

    /// Health checks removed by a reload: nobody would ever mark targets up again.
    func clearActiveDown() {
        book.withLock { _ in
            for target in targets { target.setFlag(TargetHealth.activeDown, false) }
            recount()
        }
    }

    // MARK: - Slow start

    private func beginSlowStartIfAvailable(_ index: Int, _ book: inout Book) {
        let window = book.settings.slowStart
        guard window.nanoseconds > 0, targets[index].isAvailable else { return }
        book.slowStartSince[index] = .now()
        targets[index].slowStartShare.store(OutlierPolicy.slowStartShare(elapsed: .zero, window: window), ordering: .relaxed)
        targets[index].setFlag(TargetHealth.slowStart, true)
        let step = TimeAmount.nanoseconds(max(window.nanoseconds / 20, 20_000_000))
        loop.scheduleTask(in: step) { self.rampSlowStart(index, step: step) }
    }

    private func rampSlowStart(_ index: Int, step: TimeAmount) {
        let again: Bool = book.withLock { book in
            guard let since = book.slowStartSince[index] else { return false }
            let share = OutlierPolicy.slowStartShare(elapsed: .now() - since, window: book.settings.slowStart)
            targets[index].slowStartShare.store(share, ordering: .relaxed)
            guard share >= 1000 || !targets[index].isAvailable else { return true }
            book.slowStartSince[index] = nil
            targets[index].setFlag(TargetHealth.slowStart, false)
            recount()
            return false
        }
        if again { loop.scheduleTask(in: step) { self.rampSlowStart(index, step: step) } }
    }

    /// Under the lock.
    private func recount() {
        impaired.store(targets.filter { $0.flags != 0 }.count, ordering: .relaxed)
    }

    // MARK: - Admin view

    struct TargetReport {
        var state: String
        var slowStart: Bool
        var ejections: Int
        var lastFailure: (type: String, at: Int)?
    }

    func report(_ index: Int) -> TargetReport {
        book.withLock { book in
            let target = targets[index]
            return TargetReport(
                state: target.stateName, slowStart: target.flags & TargetHealth.slowStart != 0, ejections: book.ejectionsTotal[index],
                lastFailure: book.lastFailure[index])
        }
    }
}
