import Synchronization

/// One bucket of `store: local`: the limits' state words, decided on and updated
/// under the bucket's own lock, so requests of different buckets never wait for each
/// other and a decision is always made on the exact state it changes (N concurrent
/// requests against a budget of B admit exactly min(N, B)).
final class LocalBucket: Sendable {
    struct State {
        /// All zeros is a bucket nobody has used (both algorithms read it as full).
        var words: [UInt64] = []
        /// When every budget is full again (host monotonic ns): from then on the
        /// bucket is the same as no bucket, and a sweep may drop it.
        var expiresAt: UInt64
        /// The latest time a decision on the bucket was made at: the bucket's clock.
        var now: UInt64 = 0
        /// Dropped from the table by a sweep: a thread that still holds it looks it up
        /// again (the check and the sweep take this lock, so no admission is lost).
        var retired = false
    }

    private let state: Mutex<State>

    init(now: UInt64) {
        state = Mutex(State(expiresAt: now))
    }

    /// Decide one request with `evaluate` on the bucket's words (`count` of them;
    /// zeroed first if the bucket held another shape, as after a reload that changed
    /// the limits) at the time it passes. Nil if the bucket was retired.
    ///
    /// The time is `now`, or the bucket's clock if that is later: a request that read
    /// the clock before another one, which then took the lock first, is decided as of
    /// that other one. Decided at its own earlier time it would find the bucket's state
    /// ahead of it and count that gap against itself: a remaining count one too low, or
    /// at the budget's edge a refusal the rate did not call for.
    @inline(__always)
    func decide(
        count: Int, now: UInt64, _ evaluate: (UnsafeMutableBufferPointer<UInt64>, UInt64) -> RateDecision
    ) -> RateDecision? {
        state.withLock { s -> RateDecision? in
            if s.retired { return nil }
            if s.words.count != count { s.words = [UInt64](repeating: 0, count: count) }
            s.now = max(s.now, now)
            let now = s.now
            let decision = s.words.withUnsafeMutableBufferPointer { evaluate($0, now) }
            if decision.admitted { s.expiresAt = max(s.expiresAt, now &+ decision.ttlMilliseconds &* 1_000_000) }
            return decision
        }
    }

    /// Retire the bucket if it has expired by `now`: true if it was.
    func retireIfExpired(now: UInt64) -> Bool {
        state.withLock { s in
            guard s.expiresAt <= now else { return false }
            s.retired = true
            return true
        }
    }

    /// When every budget is full again.
    var expiresAt: UInt64 { state.withLock { $0.expiresAt } }

    /// Retire the bucket whatever its state (a full table's eviction).
    func retire() { state.withLock { $0.retired = true } }
}

/// The process's `store: local` buckets by key (`RateLimiter.bucketKey`), for every
/// rate_limit filter of every route: buckets outlive reloads (the plugin is never
/// unloaded) and one `bucket_prefix` shares a bucket across routes' filters as the key
/// says. Sharded by key hash, each shard behind its own lock; only a thread whose last
/// key differs comes here (`BucketKeyCache` keeps the last key's bucket).
final class LocalBuckets: Sendable {
    static let shared = LocalBuckets()

    /// Inserts into a shard between two sweeps of its expired buckets.
    static let sweepEvery = 1024
    static let shardCount = 16

    /// Buckets a shard holds at most (16,384 by default: 262,144 in all, ~50 MiB).
    let maxPerShard: Int

    private final class Shard: Sendable {
        struct Table {
            var buckets: [String: LocalBucket] = [:]
            var insertsSinceSweep = 0
        }
        let table = Mutex(Table())
    }

    private let shards: [Shard] = (0..<LocalBuckets.shardCount).map { _ in Shard() }

    init(maxPerShard: Int = 16_384) {
        self.maxPerShard = max(maxPerShard, 8)
    }

    /// The bucket of `key`, made if there is none. Making one in a full shard first
    /// drops its expired buckets, then, if more than seven eighths are left, the ones
    /// closest to a full budget down to seven eighths (so a full shard is scanned at
    /// most once per an eighth of its size in inserts) (nginx's `limit_req` zone drops its least recently
    /// used states when full): a client that varies its key cannot grow the table
    /// without bound, and what an evicted client regains is the least possible.
    func bucket(_ key: String, now: UInt64) -> LocalBucket {
        let shard = shards[Int(truncatingIfNeeded: UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        return shard.table.withLock { t in
            if let found = t.buckets[key] { return found }
            t.insertsSinceSweep += 1
            let full = t.buckets.count >= maxPerShard
            if full || t.insertsSinceSweep >= Self.sweepEvery {
                t.insertsSinceSweep = 0
                t.buckets = t.buckets.filter { !$0.value.retireIfExpired(now: now) }
                // A full shard leaves itself an eighth of room: a sweep that freed only a
                // few would otherwise be followed by another at the next insert.
                let room = maxPerShard - maxPerShard / 8
                if full && t.buckets.count > room { Self.evict(&t.buckets, downTo: room) }
            }
            let made = LocalBucket(now: now)
            t.buckets[key] = made
            return made
        }
    }

    /// Drop the buckets whose budgets are full again soonest, leaving `kept`.
    private static func evict(_ buckets: inout [String: LocalBucket], downTo kept: Int) {
        var byExpiry = buckets.map { (key: $0.key, expiresAt: $0.value.expiresAt) }
        byExpiry.sort { $0.expiresAt < $1.expiresAt }
        for entry in byExpiry.prefix(max(1, byExpiry.count - kept)) {
            buckets.removeValue(forKey: entry.key)?.retire()
        }
    }

    /// Buckets held now (for tests).
    var count: Int {
        shards.reduce(0) { sum, shard in sum + shard.table.withLock { $0.buckets.count } }
    }
}
