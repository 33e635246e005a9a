import NIOCore
import NIOHTTP1
import PluginHost

/// The exchange toward its upstream: connecting, writing the request, its timers.
extension Exchange {
    // MARK: - Toward the upstream

    /// The request head passed every filter: connect (or answer directly).
    func requestHeadersReady() {
        guard !done, let route else { return }
        headersReady = true
        if case .direct(let status, let body, let contentType) = route.action {
            respondDirect(status: status, body: body, contentType: contentType)
            return
        }
        if case .ai(let runtime, let spec) = route.action {
            startAI(runtime: runtime, route: spec)
            return
        }
        connectUpstream()
    }

    /// Pick a target (or take the one a keep-alive race left) and start a try on
    /// an idle pooled connection or a new one. Failures go to `tryFailed`.
    func connectUpstream() {
        guard !done, let upstream, let pool = downstream.pool else { return }
        let index: Int
        let freshOnly = attempt.freshTarget != nil
        if let fresh = attempt.freshTarget {
            attempt.freshTarget = nil
            index = fresh
        } else {
            let hashKey: String?
            switch upstream.config.hashKey {
            case .clientIP: hashKey = downstream.clientAddress
            case .header(let name):
                // The value the upstream sees (gw's own x-request-id and forwarding headers), as on filtered routes.
                if let plain {
                    let head = plain.head.makeUpstreamHead(
                        scan: plain.scan, uri: plain.uri, requestID: requestID.string, clientAddress: downstream.clientAddress,
                        scheme: downstream.scheme)
                    hashKey = head.headers.first(name: name)
                } else if let lines = run?.requestBytes?.lines {
                    hashKey = lines.first(name)
                } else {
                    hashKey = currentRequestHead.headers.first(name: name)
                }
            }
            guard let picked = upstream.balancer.pick(hashKey: hashKey, excluding: triedTargets) else {
                giveUp(.connectFailure, message: "")
                return
            }
            index = picked
        }
        if let refusal = admitRequest(upstream) {
            giveUp(.overflow, message: refusal)
            return
        }
        triedTargets.insert(index)
        targetIndex = index
        upstream.balancer.active[index].add(1)
        let target = upstream.targets[index]
        if !freshOnly, let idle = pool.takeIdle(target) {
            attach(idle, target: target)
            return
        }
        if let refusal = admitConnection(upstream) {
            endTry(closeConnection: false)
            giveUp(.overflow, message: refusal)
            return
        }
        connecting = true
        pool.connect(target, of: upstream).assumeIsolated().whenComplete { [self] result in
            self.connecting = false
            self.connectionSettled()
            switch result {
            case .success(let connection):
                guard !self.done else {
                    pool.release(connection, maxIdle: upstream.config.maxIdlePerLoop)
                    return
                }
                self.attach(connection, target: target)
            case .failure(let error):
                guard !self.done else { return }
                upstream.balancer.active[index].failed("connect_failed")
                upstream.health.failed(index, kind: .local, cause: "connect_failed")
                self.state.services.logger.debug(
                    "upstream connect failed",
                    metadata: ["gw.upstream": "\(upstream.name)", "gw.target": "\(target.host):\(target.port)", "error.message": "\(error)"])
                self.tryFailed(.connectFailure, message: "")
            }
        }
    }

    var currentRequestHead: HTTPRequestHead { run?.requestHead ?? requestHead }

    /// The method the upstream sees (a filter may have changed it).
    var requestMethod: HTTPMethod { plain?.head.method ?? run?.requestMethod ?? requestHead.method }

    func attach(_ connection: UpstreamConnection, target: UpstreamSet.ResolvedTarget) {
        self.connection = connection
        connection.exchanges += 1
        attempt.reusedConnection = connection.exchanges > 1
        connection.handler.delegate = self
        connection.handler.setHoldReads(!context.channel.isWritable)
        if let plain {
            writePlainHead(plain, to: connection, target: target)
        } else if let run, let framing = linesFraming, let method = run.requestBytes?.method {
            let host = policyHost(target)
            // The lines are read where the run keeps them: a copy retained and released
            // their buffers (through Optional's generic value witnesses).
            connection.writeHead(method: method) { buffer in
                run.withRequestBytes { $0.writeUpstreamHead(into: &buffer, framing: framing, host: host, defaultHost: target.authority) }
                    ?? false
            }
        } else {
            var head = currentRequestHead
            if let upstream {
                switch upstream.config.hostHeader {
                case .preserve: if !head.headers.contains(name: "host") { head.headers.add(name: "host", value: target.authority) }
                case .target: head.headers.replaceOrAdd(name: "host", value: target.hostHeader)
                case .fixed(let value): head.headers.replaceOrAdd(name: "host", value: value)
                }
            }
            connection.write(.head(head))
        }
        headSentUpstream = true
        for part in pendingUpstream {
            if case .body(.byteBuffer(let buffer)) = part { rememberForReplay(buffer) }
            connection.write(part)
        }
        pendingUpstream.removeAll()
        // Inside the client's read, the flush waits for the read's end
        // (`DownstreamHandler.channelReadComplete`): a body or the last chunk read in
        // the same batch then leaves in the same write as the head.
        if downstream.inRead && connection.isWritable { upstreamNeedsFlush = true } else { connection.flush() }
        continueIfExpected()
        if requestForwardedEnd { armFirstByteTimer() }
        downstream.maybeResumeReads()
    }

