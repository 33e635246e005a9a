import GatewayPluginSDK

/// One stream through the cache. Request side: decide whether to look up, answer a
/// fresh hit locally, otherwise lead the miss upstream or wait for the leader of the
/// same key. Response side (`CacheFilter+Response.swift`): store what may be stored,
/// serve stale on an upstream error, wake the waiters.
final class CacheFilter: StreamFilter {
    enum Kind {
        /// GET and HEAD share entries; a HEAD is answered from a GET entry.
        case get, head, post
        /// Not cached; a successful unsafe method invalidates the URI's GET entry.
        case other(unsafe: Bool)
    }

    /// What `X-Cache` says.
    enum Label: String {
        case hit = "HIT", miss = "MISS", bypass = "BYPASS", stale = "STALE"
    }

    /// Events this filter posts to itself (`ResumeHandle.post`).
    enum Event: UInt64 {
        /// The leader is done: look again.
        case landed = 1
        /// The leader got an upstream error: look again, and serve stale if possible.
        case landedWithError = 2
        /// Waited `collapse_timeout`: go upstream.
        case timeout = 3
    }

    let factory: CacheFactory
    var config: CacheConfig { factory.config }
    var zone: CacheZone { factory.zone }

    var kind = Kind.other(unsafe: false)
    var label = Label.bypass
    /// The response may be stored (a miss that is not a HEAD, nor forbidden by the request).
    var mayStore = false
    var primaryKey: CacheKey?
    /// The key looked up (the primary key, or a variant key) and the Vary names used.
    var lookupKey: CacheKey?
    var lookupVary: [String] = []
    var bodyDigest: CacheKey?
    var awaitingBody = false
    /// A stale entry usable if the upstream fails (stale_if_error).
    var stale: CachedResponse?
    /// Leading the flight of this key (collapsed misses).
    var flight: (key: CacheKey, id: UInt64)?
    /// Waiting on another stream's flight.
    var waiting: (key: CacheKey, id: UInt64, handle: ResumeHandle)?
    /// The response being copied for storage.
    var capture: Capture?
    /// `backend: shared`: the read under way, and the Vary marker it went through.
    var sharedRead: SharedRead?
    var sharedMarker: (names: [String], keepUntilWall: UInt64)?

    struct Capture {
        var status: UInt32
        var headers: [(name: String, value: String)]
        var freshness: StorePolicy.Freshness
        var storedAt: UInt64
        var body: [UInt8]
    }

    init(factory: CacheFactory) {
        self.factory = factory
    }

