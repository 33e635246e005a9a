import NIOCore
import NIOHTTP1

/// Per-request state of tries, retries, breaker slots and the replay buffer.
/// Plain fields: a request that never fails touches only `replayFirst` (when it has
/// a body) and the counters below.
struct AttemptState {
    var retriesDone = 0
    var freshConnectionRetryDone = false
    /// The current try runs on a pooled connection that carried an earlier exchange.
    var reusedConnection = false
    /// The next try must open a new connection to this target (keep-alive race).
    var freshTarget: Int?
    var usedFallback = false
    /// Status of the response head being forwarded.
    var upstreamStatus = 0
    /// Slots held in the upstream's breaker counters.
    var holdsInFlight = false
    var holdsRetry = false
    var holdsPending = false
    /// Forwarded body parts, kept while they fit the route's `retries.buffer_bytes`.
    var replayFirst: ByteBuffer?
    var replayMore: [ByteBuffer] = []
    var replayBytes = 0
    var replayLost = false

    mutating func remember(_ body: ByteBuffer, limit: Int) {
        guard !replayLost else { return }
        replayBytes += body.readableBytes
        if replayBytes > limit {
            forgetReplay()
            replayLost = true
        } else if replayFirst == nil {
            replayFirst = body
        } else {
            replayMore.append(body)
        }
    }

    mutating func forgetReplay() {
        replayFirst = nil
        if !replayMore.isEmpty { replayMore = [] }
    }

    var replayParts: [HTTPClientRequestPart] {
        guard let first = replayFirst else { return [] }
        return [.body(.byteBuffer(first))] + replayMore.map { .body(.byteBuffer($0)) }
    }
}

extension Exchange {
    var retryPolicy: GatewayConfig.Retries { route?.reliability.retries ?? GatewayConfig.Retries() }

    /// Remember a body part written to the upstream (for a replay).
    @inline(__always)
    func rememberForReplay(_ body: ByteBuffer) {
        attempt.remember(body, limit: route?.reliability.retries.bufferBytes ?? 0)
    }

    /// The current try failed before its response head reached the client. Retry,
    /// fail over, or answer the error. Returns false, having changed nothing, for a
    /// status failure that should be forwarded as it is (no retry, no fallback).
    @discardableResult
    func tryFailed(_ failure: TryFailure, message: String) -> Bool {
        guard !done, let upstream, let route else { return true }
        let verdict = RetryRules.decide(
            failure, retryPolicy,
            .init(
                method: requestMethod, retryNonIdempotent: route.reliability.retryNonIdempotent, retriesDone: attempt.retriesDone,
                reusedConnection: attempt.reusedConnection, freshConnectionRetryDone: attempt.freshConnectionRetryDone,
                replayable: !attempt.replayLost))
        var retry = verdict
        if verdict == .retryOtherHost {
            if !upstream.balancer.hasCandidate(excluding: triedTargets) {
                retry = .giveUp
            } else if failure != .connectFailure && !takeRetrySlot(upstream) {
                retry = .giveUp
            }
        }
        if retry == .giveUp, case .status = failure, !canFallBack(route) { return false }
        endTry(closeConnection: true)
        switch retry {
        case .retryOnFreshConnection:
            attempt.freshConnectionRetryDone = true
            attempt.freshTarget = lastTarget
            prepareReplay()
            connectUpstream()
        case .retryOtherHost:
            prepareReplay()
            if failure == .connectFailure {
                connectUpstream()
                return true
            }
            attempt.retriesDone += 1
            let delay = RetryRules.backoff(
                retry: attempt.retriesDone, base: retryPolicy.backoffBase, max: retryPolicy.backoffMax, random: UInt64.random(in: 0...UInt64.max))
            if delay.nanoseconds <= 0 {
                connectUpstream()
            } else {
                loop.assumeIsolated().scheduleTask(in: delay) { [self] in
                    guard !self.done else { return }
                    self.connectUpstream()
                }
            }
        case .giveUp:
            return giveUp(failure, message: message)
        }
        return true
    }

