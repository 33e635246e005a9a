import NIOCore
import Synchronization

/// One GCRA limit: emission interval and burst tolerance, in nanoseconds.
public struct GCRALimit: Sendable, Equatable {
    public var interval: UInt64
    public var tolerance: UInt64

    public init(interval: UInt64, tolerance: UInt64) {
        self.interval = interval
        self.tolerance = tolerance
    }
}

/// What a shared GCRA step decided.
public struct GCRAOutcome: Sendable, Equatable {
    public var admitted: Bool
    /// The refusing limit with the longest wait (refused only).
    public var refusedBy: Int
    public var waitNanoseconds: UInt64
    /// Per limit: max(TAT, now) - now after the decision.
    public var ahead: [UInt64]

    public init(admitted: Bool, refusedBy: Int, waitNanoseconds: UInt64, ahead: [UInt64]) {
        self.admitted = admitted
        self.refusedBy = refusedBy
        self.waitNanoseconds = waitNanoseconds
        self.ahead = ahead
    }

    /// The GCRA step on one set of TATs (the same rule the Redis script runs).
    public static func step(_ limits: [GCRALimit], tats: inout [UInt64], cost: UInt64, now: UInt64) -> GCRAOutcome {
        var refusing = -1
        var longest: UInt64 = 0
        for (i, limit) in limits.enumerated() {
            let ahead = max(tats[i], now) - now + limit.interval &* cost
            if ahead > limit.tolerance {
                let wait = ahead - limit.tolerance
                if refusing < 0 || wait > longest { (refusing, longest) = (i, wait) }
            }
        }
        if refusing >= 0 {
            return GCRAOutcome(
                admitted: false, refusedBy: refusing, waitNanoseconds: longest, ahead: limits.indices.map { max(tats[$0], now) - now })
        }
        for (i, limit) in limits.enumerated() { tats[i] = max(tats[i], now) + limit.interval &* cost }
        return GCRAOutcome(admitted: true, refusedBy: 0, waitNanoseconds: 0, ahead: tats.map { $0 - now })
    }
}

/// The shared store could not answer in time: nothing was changed.
public struct SharedStoreUnavailable: Error, Sendable {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }
}

/// Atomic operations shared by every stream and, when backed by Redis, every gw
/// instance. Futures complete on `loop`; failures are `SharedStoreUnavailable`.
public protocol SharedStore: Sendable {
    func gcra(key: String, limits: [GCRALimit], cost: UInt32, on loop: any EventLoop) -> EventLoopFuture<GCRAOutcome>
    func increment(key: String, by delta: Int64, ttlMilliseconds: UInt64, on loop: any EventLoop) -> EventLoopFuture<Int64>
    /// The value, or nil when absent.
    func get(key: String, on loop: any EventLoop) -> EventLoopFuture<[UInt8]?>
    func set(key: String, value: [UInt8], ttlMilliseconds: UInt64, on loop: any EventLoop) -> EventLoopFuture<Void>
}

/// The in-process store (no `shared_store` configured): the same operations on the
/// host's key-value store, answered at once.
public final class LocalSharedStore: SharedStore {
    let kv: SharedKeyValueStore

    public init(kv: SharedKeyValueStore) {
        self.kv = kv
    }

    public func gcra(key: String, limits: [GCRALimit], cost: UInt32, on loop: any EventLoop) -> EventLoopFuture<GCRAOutcome> {
        let fullKey = "gw.shared.gcra." + key
        while true {
            let now = MonotonicClock.nanoseconds()
            let current = kv.get(fullKey)
            var tats = Self.decode(current?.value, count: limits.count)
            let outcome = GCRAOutcome.step(limits, tats: &tats, cost: UInt64(cost), now: now)
            guard outcome.admitted else { return loop.makeSucceededFuture(outcome) }
            let ttl = (outcome.ahead.max() ?? 0) / 1_000_000 + 1
            do {
                _ = try kv.set(fullKey, value: Self.encode(tats), condition: current.map { .cas($0.cas) } ?? .absent, ttlMilliseconds: ttl)
                return loop.makeSucceededFuture(outcome)
            } catch {
                continue  // lost a race: decide again on the new state
            }
        }
    }

    public func increment(key: String, by delta: Int64, ttlMilliseconds: UInt64, on loop: any EventLoop) -> EventLoopFuture<Int64> {
        do {
            return loop.makeSucceededFuture(try kv.increment("gw.shared.incr." + key, by: delta, ttlMilliseconds: ttlMilliseconds))
        } catch {
            return loop.makeFailedFuture(SharedStoreUnavailable("the value is not an integer"))
        }
    }

    public func get(key: String, on loop: any EventLoop) -> EventLoopFuture<[UInt8]?> {
        loop.makeSucceededFuture(kv.get("gw.shared.value." + key)?.value)
    }

    public func set(key: String, value: [UInt8], ttlMilliseconds: UInt64, on loop: any EventLoop) -> EventLoopFuture<Void> {
        _ = try? kv.set("gw.shared.value." + key, value: value, condition: .always, ttlMilliseconds: ttlMilliseconds)
        return loop.makeSucceededVoidFuture()
    }

    static func decode(_ bytes: [UInt8]?, count: Int) -> [UInt64] {
        var tats = [UInt64](repeating: 0, count: count)
        guard let bytes, bytes.count == count * 8 else { return tats }
        for i in 0..<count {
            var v: UInt64 = 0
            for b in 0..<8 { v |= UInt64(bytes[i * 8 + b]) << (8 * UInt64(b)) }
            tats[i] = v
        }
        return tats
    }

    static func encode(_ tats: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(tats.count * 8)
        for v in tats { for b in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(b)))) } }
        return out
    }
}

/// The store in effect; gw swaps it when the config's `shared_store` changes.
public final class SharedStoreSlot: Sendable {
    private let current: Mutex<any SharedStore>

    public init(_ store: any SharedStore) {
        current = Mutex(store)
    }

    public var store: any SharedStore { current.withLock { $0 } }

    public func replace(_ store: any SharedStore) {
        current.withLock { $0 = store }
    }
}
