import AIGateway
import NIOCore
import PluginHost

#if canImport(Glibc)
import Glibc
#endif

/// Token-per-minute and cost-budget limits per consumer, on the host's shared store
/// (Redis when `shared_store` is configured, so every instance counts against one
/// limit; in-process otherwise). A call reserves its estimate (prompt + max_tokens)
/// before it starts with one atomic increment, checked against the total *after*
/// adding it, so concurrent calls cannot overshoot; the real usage reconciles the same
/// window afterwards. If the shared store does not answer, the in-process counters
/// decide (each instance then enforces the limit alone).
struct AIQuota {
    struct Reservation {
        var tokenKey: String?
        var tokens: Int64 = 0
        var budgetKey: String?
        /// Micro-dollars.
        var cost: Int64 = 0
        var budgetTTL: UInt64 = 0
        /// The counters used: the shared store, or the local fallback.
        var local = false
    }

    enum Refusal: Error {
        case tokens(limit: Int, retryAfter: Int)
        case budget(limit: Double, retryAfter: Int)
    }

    let store: any SharedStore
    let fallback: LocalSharedStore
    let limit: GatewayConfig.AI.Limit
    let consumer: String

    static func now() -> Int { time(nil) }

    static let tokenTTL: UInt64 = 120_000

    func reserve(tokens: Int, cost: Double, on loop: any EventLoop) -> EventLoopFuture<Reservation> {
        reserve(tokens: tokens, cost: cost, on: loop, using: store, local: false).flatMapError { error in
            guard error is SharedStoreUnavailable else { return loop.makeFailedFuture(error) }
            return reserve(tokens: tokens, cost: cost, on: loop, using: fallback, local: true)
        }
    }

    private func reserve(tokens: Int, cost: Double, on loop: any EventLoop, using store: any SharedStore, local: Bool)
        -> EventLoopFuture<Reservation>
    {
        var reservation = Reservation()
        reservation.local = local
        let now = Self.now()
        var step = loop.makeSucceededFuture(reservation)
        if let tpm = limit.tokensPerMinute {
            let key = "gw.ai.tpm.\(consumer).\(now / 60)"
            let amount = Int64(tokens)
            step = step.flatMap { r in
                store.increment(key: key, by: amount, ttlMilliseconds: Self.tokenTTL, on: loop).flatMap { total in
                    guard total <= Int64(tpm) else {
                        return store.increment(key: key, by: -amount, ttlMilliseconds: Self.tokenTTL, on: loop).flatMapThrowing { _ in
                            throw Refusal.tokens(limit: tpm, retryAfter: 60 - now % 60)
                        }
                    }
                    var r = r
                    r.tokenKey = key
                    r.tokens = amount
                    return loop.makeSucceededFuture(r)
                }
            }
        }
        if let budget = limit.budgetUSD {
            let (window, length) = Self.budgetWindow(limit.budgetPeriod, now: now)
            let key = "gw.ai.budget.\(consumer).\(limit.budgetPeriod.rawValue).\(window)"
            let micro = Int64((cost * 1_000_000).rounded(.up))
            let ttl = UInt64(length + 3600) * 1000
            step = step.flatMap { r in
                store.increment(key: key, by: micro, ttlMilliseconds: ttl, on: loop).flatMap { total in
                    guard total <= Int64(budget * 1_000_000) else {
                        let undo = store.increment(key: key, by: -micro, ttlMilliseconds: ttl, on: loop)
                        self.release(r, on: loop)
                        return undo.flatMapThrowing { _ in throw Refusal.budget(limit: budget, retryAfter: length - now % length) }
                    }
                    var r = r
                    r.budgetKey = key
                    r.cost = micro
                    r.budgetTTL = ttl
                    return loop.makeSucceededFuture(r)
                }
            }
        }
        return step
    }

    /// Replace the estimate by the real figures (or give it all back when the call failed).
    func reconcile(_ reservation: Reservation, tokens: Int, cost: Double, on loop: any EventLoop) {
        let store: any SharedStore = reservation.local ? fallback : self.store
        if let key = reservation.tokenKey {
            _ = store.increment(key: key, by: Int64(tokens) - reservation.tokens, ttlMilliseconds: Self.tokenTTL, on: loop)
        }
        if let key = reservation.budgetKey {
            let micro = Int64((cost * 1_000_000).rounded(.up))
            _ = store.increment(key: key, by: micro - reservation.cost, ttlMilliseconds: reservation.budgetTTL, on: loop)
        }
    }

    func release(_ reservation: Reservation, on loop: any EventLoop) {
        reconcile(reservation, tokens: 0, cost: 0, on: loop)
    }

    /// Fixed calendar-free windows: hours, days (UTC) and 30-day months since the epoch.
    static func budgetWindow(_ period: GatewayConfig.AI.BudgetPeriod, now: Int) -> (Int, Int) {
        let length: Int
        switch period {
        case .hour: length = 3600
        case .day: length = 86_400
        case .month: length = 30 * 86_400
        }
        return (now / length, length)
    }
}