    private func canFallBack(_ route: CompiledRoute) -> Bool {
        if route.reliability.fallbackResponse != nil { return true }
        guard !attempt.usedFallback, let name = route.reliability.fallbackUpstream else { return false }
        return state.upstreams[name] != nil
    }

    /// No more tries on this upstream: the route's fallback upstream, its fallback
    /// response, or gw's error answer.
    @discardableResult
    func giveUp(_ failure: TryFailure, message: String) -> Bool {
        guard let route else { return true }
        if !attempt.usedFallback, let name = route.reliability.fallbackUpstream, let fallback = state.upstreams[name],
            mayResend(after: failure, route)
        {
            attempt.usedFallback = true
            releaseSlots()
            upstream = fallback
            triedTargets.removeAll()
            attempt.retriesDone = 0
            prepareReplay()
            connectUpstream()
            return true
        }
        if let response = route.reliability.fallbackResponse {
            respondFallback(response, cause: failure.errorType)
            return true
        }
        switch failure {
        case .status:
            return false
        case .connectFailure:
            noHealthyUpstream(triedAll: true)
        case .reset:
            failUpstream(status: .badGateway, type: failure.errorType, message: message)
        case .timeout:
            failUpstream(status: .gatewayTimeout, type: failure.errorType, message: message)
        case .overflow:
            failUpstream(status: .serviceUnavailable, type: failure.errorType, message: message)
        }
        return true
    }

    /// Whether the request may be sent again, to the fallback upstream, as retries are:
    /// every body byte sent so far is still held (a body that outgrew
    /// `retries.buffer_bytes` would reach it truncated), and a request the failed
    /// upstream may have received and acted on is sent again only if its method is
    /// idempotent or the route allows `retry_non_idempotent` (docs/decisions.md 21).
    private func mayResend(after failure: TryFailure, _ route: CompiledRoute) -> Bool {
        guard !attempt.replayLost else { return false }
        switch failure {
        case .connectFailure, .overflow:
            return true  // nothing of it reached an upstream
        case .reset, .timeout, .status:
            return RetryRules.isIdempotent(requestMethod) || route.reliability.retryNonIdempotent
        }
    }

    /// Close the try's connection and return its accounting (target in-flight count).
    func endTry(closeConnection: Bool) {
        firstByteDeadline = nil
        responseHeadReceived = false
        headSentUpstream = false
        if closeConnection, let connection {
            self.connection = nil
            connection.close()
        }
        if let upstream, let index = targetIndex {
            upstream.balancer.active[index].add(-1)
            lastTarget = index
            targetIndex = nil
        }
        if attempt.holdsPending, let upstream {
            attempt.holdsPending = false
            upstream.health.pending.wrappingAdd(-1, ordering: .relaxed)
        }
    }

    /// The request's parts to send again on the next try.
    private func prepareReplay() {
        var parts = attempt.replayParts
        attempt.forgetReplay()
        attempt.replayBytes = 0
        parts.append(contentsOf: pendingUpstream)
        if requestForwardedEnd && !pendingUpstream.contains(where: { if case .end = $0 { true } else { false } }) {
            parts.append(.end(nil))
        }
        pendingUpstream = parts
    }

    private func takeRetrySlot(_ upstream: UpstreamSet) -> Bool {
        if attempt.holdsRetry { return true }
        let breakers = upstream.config.reliability.breakers
        var inFlight = 0
        for count in upstream.balancer.active { inFlight += count.value }
        let allowed = RetryRules.allowedConcurrentRetries(inFlight: inFlight, breakers)
        let now = upstream.health.retries.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= allowed else {
            upstream.health.retries.wrappingAdd(-1, ordering: .relaxed)
            return false
        }
        attempt.holdsRetry = true
        return true
    }

