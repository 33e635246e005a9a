import GatewayPluginSDK

extension CacheFilter {
    /// Response headers not kept in an entry: hop-by-hop fields, the framing (the host
    /// frames a cached reply itself), and the fields recomputed per answer.
    static let unstoredHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "age", "x-request-id", "set-cookie",
    ]

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        let status = Int(stream.attribute(.responseStatus) ?? "") ?? 0
        switch kind {
        case .other(let unsafe):
            // RFC 9111 §4.4: a successful unsafe method invalidates the URI's entry.
            if unsafe && (200..<400).contains(status), let key = getKey(stream) { invalidate(stream, key) }
            stream.setHeader(config.header, Label.bypass.rawValue, .response)
            return .continue
        case .post:
            if (200..<400).contains(status), let key = getKey(stream) { invalidate(stream, key) }
        case .get, .head:
            break
        }
        let now = GatewayHost.monotonicNanoseconds()
        if status >= 500, let stale, serve(stream, stale, .stale, now: now) {
            land(.landedWithError)
            return .stop
        }
        if mayStore && primaryKey != nil {
            prepareCapture(stream, status: status, now: now)
            if capture != nil && endOfStream { commit(stream) }
        }
        if capture == nil { land(status >= 500 ? .landedWithError : .landed) }
        stream.setHeader(config.header, label.rawValue, .response)
        return .continue
    }

    /// Copy the chunks of a response being stored, forwarding them unchanged; give up
    /// (and wake the waiters) once it outgrows `max_object_bytes`.
    func onResponseBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus {
        guard capture != nil else { return .continue }
        if capture!.body.count + chunk.count > config.maxObjectBytes {
            capture = nil
            land(.landed)
            return .continue
        }
        chunk.withMemoryRebound(to: UInt8.self) { capture!.body.append(contentsOf: $0) }
        if endOfStream { commit(stream) }
        return .continue
    }

    /// Decide whether the response may be stored and, if so, start its capture.
    private func prepareCapture(_ stream: Stream, status: Int, now: UInt64) {
        var facts = StorePolicy.Facts(status: status)
        facts.cacheControl = stream.headerValues("cache-control", .response)
        facts.expires = stream.header("expires", .response)
        facts.date = stream.header("date", .response)
        facts.age = stream.header("age", .response)
        facts.vary = stream.headerValues("vary", .response)
        facts.hasSetCookie = stream.withHeader("set-cookie", .response, { _, _ in true }) != nil
        facts.contentLength = stream.header("content-length", .response).flatMap { Int($0.trimmingSpaces) }
        guard case .store(let freshness) = StorePolicy.evaluate(facts, config: config),
            var headers = HostBridge.headers(stream, GW_RESPONSE)
        else { return }
        let connectionNamed = Set(
            stream.headerValues("connection", .response).flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } })
        headers.removeAll { Self.unstoredHeaders.contains($0.name) || $0.name == config.header || connectionNamed.contains($0.name) }
        var body: [UInt8] = []
        body.reserveCapacity(min(facts.contentLength ?? 0, config.maxObjectBytes))
        capture = Capture(status: UInt32(status), headers: headers, freshness: freshness, storedAt: now, body: body)
    }

    /// The whole response is here: store it (under its variant key if it varies) and
    /// wake the waiters.
    func commit(_ stream: Stream) {
        guard let captured = capture, let primary = primaryKey else { return }
        capture = nil
        if config.backend == .shared { return commitShared(stream, captured, primary: primary) }
        let freshness = captured.freshness
        let freshUntil = captured.storedAt + freshness.remaining
        let keepUntil = freshUntil + (freshness.staleAllowed ? config.staleIfError : 0)
        let entry = CachedResponse(
            status: captured.status, headers: captured.headers, body: captured.body, storedAt: captured.storedAt,
            initialAge: freshness.initialAge, freshUntil: freshUntil, keepUntil: keepUntil)
        let names = freshness.varyNames
        if names.isEmpty {
            zone.store.put(primary, .response(entry))
        } else if let key = names == lookupVary ? lookupKey : variantKey(stream, primary: primary, names: names) {
            // The marker lives as long as the longest-lived variant it leads to.
            var keepUntil = entry.keepUntil
            if case .variants(let known, let until) = zone.store.get(primary, now: GatewayHost.monotonicNanoseconds()), known == names {
                keepUntil = max(keepUntil, until)
            }
            zone.store.put(primary, .variants(names: names, keepUntil: keepUntil))
            zone.store.put(key, .response(entry))
        }
        land(.landed)
    }
}
