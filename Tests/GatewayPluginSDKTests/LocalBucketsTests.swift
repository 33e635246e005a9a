import Testing

@testable import RateLimitPlugin

/// `store: local`'s bucket table, driven with explicit clock values.
@Suite struct LocalBucketsTests {
    static let second: UInt64 = 1_000_000_000

    /// `requests` per `per` seconds, burst `requests`.
    static func limit(_ requests: Int, perSeconds: UInt64) -> RateLimitConfig.Limit {
        let interval = perSeconds * second / UInt64(requests)
        return RateLimitConfig.Limit(
            requests: requests, per: "\(perSeconds)s", burst: requests, interval: interval,
            tolerance: UInt64(requests) * interval, refusalBody: "")
    }

    static func decide(_ bucket: LocalBucket, _ limits: [RateLimitConfig.Limit], now: UInt64) -> RateDecision? {
        bucket.decide(count: limits.count, now: now) { GCRA.evaluate(limits, tats: $0, now: $1) }
    }

    /// Two event loops: one reads the clock, the other reads it later but takes the
    /// bucket's lock first. The first is decided as of the later time, so the remaining
    /// counts go down one per request and the last request of the budget is admitted.
    @Test func aRequestThatReadTheClockEarlierIsDecidedAtTheBucketsTime() throws {
        let limits = [Self.limit(3, perSeconds: 60)]  // one per 20 s, burst 3
        let bucket = LocalBucket(now: 0)
        let t = 1000 * Self.second
        let first = try #require(Self.decide(bucket, limits, now: t + Self.second / 1000))
        let late = try #require(Self.decide(bucket, limits, now: t))  // read its clock 1 ms earlier
        let last = try #require(Self.decide(bucket, limits, now: t))
        #expect([first, late, last].map(\.admitted) == [true, true, true])
        #expect([first, late, last].map(\.remaining) == [2, 1, 0])
        #expect(Self.decide(bucket, limits, now: t + Self.second / 1000)?.admitted == false)
    }

    @Test func threadsSharingABucketAdmitExactlyTheBudget() async {
        let table = LocalBuckets()
        let limits = [Self.limit(1000, perSeconds: 3600)]
        let now = 5 * Self.second
        // 8 tasks × 400 decisions on one key, each task looking the bucket up itself.
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var admitted = 0
                    for _ in 0..<400 where Self.decide(table.bucket("route\u{1}c:alice", now: now), limits, now: now)?.admitted == true {
                        admitted += 1
                    }
                    return admitted
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 1000)
        #expect(table.count == 1)
    }

    /// A request that read the clock before another one updated the bucket (it waited
    /// for the lock) must not move the bucket's time back: the next refill would count
    /// the gap twice and admit more than the rate.
    @Test func aTokenBucketNeverMovesItsTimeBack() {
        let limits = [Self.limit(10, perSeconds: 10)]  // one token per second, burst 10
        var state: [UInt64] = [0, 0]
        let decide = { (now: UInt64) in state.withUnsafeMutableBufferPointer { TokenBucket.evaluate(limits, state: $0, now: now) } }
        for _ in 0..<5 { #expect(decide(100 * Self.second).admitted) }
        // 101 s: one token back (6), one taken (5); then a late request stamped 100.5 s (4).
        #expect(decide(101 * Self.second).admitted)
        #expect(decide(100 * Self.second + Self.second / 2).admitted)
        #expect(state[1] == 101 * Self.second)
        // 102.5 s: 1.5 tokens back since 101 s, so 5 whole ones; from 100.5 s it would be 6.
        var admitted = 0
        while decide(102 * Self.second + Self.second / 2).admitted { admitted += 1 }
        #expect(admitted == 5)
    }

    @Test func aBucketOfAnotherShapeStartsFull() {
        let table = LocalBuckets()
        let bucket = table.bucket("k", now: 1)
        let one = [Self.limit(2, perSeconds: 60)]
        #expect(Self.decide(bucket, one, now: 1)?.remaining == 1)
        // A reload that adds a limit: the state is read as new, not as the old words.
        let two = [Self.limit(2, perSeconds: 60), Self.limit(10, perSeconds: 3600)]
        let decision = Self.decide(bucket, two, now: 2)
        #expect(decision?.admitted == true)
        #expect(decision?.remaining == 1)
    }

    @Test func expiredBucketsAreSweptAndAHolderLooksItsKeyUpAgain() throws {
        let table = LocalBuckets()
        let limits = [Self.limit(3, perSeconds: 60)]
        let held = table.bucket("held", now: Self.second)
        #expect(Self.decide(held, limits, now: Self.second)?.remaining == 2)
        // A bucket in use is not swept while its budget is not full again.
        let keys = 16 * LocalBuckets.sweepEvery * 2
        for i in 0..<keys { _ = Self.decide(table.bucket("k\(i)", now: 2 * Self.second), limits, now: 2 * Self.second) }
        #expect(Self.decide(held, limits, now: 2 * Self.second)?.remaining == 1)
        #expect(table.count == keys + 1)

        // A minute later every budget is full: the next inserts sweep the shards.
        let later = 200 * Self.second
        for i in 0..<keys { _ = Self.decide(table.bucket("n\(i)", now: later), limits, now: later) }
        #expect(table.count < keys + keys / 2, "\(table.count) buckets held")
        // The held bucket was swept (it was idle; every shard had ~2,048 inserts, a
        // sweep per 1,024): deciding on it says so, and a fresh lookup gives a full budget.
        #expect(Self.decide(held, limits, now: later) == nil)
        let again = table.bucket("held", now: later)
        #expect(again !== held)
        #expect(Self.decide(again, limits, now: later)?.remaining == 2)
    }

    /// A client varying its key cannot grow the table without bound: a full shard drops
    /// the buckets whose budgets come back soonest, and keeps the most spent ones.
    @Test func aFullTableDropsTheBucketsClosestToAFullBudget() {
        let table = LocalBuckets(maxPerShard: 64)
        let limits = [Self.limit(10, perSeconds: 3600)]
        let now = Self.second
        let heavy = table.bucket("heavy", now: now)
        for _ in 0..<10 { #expect(Self.decide(heavy, limits, now: now)?.admitted == true) }
        // 4,096 other keys with one request each: their budgets come back in 6 minutes,
        // the heavy one's in an hour.
        for i in 0..<(LocalBuckets.shardCount * 64 * 4) {
            #expect(Self.decide(table.bucket("light\(i)", now: now), limits, now: now)?.admitted == true)
        }
        #expect(table.count <= LocalBuckets.shardCount * 64)
        #expect(table.bucket("heavy", now: now) === heavy)
        #expect(Self.decide(heavy, limits, now: now)?.admitted == false)
    }

    @Test func aSweepKeepsBucketsWhoseBudgetIsStillSpent() {
        let table = LocalBuckets()
        let limits = [Self.limit(3, perSeconds: 3600)]
        let now = Self.second
        for i in 0..<(16 * LocalBuckets.sweepEvery * 2) {
            let bucket = table.bucket("busy\(i)", now: now)
            #expect(Self.decide(bucket, limits, now: now)?.admitted == true)
        }
        let count = table.count
        // Ten minutes later every budget still has a request out: nothing is dropped.
        let later = now + 600 * Self.second
        for i in 0..<(16 * LocalBuckets.sweepEvery * 2) { _ = Self.decide(table.bucket("new\(i)", now: later), limits, now: later) }
        #expect(table.count >= count)
        #expect(Self.decide(table.bucket("busy7", now: later), limits, now: later)?.remaining == 1)
    }
}
