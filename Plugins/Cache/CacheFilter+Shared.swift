import GatewayPluginSDK

/// `backend: shared`: entries live in the host's shared store (Redis when the gateway
/// has `shared_store`, else the process), as `SharedRecord`s under
/// "<zone>:<key hex>". A lookup pauses around `shared_get` (two reads when the
/// resource varies: the marker, then the variant); the answer comes to
/// `onSharedResult` on the stream's loop and continues the same flow as the memory
/// backend (`decide`). Stores are fire-and-forget `shared_set`s with a TTL of the
/// remaining freshness plus the stale-if-error window.
extension CacheFilter {
    /// Why a shared read is under way.
    enum SharedRead: Equatable {
        /// The request's own lookup.
        case lookUp
        /// After waiting on the flight of the same key: read the leader's entry.
        case reread(serveStale: Bool)
    }

    /// Event ids of this filter's shared reads.
    enum SharedStep: UInt64 {
        case primary = 10, variant = 11
    }

    func sharedKey(_ key: CacheKey) -> String {
        config.zone + ":" + key.hex
    }

    /// Read the primary key; `.pause` when the answer will come to `onSharedResult`.
    func startSharedRead(_ stream: Stream, _ purpose: SharedRead) -> FilterStatus {
        guard let primary = primaryKey else { return .continue }
        (sharedMarker, lookupVary, lookupKey) = (nil, [], primary)
        guard stream.sharedGet(key: sharedKey(primary), eventID: SharedStep.primary.rawValue) else {
            if purpose == .lookUp { (label, mayStore) = (.miss, false) }
            return .continue
        }
        sharedRead = purpose
        return .pause
    }

    func onSharedResult(_ stream: Stream, eventID: UInt64, result: SharedStoreResult) {
        guard let purpose = sharedRead, let step = SharedStep(rawValue: eventID), let primary = primaryKey else { return }
        sharedRead = nil
        guard case .bytes(let value) = result else {
            // The store is down or slow: a miss, straight upstream, nothing stored (and
            // no flight: waiters would only read the same unavailable store).
            if purpose == .lookUp { (label, mayStore) = (.miss, false) }
            stream.continue()
            return
        }
        let nowMonotonic = GatewayHost.monotonicNanoseconds()
        var entry: CachedResponse?
        switch value.flatMap(SharedRecord.decode) {
        case .variants(let names, let keepUntilWall)? where step == .primary:
            guard let variant = variantKey(stream, primary: primary, names: names) else {
                stream.continue()  // key material too long: bypass, as with the memory backend
                return
            }
            (lookupVary, lookupKey, sharedMarker) = (names, variant, (names, keepUntilWall))
            if stream.sharedGet(key: sharedKey(variant), eventID: SharedStep.variant.rawValue) {
                sharedRead = purpose
                return
            }
        case .response(let response)?:
            entry = response.entry(nowWall: SharedRecord.wallNanoseconds(), nowMonotonic: nowMonotonic)
        default:
            break  // absent, corrupt, foreign, a tombstone, or a marker under a variant key: a miss
        }
        let key = lookupKey ?? primary
        switch purpose {
        case .lookUp:
            if decide(stream, key: key, entry: entry, now: nowMonotonic) == .continue { stream.continue() }
        case .reread(let serveStale):
            if let entry {
                if entry.isFresh(now: nowMonotonic) && serve(stream, entry, .hit, now: nowMonotonic) { return }
                if config.staleIfError > 0 && entry.isUsableStale(now: nowMonotonic) {
                    if serveStale && serve(stream, entry, .stale, now: nowMonotonic) { return }
                    stale = entry
                }
            }
            stream.continue()
        }
    }

    /// Store the captured response in the shared store (and its Vary marker), then wake
    /// the waiters: their reads are sent after these writes on the host's one pipelined
    /// connection, so they find the entry.
    func commitShared(_ stream: Stream, _ captured: Capture, primary: CacheKey) {
        defer { land(.landed) }
        let nowMonotonic = GatewayHost.monotonicNanoseconds()
        let nowWall = SharedRecord.wallNanoseconds()
        let elapsed = nowMonotonic > captured.storedAt ? nowMonotonic - captured.storedAt : 0
        let freshFor = captured.freshness.remaining
        let staleFor = captured.freshness.staleAllowed ? config.staleIfError : 0
        let keepFor = freshFor.addingReportingOverflow(staleFor).overflow ? UInt64.max : freshFor + staleFor
        guard keepFor > elapsed else { return }
        let left = keepFor - elapsed
        let record = SharedRecord.response(
            SharedResponse(
                status: captured.status, headers: captured.headers, body: captured.body, storedAtWall: nowWall - min(elapsed, nowWall),
                initialAge: captured.freshness.initialAge, freshFor: freshFor, staleFor: staleFor))
        let names = captured.freshness.varyNames
        if names.isEmpty {
            _ = stream.sharedSet(key: sharedKey(primary), value: record.encoded(), ttlMilliseconds: Self.milliseconds(left))
            return
        }
        guard let key = names == lookupVary ? lookupKey : variantKey(stream, primary: primary, names: names) else { return }
        // The marker lives as long as the longest-lived variant it is known to lead to.
        let (until, overflow) = nowWall.addingReportingOverflow(left)
        var markerUntil = overflow ? UInt64.max : until
        if let known = sharedMarker, known.names == names { markerUntil = max(markerUntil, known.keepUntilWall) }
        _ = stream.sharedSet(key: sharedKey(key), value: record.encoded(), ttlMilliseconds: Self.milliseconds(left))
        _ = stream.sharedSet(
            key: sharedKey(primary), value: SharedRecord.variants(names: names, keepUntilWall: markerUntil).encoded(),
            ttlMilliseconds: Self.milliseconds(markerUntil - nowWall))
    }

    /// Remove the entry under `key`: from the zone, or (shared) by overwriting it with
    /// an empty value that expires in 1 ms (the ABI has no delete; an empty value is a miss).
    func invalidate(_ stream: Stream, _ key: CacheKey) {
        switch config.backend {
        case .memory: zone.store.remove(key)
        case .shared: _ = stream.sharedSet(key: sharedKey(key), value: [], ttlMilliseconds: 1)
        }
    }

    /// Nanoseconds to a TTL in milliseconds, rounded up, at least 1 (0 means no expiry).
    static func milliseconds(_ nanoseconds: UInt64) -> UInt64 {
        max(nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1), 1)
    }
}
