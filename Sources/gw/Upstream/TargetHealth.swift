import Synchronization

/// The health of one target, shared by every event loop: flag bits read with one
/// relaxed atomic load per candidate on the picking path, written only when the
/// state changes (by `UpstreamHealth`, under its lock).
final class TargetHealth: Sendable {
    /// Failed its active health checks.
    static let activeDown: UInt8 = 1
    /// Ejected by outlier detection until its ejection timer fires.
    static let ejected: UInt8 = 2
    /// Available, but receiving a growing share of traffic (slow start).
    static let slowStart: UInt8 = 4

    let address: String
    let priority: Int
    private let bits = Atomic<UInt8>(0)
    /// Share of its normal traffic while in slow start, per mille.
    let slowStartShare = Atomic<Int>(1000)
    let consecutive5xx = Atomic<Int>(0)
    /// Connect failures, resets and timeouts in a row.
    let consecutiveLocal = Atomic<Int>(0)

    init(address: String, priority: Int) {
        self.address = address
        self.priority = priority
    }

    var flags: UInt8 { bits.load(ordering: .relaxed) }
    /// Neither down nor ejected (slow start is available).
    var isAvailable: Bool { flags & (Self.activeDown | Self.ejected) == 0 }

    /// Only `UpstreamHealth` calls this, under its lock.
    func setFlag(_ flag: UInt8, _ on: Bool) {
        let old = bits.load(ordering: .relaxed)
        bits.store(on ? old | flag : old & ~flag, ordering: .relaxed)
    }

    /// A response that is not a 5xx: clears the failure runs. A load first, so the
    /// usual case (nothing to clear) writes no shared cache line.
    @inline(__always)
    func succeeded() {
        if consecutive5xx.load(ordering: .relaxed) != 0 { consecutive5xx.store(0, ordering: .relaxed) }
        if consecutiveLocal.load(ordering: .relaxed) != 0 { consecutiveLocal.store(0, ordering: .relaxed) }
    }

    /// The admin view's state name.
    var stateName: String {
        let f = flags
        if f & Self.ejected != 0 { return "ejected" }
        if f & Self.activeDown != 0 { return "unhealthy" }
        return "healthy"
    }
}

/// A set of target indexes without allocation for the first 64 targets (the
/// targets a request already tried).
struct TargetSet: Sendable, Equatable {
    private var bits: UInt64 = 0
    private var more: [Int] = []
    private(set) var count = 0

    init() {}

    init(_ indexes: [Int]) {
        for i in indexes { insert(i) }
    }

    @inline(__always)
    func contains(_ index: Int) -> Bool {
        index < 64 ? bits & (1 << UInt64(index)) != 0 : more.contains(index)
    }

    mutating func insert(_ index: Int) {
        guard !contains(index) else { return }
        if index < 64 { bits |= 1 << UInt64(index) } else { more.append(index) }
        count += 1
    }

    mutating func removeAll() {
        bits = 0
        more = []
        count = 0
    }
}