    /// Tell a client that waits for it (`Expect: 100-continue`) to send its body: once
    /// an upstream takes the request, an AI route starts reading it, or a filter
    /// collects it whole. RFC 9110 §10.1.1: never to an HTTP/1.0 client.
    func continueIfExpected() {
        guard expectContinue && !requestComplete && !done && clientVersion.minor >= 1 else { return }
        expectContinue = false
        downstream.writeResponseHead(HTTPResponseHead(version: clientVersion, status: .continue))
        downstream.flush()
    }

    /// The Host the upstream's policy sends instead of the client's (nil: keep it).
    func policyHost(_ target: UpstreamSet.ResolvedTarget) -> String? {
        switch upstream?.config.hostHeader ?? .preserve {
        case .preserve: return nil
        case .target: return target.hostHeader
        case .fixed(let value): return value
        }
    }

    func writePlainHead(_ plain: PlainForward, to connection: UpstreamConnection, target: UpstreamSet.ResolvedTarget) {
        let host = policyHost(target)
        let downstream = downstream
        connection.writeHead(method: plain.head.method) { buffer in
            plain.head.writeUpstreamHead(
                into: &buffer, scan: plain.scan, uri: plain.uri, host: host, defaultHost: target.authority, requestID: requestID,
                clientAddress: downstream.clientAddress, scheme: downstream.scheme)
        }
    }

    func forwardRequestBody(_ body: ByteBuffer, end: Bool) {
        guard !done else { return }
        if let aiCall {
            if end { requestForwardedEnd = true }
            aiCall.requestBody(body, end: end)
            return
        }
        if end { requestForwardedEnd = true }
        guard let connection, headSentUpstream else {
            if body.readableBytes > 0 { pendingUpstream.append(.body(.byteBuffer(body))) }
            if end { pendingUpstream.append(.end(nil)) }
            return
        }
        if body.readableBytes > 0 {
            rememberForReplay(body)
            connection.write(.body(.byteBuffer(body)))
        }
        if end {
            connection.write(.end(nil))
            armFirstByteTimer()
        }
        if downstream.inRead { upstreamNeedsFlush = true } else { connection.flush() }
        if !connection.isWritable { connection.flush() }
    }

    func armFirstByteTimer() {
        guard !responseHeadReceived, firstByteDeadline == nil, let upstream else { return }
        let perTry = route?.reliability.retries.perTryTimeout ?? .zero
        let timeout = perTry.nanoseconds > 0 ? perTry : upstream.config.firstByteTimeout
        guard timeout.nanoseconds > 0 else { return }
        firstByteDeadline = .now() + timeout
        watchDeadlines()
    }

    func watchDeadlines() {
        guard !watchedBySweeper, let pool = downstream.pool else { return }
        watchedBySweeper = true
        pool.deadlines.watch(self)
    }

    /// Called by the sweeper: fire an expired deadline. True while one is still armed.
    func checkDeadlines(now: NIODeadline) -> Bool {
        guard !done else {
            watchedBySweeper = false
            return false
        }
        if let deadline = totalDeadline, deadline <= now {
            timedOut(total: true)
        } else if let deadline = firstByteDeadline, deadline <= now {
            timedOut(total: false)
        }
        let armed = !done && (firstByteDeadline != nil || totalDeadline != nil)
        watchedBySweeper = armed
        return armed
    }

    func cancelTimers() {
        firstByteDeadline = nil
        totalDeadline = nil
        if watchedBySweeper {
            watchedBySweeper = false
            downstream.pool?.deadlines.unwatch(self)
        }
    }

    func timedOut(total: Bool) {
        guard !done else { return }
        if let upstream, let index = targetIndex {
            upstream.balancer.active[index].failed("upstream_timeout")
            upstream.health.failed(index, kind: .local, cause: "upstream_timeout")
        }
        let message = total ? "the upstream did not complete within the total timeout" : "the upstream did not answer within the first-byte timeout"
        if total || responseHeadReceived {
            fail(status: .gatewayTimeout, type: "upstream_timeout", message: message, close: false)
        } else {
            tryFailed(.timeout, message: message)
        }
    }

    func noHealthyUpstream(triedAll: Bool = false) {
        let name = upstream?.name ?? ""
        failUpstream(
            status: .serviceUnavailable, type: "no_healthy_upstream",
            message: "no healthy upstream: no target of upstream \"\(name)\" could be reached",
            extraHeaders: [("retry-after", String(retryAfterSeconds))])
    }
}
