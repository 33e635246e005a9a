import GatewayPluginSDK
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The filter factory: one per configured filter, shared by every event loop.
final class RateLimiter: FilterFactory {
    let config: RateLimitConfig
    /// Unique in the process, unlike the object's address: a limiter freed at a reload
    /// and a new one made at the same address must not share a thread's cached key.
    let serial = RateLimiter.serials.wrappingAdd(1, ordering: .relaxed).newValue

    private static let serials = Atomic<UInt64>(0)

    init(config: JSONValue, context: ConfigContext) throws {
        self.config = try RateLimitConfig(config, filterName: context.filterName)
    }

    static let hooks: FilterHooks = [.requestHeaders, .responseHeaders, .asyncEvent]

    func makeFilter(stream: Stream) -> (any StreamFilter)? {
        RateLimitFilter(limiter: self)
    }

    /// The key of the bucket this request is counted in (local table or shared store): the route's name,
    /// a 0x01 byte, the configured prefix, then the keyed part (`c:` and the consumer,
    /// `ip:` and the client address, `h:` and the header's value; nothing when keyed by
    /// route). The last key built on the thread is reused while the route and the keyed
    /// part are the same bytes (one client or consumer sending in a burst): they are
    /// compared where the host keeps them, without a string of either.
    func bucketKey(_ stream: Stream, _ cache: BucketKeyCache = .current) -> String {
        stream.withAttribute(.routeName) { route in bucketKey(stream, route: route, cache) }
            ?? bucketKey(stream, route: UnsafeRawBufferPointer(start: nil, count: 0), cache)
    }

    private func bucketKey(_ stream: Stream, route: UnsafeRawBufferPointer, _ cache: BucketKeyCache) -> String {
        func key(_ tag: BucketKeyCache.Tag, _ part: UnsafeRawBufferPointer) -> String {
            cache.key(limiter: serial, route: route, prefix: config.bucketPrefix, tag: tag, part: part)
        }
        func clientIP() -> String {
            stream.withAttribute(.clientAddress) { key(.clientIP, $0) } ?? key(.clientIP, UnsafeRawBufferPointer(start: nil, count: 0))
        }
        switch config.key {
        case .route:
            return key(.route, UnsafeRawBufferPointer(start: nil, count: 0))
        case .clientIP:
            return clientIP()
        case .consumer:
            return stream.withMetadata(namespace: HostString("auth"), key: HostString("consumer")) { key(.consumer, $0) } ?? clientIP()
        case .header(let name):
            return stream.withHeader(name, .request, index: 0) { value, _ in key(.header, value) } ?? clientIP()
        }
    }

    /// Admit or refuse one request on this process's bucket of its key (`store:
    /// local`, and `store: shared` when the store is unavailable and
    /// `on_store_unavailable: local`). The thread's last key keeps its bucket: a
    /// burst of one client or consumer takes no table lookup.
    func decide(_ stream: Stream) -> RateDecision {
        let cache = BucketKeyCache.current
        let key = bucketKey(stream, cache)
        let limits = config.limits
        let algorithm = config.algorithm
        let count = limits.count * algorithm.stateWords
        let now = GatewayHost.monotonicNanoseconds()
        var bucket: LocalBucket
        if let cached = cache.bucket {
            bucket = cached
        } else {
            bucket = LocalBuckets.shared.bucket(key, now: now)
            cache.bucket = bucket
        }
        while true {
            let decision = bucket.decide(count: count, now: now) { state, now in
                algorithm == .gcra ? GCRA.evaluate(limits, tats: state, now: now) : TokenBucket.evaluate(limits, state: state, now: now)
            }
            if let decision { return decision }
            // Retired (swept or evicted) since this thread last used it.
            bucket = LocalBuckets.shared.bucket(key, now: now)
            cache.bucket = bucket
        }
    }
}

/// One stream: decides in the request hook, reports in the response hook.
final class RateLimitFilter: StreamFilter {
    let limiter: RateLimiter
    private var decision: RateDecision?

    init(limiter: RateLimiter) {
        self.limiter = limiter
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        if limiter.config.store == .shared {
            let limits = limiter.config.limits.map { SharedGCRALimit(interval: $0.interval, tolerance: $0.tolerance) }
            if stream.sharedGCRA(key: limiter.bucketKey(stream), limits: limits, eventID: 1) { return .pause }
            return unavailable(stream) ? .continue : .stop
        }
        return decideLocally(stream) ? .continue : .stop
    }

    /// Decide on this process's buckets. True: admitted (continue).
    private func decideLocally(_ stream: Stream) -> Bool {
        apply(limiter.decide(stream), stream)
    }

