import NIOCore

/// The pure rules of passive outlier detection and slow start (unit-tested).
enum OutlierPolicy {
    /// How long the `ejections`-th ejection in a row lasts: base × n, capped.
    static func ejectionTime(ejections: Int, base: TimeAmount, max: TimeAmount) -> TimeAmount {
        let n = Swift.max(1, ejections)
        let (product, overflow) = base.nanoseconds.multipliedReportingOverflow(by: Int64(n))
        if overflow { return max }
        return .nanoseconds(Swift.min(product, Swift.max(base.nanoseconds, max.nanoseconds)))
    }

    /// Whether one more target may be ejected: never the only target of an upstream,
    /// and at most `percent`% of the targets (but always at least one).
    static func mayEject(ejectedNow: Int, total: Int, percent: Int) -> Bool {
        guard total > 1 else { return false }
        let allowed = Swift.max(1, total * percent / 100)
        return ejectedNow < allowed
    }

    /// After a quiet period as long as the longest ejection the multiplier starts over.
    static func nextEjectionCount(previous: Int, sinceLastEjectionEnded: TimeAmount?, max: TimeAmount) -> Int {
        guard let quiet = sinceLastEjectionEnded, quiet < max else { return 1 }
        return previous + 1
    }

    /// Slow start: the share (per mille) of a target's traffic `elapsed` into a
    /// `window`: linear from 10% to 100%.
    static func slowStartShare(elapsed: TimeAmount, window: TimeAmount) -> Int {
        guard window.nanoseconds > 0, elapsed < window else { return 1000 }
        return Swift.max(100, Int(elapsed.nanoseconds * 1000 / window.nanoseconds))
    }
}