    // MARK: - Request

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        let method = stream.attribute(.method) ?? ""
        switch method {
        case "GET" where config.cacheGET: kind = .get
        case "HEAD" where config.cacheHEAD: kind = .head
        case "POST" where config.cachePOST: kind = .post
        case "GET", "HEAD", "OPTIONS", "TRACE": kind = .other(unsafe: false)
        default: kind = .other(unsafe: true)
        }
        if case .other = kind { return .continue }
        if let storeAnyway = requestBypass(stream) {
            // A GET that asked not to be answered from the cache may refresh its entry.
            if storeAnyway, case .get = kind, let primary = primaryKey(stream, method: "GET") {
                (primaryKey, lookupKey, mayStore) = (primary, primary, true)
            }
            return .continue
        }
        if case .post = kind, !endOfStream {
            // The body is part of the key: have it whole, if it is small enough to hash.
            let length = stream.header("content-length").flatMap { Int($0.trimmingSpaces) }
            guard let length, length <= config.maxRequestBodyBytes else { return .continue }
            awaitingBody = true
            return .buffer
        }
        if case .post = kind { bodyDigest = CacheKey.digest(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return lookUp(stream)
    }

    func onRequestBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus {
        guard awaitingBody, endOfStream else { return .continue }
        awaitingBody = false
        bodyDigest = CacheKey.digest(chunk)
        guard bodyDigest != nil else { return .continue }
        return lookUp(stream)
    }

    /// Nil if the request may use the cache; otherwise whether its response may still
    /// be stored (request `no-cache` refreshes the entry; `no-store`, `Authorization`
    /// and oversized keys do not).
    private func requestBypass(_ stream: Stream) -> Bool? {
        if !config.cacheAuthorized && stream.withHeader("authorization", .request, { _, _ in true }) != nil { return false }
        guard config.honourRequestCacheControl else { return nil }
        let values = stream.headerValues("cache-control")
        guard !values.isEmpty else { return nil }
        let cc = CacheControl(values)
        if cc.noStore { return false }
        if cc.noCache || cc.maxAge == 0 { return true }
        return nil
    }

    /// Look the request up: a fresh hit is answered here; a miss leads or joins the
    /// flight of its key.
    private func lookUp(_ stream: Stream) -> FilterStatus {
        let now = GatewayHost.monotonicNanoseconds()
        guard let primary = primaryKey(stream, method: kind.keyMethod) else { return .continue }
        primaryKey = primary
        if config.backend == .shared { return startSharedRead(stream, .lookUp) }
        let found = find(stream, primary: primary, now: now)
        guard let key = found.key else { return .continue }
        return decide(stream, key: key, entry: found.entry, now: now)
    }

    /// After the lookup of `key` found `entry` (or nothing): answer a fresh hit, keep a
    /// usable stale entry, and lead or join the flight of the miss.
    func decide(_ stream: Stream, key: CacheKey, entry: CachedResponse?, now: UInt64) -> FilterStatus {
        if let entry {
            if entry.isFresh(now: now) && serve(stream, entry, .hit, now: now) { return .stop }
            if config.staleIfError > 0 && entry.isUsableStale(now: now) { stale = entry }
        }
        label = .miss
        if case .head = kind { return .continue }
        mayStore = true
        guard config.collapse else { return .continue }
        let id = CollapseTable.makeID()
        if zone.flights.lead(key, id: id) {
            flight = (key, id)
            return .continue
        }
        guard let handle = stream.makeResumeHandle() else { return .continue }
        if zone.flights.wait(key, CollapseTable.Waiter(id: id, handle: handle)) {
            waiting = (key, id, handle)
            handle.post(eventID: Event.timeout.rawValue, delayMilliseconds: config.collapseTimeoutMilliseconds)
            return .pause
        }
        // The flight landed between the two calls: one more look.
        if config.backend == .shared { return startSharedRead(stream, .reread(serveStale: false)) }
        return answerFromStore(stream, serveStale: false) ? .stop : .continue
    }

    /// The key to look up (through a Vary marker, if the resource has one) and what is
    /// stored under it. `key` is nil when the variant key cannot be built (too long).
    func find(_ stream: Stream, primary: CacheKey, now: UInt64) -> (key: CacheKey?, entry: CachedResponse?) {
        var object = zone.store.get(primary, now: now)
        var key = primary
        lookupVary = []
        if case .variants(let names, _) = object {
            guard let variant = variantKey(stream, primary: primary, names: names) else { return (nil, nil) }
            lookupVary = names
            key = variant
            object = zone.store.get(variant, now: now)
        }
        lookupKey = key
        if case .response(let entry) = object { return (key, entry) }
        return (key, nil)
    }

    /// After waiting: answer from the store if possible (fresh, or stale when the
    /// leader failed). True if a reply was sent.
    func answerFromStore(_ stream: Stream, serveStale: Bool) -> Bool {
        guard let primary = primaryKey else { return false }
        let now = GatewayHost.monotonicNanoseconds()
        guard let entry = find(stream, primary: primary, now: now).entry else { return false }
        if entry.isFresh(now: now) { return serve(stream, entry, .hit, now: now) }
        if config.staleIfError > 0 && entry.isUsableStale(now: now) {
            if serveStale { return serve(stream, entry, .stale, now: now) }
            stale = entry
        }
        return false
    }

    /// Answer with `entry` (status, headers, body; plus Age and X-Cache).
    func serve(_ stream: Stream, _ entry: CachedResponse, _ label: Label, now: UInt64) -> Bool {
        let sent = entry.body.withUnsafeBytes { body in
            HostBridge.sendReply(
                stream, status: entry.status, headers: entry.headers,
                extra: [("age", String(entry.age(now: now))), (config.header, label.rawValue)], body: body,
                details: label == .hit ? "cache: hit" : "cache: stale answer to an upstream error")
        }
        if sent { self.label = label }
        return sent
    }

    // MARK: - Waiting on a flight

    func onAsyncEvent(_ stream: Stream, eventID: UInt64) {
        guard let waited = waiting, let event = Event(rawValue: eventID) else { return }
        waiting = nil
        switch event {
        case .timeout:
            _ = zone.flights.leave(waited.key, id: waited.id)
        case .landed, .landedWithError:
            if config.backend == .shared {
                // Read the leader's entry back from the shared store (its answer resumes us).
                if startSharedRead(stream, .reread(serveStale: event == .landedWithError)) == .pause { return }
            } else if answerFromStore(stream, serveStale: event == .landedWithError) {
                return
            }
        }
        // Go upstream ourselves (and store the response if it may be stored).
        stream.continue()
    }

    func onStreamComplete(_ stream: Stream) {
        if let waited = waiting {
            waiting = nil
            _ = zone.flights.leave(waited.key, id: waited.id)
        }
        land(.landed)
        capture = nil
    }

    /// End this stream's flight, if it leads one, and wake its waiters (after the lock).
    func land(_ event: Event) {
        guard let led = flight else { return }
        flight = nil
        let waiters = zone.flights.land(led.key, leader: led.id)
        for waiter in waiters { waiter.handle.post(eventID: event.rawValue) }
    }
}

extension CacheFilter.Kind {
    /// GET and HEAD share the "GET" entry.
    var keyMethod: String {
        switch self {
        case .post: return "POST"
        default: return "GET"
        }
    }
}
