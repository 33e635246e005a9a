import AIGateway
import PluginHost

#if canImport(Glibc)
import Glibc
#endif

/// Token-per-minute and cost-budget limits per consumer, on the host's shared store.
/// A call reserves its estimate (prompt + max_tokens) before it starts; the reservation
/// is checked against the total *after* adding it, so concurrent calls cannot overshoot;
/// the real usage reconciles the same window afterwards.
struct AIQuota {
    struct Reservation {
        var tokenKey: String?
        var tokens: Int64 = 0
        var budgetKey: String?
        /// Micro-dollars.
        var cost: Int64 = 0
    }

    enum Refusal: Error {
        case tokens(limit: Int, retryAfter: Int)
        case budget(limit: Double, retryAfter: Int)
    }

    let kv: SharedKeyValueStore
    let limit: GatewayConfig.AI.Limit
    let consumer: String

    static func now() -> Int { time(nil) }

    func reserve(tokens: Int, cost: Double) -> Result<Reservation, Refusal> {
        var reservation = Reservation()
        let now = Self.now()
        if let tpm = limit.tokensPerMinute {
            let window = now / 60
            let key = "gw.ai.tpm.\(consumer).\(window)"
            let amount = Int64(tokens)
            guard let total = try? kv.increment(key, by: amount, ttlMilliseconds: 120_000) else {
                return .failure(.tokens(limit: tpm, retryAfter: 60 - now % 60))
            }
            if total > Int64(tpm) {
                _ = try? kv.increment(key, by: -amount, ttlMilliseconds: 120_000)
                return .failure(.tokens(limit: tpm, retryAfter: 60 - now % 60))
            }
            reservation.tokenKey = key
            reservation.tokens = amount
        }
        if let budget = limit.budgetUSD {
            let (window, length) = Self.budgetWindow(limit.budgetPeriod, now: now)
            let key = "gw.ai.budget.\(consumer).\(limit.budgetPeriod.rawValue).\(window)"
            let micro = Int64((cost * 1_000_000).rounded(.up))
            let ttl = UInt64(length + 3600) * 1000
            let total = (try? kv.increment(key, by: micro, ttlMilliseconds: ttl)) ?? Int64.max
            if total > Int64(budget * 1_000_000) {
                _ = try? kv.increment(key, by: -micro, ttlMilliseconds: ttl)
                release(reservation)
                return .failure(.budget(limit: budget, retryAfter: length - now % length))
            }
            reservation.budgetKey = key
            reservation.cost = micro
        }
        return .success(reservation)
    }

    /// Replace the estimate by the real figures (or give it all back when the call failed).
    func reconcile(_ reservation: Reservation, tokens: Int, cost: Double) {
        if let key = reservation.tokenKey {
            _ = try? kv.increment(key, by: Int64(tokens) - reservation.tokens, ttlMilliseconds: 120_000)
        }
        if let key = reservation.budgetKey {
            let micro = Int64((cost * 1_000_000).rounded(.up))
            _ = try? kv.increment(key, by: micro - reservation.cost, ttlMilliseconds: 0)
        }
    }

    func release(_ reservation: Reservation) {
        reconcile(reservation, tokens: 0, cost: 0)
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