    /// Refuse with 429, or remember the decision for the response headers.
    private func apply(_ decision: RateDecision, _ stream: Stream) -> Bool {
        guard decision.admitted else {
            let limit = limiter.config.limits[decision.limit]
            stream.sendLocalReply(
                status: 429,
                headers: [
                    ("retry-after", String(decision.retryAfterSeconds)),
                    ("ratelimit-limit", String(limit.burst)),
                    ("ratelimit-remaining", "0"),
                    ("ratelimit-reset", String(decision.resetSeconds)),
                    ("content-type", "application/json"),
                ],
                body: limit.refusalBody, details: "rate_limit: \(limit.requests) per \(limit.per) exceeded")
            return false
        }
        self.decision = decision
        return true
    }

    /// The shared store did not answer: `on_store_unavailable` decides. True: continue.
    private func unavailable(_ stream: Stream) -> Bool {
        switch limiter.config.onStoreUnavailable {
        case .local: return decideLocally(stream)
        case .allow: return true
        case .deny:
            stream.sendLocalReply(
                status: 503, headers: [("retry-after", "1"), ("content-type", "application/json")],
                body: #"{"error":{"type":"rate_limit_unavailable","message":"the shared rate-limit store is unavailable"}}"#,
                details: "rate_limit: shared store unavailable, on_store_unavailable: deny")
            return false
        }
    }

    func onSharedResult(_ stream: Stream, eventID: UInt64, result: SharedStoreResult) {
        switch result {
        case .unavailable:
            if unavailable(stream) { _ = stream.continue() }
        case .gcra(let admitted, let refusedBy, let wait, let ahead):
            let limits = limiter.config.limits
            let decision: RateDecision
            if admitted {
                var d = RateDecision.admittedStart
                for (i, limit) in limits.enumerated() where i < ahead.count {
                    let used = min(ahead[i], limit.tolerance)
                    d.consider(limit: i, remaining: Int((limit.tolerance - used) / limit.interval), resetNanoseconds: ahead[i])
                }
                decision = d
            } else {
                decision = .refused(limit: refusedBy, resetNanoseconds: refusedBy < ahead.count ? ahead[refusedBy] : wait, waitNanoseconds: wait)
            }
            if apply(decision, stream) { _ = stream.continue() }
        case .value, .bytes:
            _ = stream.continue()
        }
    }

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        guard let decision else { return .continue }
        stream.setHeader("ratelimit-limit", limiter.config.limits[decision.limit].burst, .response)
        stream.setHeader("ratelimit-remaining", decision.remaining, .response)
        stream.setHeader("ratelimit-reset", decision.resetSeconds, .response)
        return .continue
    }
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    GatewayPluginExport.export(RateLimiter.self, name: "rate_limit", version: "0.2.0", required: [], host: host, handle: handle)
}

/// One thread's last bucket key (`RateLimiter.bucketKey`), the bytes it was built
/// from and the limiter that built it (by `serial`: limiters are freed at reloads).
final class BucketKeyCache {
    /// What the keyed part is; its text goes before the part's bytes.
    enum Tag: UInt8 {
        case route, clientIP, consumer, header

        var text: String {
            switch self {
            case .route: return ""
            case .clientIP: return "ip:"
            case .consumer: return "c:"
            case .header: return "h:"
            }
        }
    }

    private var limiter: UInt64 = 0
    private var tag = Tag.route
    private var route: [UInt8] = []
    private var part: [UInt8] = []
    private var key = ""
    /// The local bucket of `key`, once looked up (`RateLimiter.decide`).
    var bucket: LocalBucket?

    /// The key of `route` and `part`: the last one if they are the same as last time.
    func key(limiter: UInt64, route: UnsafeRawBufferPointer, prefix: String, tag: Tag, part: UnsafeRawBufferPointer) -> String {
        if self.limiter == limiter && self.tag == tag && Self.same(self.route, route) && Self.same(self.part, part) { return key }
        var joined = String(decoding: route, as: UTF8.self)
        joined += "\u{1}"
        joined += prefix
        joined += tag.text
        joined += String(decoding: part, as: UTF8.self)
        self.limiter = limiter
        self.tag = tag
        self.route.removeAll(keepingCapacity: true)
        self.route.append(contentsOf: route)
        self.part.removeAll(keepingCapacity: true)
        self.part.append(contentsOf: part)
        key = joined
        bucket = nil
        return joined
    }

    private static func same(_ kept: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard kept.count == bytes.count else { return false }
        guard let base = bytes.baseAddress, !kept.isEmpty else { return true }
        return kept.withUnsafeBytes { memcmp($0.baseAddress!, base, bytes.count) == 0 }
    }

    static var current: BucketKeyCache {
        if let pointer = pthread_getspecific(slot) { return Unmanaged<BucketKeyCache>.fromOpaque(pointer).takeUnretainedValue() }
        let cache = BucketKeyCache()
        pthread_setspecific(slot, Unmanaged.passRetained(cache).toOpaque())
        return cache
    }

    private static let slot: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<BucketKeyCache>.fromOpaque(pointer).release() }
        }
        return key
    }()
}