    /// Give back every breaker slot (the exchange ends or moves to its fallback upstream).
    func releaseSlots() {
        guard let upstream else { return }
        let health = upstream.health
        if attempt.holdsRetry {
            attempt.holdsRetry = false
            health.retries.wrappingAdd(-1, ordering: .relaxed)
        }
        if attempt.holdsInFlight {
            attempt.holdsInFlight = false
            health.inFlight.wrappingAdd(-1, ordering: .relaxed)
        }
        if attempt.holdsPending {
            attempt.holdsPending = false
            health.pending.wrappingAdd(-1, ordering: .relaxed)
        }
    }

    /// The response head was accepted: the retry slot and the replay buffer are no longer needed.
    func tryAnswered() {
        if attempt.holdsRetry, let upstream {
            attempt.holdsRetry = false
            upstream.health.retries.wrappingAdd(-1, ordering: .relaxed)
        }
        if attempt.replayFirst != nil { attempt.forgetReplay() }
    }

    /// Circuit breakers before a try: in-flight requests (first try only), then
    /// connections and pending connects when a new connection is needed.
    func admitRequest(_ upstream: UpstreamSet) -> String? {
        let breakers = upstream.config.reliability.breakers
        guard breakers.limitsRequests, !attempt.holdsInFlight else { return nil }
        let now = upstream.health.inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if now > breakers.maxRequests {
            upstream.health.inFlight.wrappingAdd(-1, ordering: .relaxed)
            return "upstream \"\(upstream.name)\" has max_requests (\(breakers.maxRequests)) requests in flight"
        }
        attempt.holdsInFlight = true
        return nil
    }

    func admitConnection(_ upstream: UpstreamSet) -> String? {
        let breakers = upstream.config.reliability.breakers
        guard breakers.limitsConnections else { return nil }
        let health = upstream.health
        let open = health.connections.load(ordering: .relaxed) + health.pending.load(ordering: .relaxed)
        if breakers.maxConnections > 0 && open >= breakers.maxConnections {
            // Idle keep-alive connections count toward the limit but carry nothing, and
            // each loop reuses only its own: one on another loop would refuse this one
            // until the upstream closed it. Only busy connections refuse; an idle one is
            // closed to make room (here if this loop has one, else on another loop).
            if open - health.idle.load(ordering: .relaxed) >= breakers.maxConnections {
                return "upstream \"\(upstream.name)\" has max_connections (\(breakers.maxConnections)) connections"
            }
            if downstream.pool?.closeIdle(of: health) != true {
                state.pools.shedIdle(of: health, limit: breakers.maxConnections, except: loop)
            }
        }
        let pending = health.pending.wrappingAdd(1, ordering: .relaxed).newValue
        if breakers.maxPending > 0 && pending > breakers.maxPending {
            health.pending.wrappingAdd(-1, ordering: .relaxed)
            return "upstream \"\(upstream.name)\" has max_pending (\(breakers.maxPending)) requests waiting for a connection"
        }
        attempt.holdsPending = true
        return nil
    }

    func connectionSettled() {
        if attempt.holdsPending, let upstream {
            attempt.holdsPending = false
            upstream.health.pending.wrappingAdd(-1, ordering: .relaxed)
        }
    }

    private func respondFallback(_ response: GatewayConfig.DirectResponse, cause: String) {
        releaseSlots()
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.utf8.count))
        headers.add(name: "x-gw-error", value: cause)
        headers.add(name: "x-gw-fallback", value: "response")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        if let run {
            run.startResponse(head, endOfStream: response.body.isEmpty)
            run.responseBody(ByteBuffer(string: response.body), end: true)
        } else {
            responseHeadReady(head)
            forwardResponseBody(ByteBuffer(string: response.body), end: true)
        }
    }

    /// Seconds a client should wait: one health-check interval (at least 1 s).
    var retryAfterSeconds: Int {
        guard let check = upstream?.config.reliability.healthCheck else { return 1 }
        return max(1, Int((check.interval.nanoseconds + 999_999_999) / 1_000_000_000))
    }
}
