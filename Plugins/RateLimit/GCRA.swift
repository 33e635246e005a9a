/// What a rate algorithm decided for one request, for the response headers.
struct RateDecision {
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
    /// How long the new state matters (admitted only): after it every limit is back
    /// to a full budget, which is the same as no state at all.
    var ttlMilliseconds: UInt64

    static func refused(limit: Int, resetNanoseconds: UInt64, waitNanoseconds: UInt64) -> RateDecision {
        RateDecision(
            admitted: false, limit: limit, remaining: 0, resetSeconds: seconds(resetNanoseconds),
            retryAfterSeconds: max(1, seconds(waitNanoseconds)), ttlMilliseconds: 0)
    }

    static let admittedStart = RateDecision(
        admitted: true, limit: 0, remaining: Int.max, resetSeconds: 0, retryAfterSeconds: 0, ttlMilliseconds: 0)

    /// Fold one admitting limit into the decision: keep the tightest.
    mutating func consider(limit: Int, remaining: Int, resetNanoseconds: UInt64) {
        let reset = Self.seconds(resetNanoseconds)
        if remaining < self.remaining || (remaining == self.remaining && reset > resetSeconds) {
            (self.limit, self.remaining, self.resetSeconds) = (limit, remaining, reset)
        }
        ttlMilliseconds = max(ttlMilliseconds, resetNanoseconds / 1_000_000 + 1)
    }

    /// Whole seconds, rounded up.
    static func seconds(_ nanoseconds: UInt64) -> Int {
        Int((nanoseconds + 999_999_999) / 1_000_000_000)
    }
}

/// The generic cell rate algorithm over several limits at once, as a pure function
/// of the stored state and the time.
///
/// Each limit keeps a theoretical arrival time (TAT, monotonic nanoseconds): one word
/// of state. A request at `now` is admitted by a limit if
/// `max(TAT, now) + T - now <= tolerance`, where `T = period / requests` and
/// `tolerance = burst * T`: a fresh client may send `burst` requests at once, then
/// one per `T` comes back. A request is admitted only if every limit admits it, and
/// only then are the TATs advanced, so a refused request spends nothing.
enum GCRA {
    static let stateWords = 1

    /// Decide for one request. When admitted, `tats` holds the new state to store.
    /// Absent state is all zeros.
    static func evaluate(_ limits: [RateLimitConfig.Limit], tats: UnsafeMutableBufferPointer<UInt64>, now: UInt64) -> RateDecision {
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
            return .refused(limit: refusing, resetNanoseconds: max(tats[refusing], now) - now, waitNanoseconds: longestWait)
        }

        var decision = RateDecision.admittedStart
        for (i, limit) in limits.enumerated() {
            let next = max(tats[i], now) + limit.interval
            tats[i] = next
            let ahead = next - now
            decision.consider(limit: i, remaining: Int((limit.tolerance - ahead) / limit.interval), resetNanoseconds: ahead)
        }
        return decision
    }
}

/// A token bucket per limit: `burst` tokens of capacity, refilled continuously at
/// `requests` per period, one token per request.
///
/// Each limit keeps two words: the credit (tokens, in nanoseconds of refill time, so
/// one token is `T = period / requests` and the arithmetic is exact) and when it was
/// last refilled. A request at `now` first refills every bucket by `now - last`
/// (capped at `burst * T`), is admitted if every bucket holds a token, and only then
/// takes one from each, so a refused request spends nothing. For the same
/// `requests`, `per` and `burst` it admits what GCRA admits (GCRA is the same
/// bucket folded into one timestamp); what differs is the state it stores.
enum TokenBucket {
    static let stateWords = 2

    /// Decide for one request. Absent state (all zeros) is a full bucket. When
    /// admitted, `state` holds the new state to store.
    static func evaluate(_ limits: [RateLimitConfig.Limit], state: UnsafeMutableBufferPointer<UInt64>, now: UInt64) -> RateDecision {
        var refusing = -1
        var longestWait: UInt64 = 0
        var credits = [UInt64](repeating: 0, count: limits.count)
        for (i, limit) in limits.enumerated() {
            let capacity = limit.tolerance
            var credit = state[2 * i]
            let last = state[2 * i + 1]
            if last == 0 {
                credit = capacity  // absent: full
            } else if now > last {
                credit = min(capacity, credit + min(now - last, capacity))
            }
            credits[i] = credit
            if credit < limit.interval {
                let wait = limit.interval - credit
                if refusing < 0 || wait > longestWait { (refusing, longestWait) = (i, wait) }
            }
        }
        if refusing >= 0 {
            let limit = limits[refusing]
            return .refused(limit: refusing, resetNanoseconds: limit.tolerance - credits[refusing], waitNanoseconds: longestWait)
        }

        var decision = RateDecision.admittedStart
        for (i, limit) in limits.enumerated() {
            let credit = credits[i] - limit.interval
            state[2 * i] = credit
            // Never back in time: a request that read the clock before another one
            // updated the bucket must not make the next refill count that gap twice.
            state[2 * i + 1] = max(now, state[2 * i + 1], 1)
            decision.consider(limit: i, remaining: Int(credit / limit.interval), resetNanoseconds: limit.tolerance - credit)
        }
        return decision
    }
}
