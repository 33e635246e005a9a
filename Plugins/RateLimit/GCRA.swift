/// The generic cell rate algorithm over several limits at once, as a pure function
/// of the stored state and the time.
///
/// Each limit keeps a theoretical arrival time (TAT, monotonic nanoseconds). A request
/// at `now` is admitted by a limit if `max(TAT, now) + T - now <= tolerance`, where
/// `T = period / requests` and `tolerance = requests * T`: a fresh client may spend
/// the whole budget at once, then one request per `T` comes back. A request is
/// admitted only if every limit admits it, and only then are the TATs advanced, so a
/// refused request spends nothing.
enum GCRA {
    struct Decision {
        var admitted: Bool
        /// The limit the response headers describe: the tightest one (fewest requests
        /// remaining, then the longest reset) or, when refused, the one that refused
        /// with the longest wait.
        var limit: Int
        var remaining: Int
        /// Seconds until the reported limit's budget is full again.
        var resetSeconds: Int
        /// Seconds until a retry can be admitted (refused only; at least 1).
        var retryAfterSeconds: Int
        /// How long the new state matters (admitted only): after it every TAT is in
        /// the past, which is the same as no state at all.
        var ttlMilliseconds: UInt64
    }

    /// Decide for one request. When admitted, `tats` holds the new state to store.
    static func evaluate(_ limits: [RateLimitConfig.Limit], tats: UnsafeMutableBufferPointer<UInt64>, now: UInt64) -> Decision {
        var refusing = -1
        var longestWait: UInt64 = 0
        for (i, limit) in limits.enumerated() {
            let ahead = max(tats[i], now) - now + limit.interval
            if ahead > limit.tolerance {
                let wait = ahead - limit.tolerance
                if refusing < 0 || wait > longestWait { (refusing, longestWait) = (i, wait) }
            }
        }
        if refusing >= 0 {
            return Decision(
                admitted: false, limit: refusing, remaining: 0, resetSeconds: seconds(max(tats[refusing], now) - now),
                retryAfterSeconds: max(1, seconds(longestWait)), ttlMilliseconds: 0)
        }

        var decision = Decision(admitted: true, limit: 0, remaining: Int.max, resetSeconds: 0, retryAfterSeconds: 0, ttlMilliseconds: 0)
        var longest: UInt64 = 0
        for (i, limit) in limits.enumerated() {
            let next = max(tats[i], now) + limit.interval
            tats[i] = next
            let ahead = next - now
            let remaining = Int((limit.tolerance - ahead) / limit.interval)
            let reset = seconds(ahead)
            if remaining < decision.remaining || (remaining == decision.remaining && reset > decision.resetSeconds) {
                (decision.limit, decision.remaining, decision.resetSeconds) = (i, remaining, reset)
            }
            longest = max(longest, ahead)
        }
        decision.ttlMilliseconds = longest / 1_000_000 + 1
        return decision
    }

    /// Whole seconds, rounded up.
    static func seconds(_ nanoseconds: UInt64) -> Int {
        Int((nanoseconds + 999_999_999) / 1_000_000_000)
    }
}
