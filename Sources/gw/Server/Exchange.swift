import NIOCore
import NIOHTTP1
import PluginHost

/// One request/response exchange: client request -> filter chain -> upstream ->
/// filter chain (reverse) -> client. Lives on the downstream channel's loop, as
/// does its upstream connection.
final class Exchange {
    /// Strong: the handler drops its exchange when it finishes, which breaks the cycle.
    /// (Weak and unowned references make every retain of both objects take a slow path.)
    let downstream: DownstreamHandler
    let context: ChannelHandlerContext
    let state: GatewayState
    let requestID: RequestID
    var route: CompiledRoute?
    var upstream: UpstreamSet?
    var run: FilterChainRun?
    /// The request as it goes upstream; handed to the filter run when there is one
    /// (then `run.requestHead` is the one that counts, see `currentRequestHead`).
    var requestHead = Exchange.noHead
    /// The request on a route that only proxies: its head goes upstream from the
    /// received bytes (`requestHead` is then unused).
    var plain: PlainForward?
    /// A class, not a struct: a struct of this size (ten reference-counted fields)
    /// was copied field by field by every `if let plain` and nil check, about thirty
    /// retains and releases per request; a class costs one allocation.
    final class PlainForward {
        let head: ReceivedRequestHead
        let scan: RequestHeadScan
        /// The target after the route's rewrite.
        let uri: String

        init(head: ReceivedRequestHead, scan: RequestHeadScan, uri: String) {
            self.head = head
            self.scan = scan
            self.uri = uri
        }
    }
    /// What the received head said of Host and framing, for a head the filter run
    /// keeps as lines (`FilterChainRun.requestBytes`, written by `attach`).
    var linesFraming: LinesFraming?
    /// A shared placeholder: a fresh `HTTPRequestHead` costs an allocation.
    static let noHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
    var clientVersion = HTTPVersion.http1_1
    var clientKeepAlive = true
    var isHEAD = false
    /// The request announced a body (Content-Length > 0 or Transfer-Encoding).
    var expectsBody = false
    /// The request head passed the filters; the upstream exchange may start.
    var headersReady = false

    var connection: UpstreamConnection?
    var connecting = false
    var headSentUpstream = false
    var pendingUpstream: [HTTPClientRequestPart] = []
    var triedTargets = TargetSet()
    /// The target of the last finished try (a keep-alive race retries it on a new connection).
    var lastTarget: Int?
    /// Tries, retries, breaker slots and the replay buffer (Exchange+Retry.swift).
    var attempt = AttemptState()
    var targetIndex: Int?
    var clientBodyBytes = 0
    var requestComplete = false
    var requestForwardedEnd = false
    var responseStarted = false
    var responseHeadReceived = false
    var done = false
    var downstreamNeedsFlush = false
    /// Inside an upstream read: downstream writes are flushed at its read-complete.
    var inUpstreamRead = false
    var upstreamNeedsFlush = false
    /// Deadlines checked by the loop's `DeadlineSweeper`.
    var firstByteDeadline: NIODeadline?
    var totalDeadline: NIODeadline?
    var watchedBySweeper = false
    /// Where the sweeper keeps this exchange (`DeadlineSweeper.unwatch`); -1 if nowhere.
    var sweeperSlot = -1
    var closeAfterResponse = false
    var expectContinue = false
    /// The call on an AI route (no upstream of its own).
    var aiCall: AICall?
    /// On a filtered route, the upstream's head while the filter run holds it as
    /// bytes (`ResponseHeadBytes`): written with the run's changes when they pass.
    var receivedResponse: ReceivedResponseHead?

    init(downstream: DownstreamHandler, context: ChannelHandlerContext, state: GatewayState, requestID: RequestID) {
        self.downstream = downstream
        self.context = context
        self.state = state
        self.requestID = requestID
    }

    var loop: any EventLoop { context.eventLoop }

    /// Hold client reads while the upstream is not ready or cannot take more.
    var holdsClientReads: Bool {
        if done || requestComplete { return false }
        if let run, !headersReady { return run.isRequestHeld }
        if headersReady, upstream != nil, !headSentUpstream { return true }
        if run?.isRequestHeld == true { return true }
        if let connection, !connection.isWritable { return true }
        return false
    }

    // MARK: - Start

    /// `scan` is taken, not borrowed: a proxied-only request keeps it (`PlainForward`)
    /// without a copy.
    func start(_ received: ReceivedRequestHead, keepAlive: Bool, scan: consuming RequestHeadScan) {
        clientVersion = received.version
        clientKeepAlive = keepAlive
        isHEAD = received.method.isHEAD
        expectsBody = scan.hasBody
        let limits = state.config.limits
        if let problem = checkLimits(uri: received.uri, fieldCount: received.fieldCount, scan, limits) {
            fail(status: problem.0, type: problem.1, message: problem.2, close: true)
            return
        }
        if let problem = scan.hostProblem(received.version) {
            fail(status: .badRequest, type: "bad_host", message: problem, close: true)
            return
        }
        // Routed, filtered and forwarded by one path: the normalised one (`PathNormalizer`).
        guard let target = normalizedTarget(received.uri, rewritten: false) else { return }
        guard let match = state.routes.match(method: received.method, uri: target, host: scan.host, headers: { received.values($0) })
        else {
            fail(status: .notFound, type: "no_route", message: "no route matches \(received.method.rawValue) \(received.uri)", close: false)
            return
        }
        let route = match.route
        self.route = route
        if case .proxy(let upstream) = route.action { self.upstream = upstream }
        expectContinue = scan.expectsContinue
        // A route that only proxies writes the upstream head from the received bytes;
        // the rest (filters, AI and direct answers) needs it as NIO's type, built with
        // the same rules (`ReceivedRequestHead.forwards`). A `Connection` that names
        // other fields takes the general path, which removes those first.
        var uri = target
        if let rewritten = Self.upstreamURI(target, match: match) {
            // A rewrite template can put back what normalising took out (`/static..` with
            // prefix `/static` and `/files/$1` makes `/files/..`): normalised again, the
            // path must still be under the template's fixed text (`Route.rewriteFixedPrefix`).
            guard let normalized = normalizedTarget(rewritten, rewritten: true) else { return }
            if state.config.normalizePaths, let fixed = route.rewriteFixedPrefix, !normalized.hasPrefix(fixed) {
                fail(
                    status: .badRequest, type: "bad_path", message: "rewritten: the path climbs out of the rewrite's \(fixed)",
                    close: false)
                return
            }
            uri = normalized
        }
        var requestLines: RequestHeadBytes?
        if scan.connectionListsOthers {
            var head = received.makeHead()
            prepareUpstreamHead(&head, uri: uri, scan: scan)
            if expectContinue { head.headers.remove(name: "expect") }
            requestHead = head
        } else if route.chain.isEmpty && upstream != nil {
            plain = PlainForward(head: received, scan: consume scan, uri: uri)
        } else if !route.chain.isEmpty && upstream != nil, let bytes = makeRequestLines(received, scan: scan, uri: uri) {
            // Filters read and change it as lines (`RequestHeadBytes`); `attach` writes it.
            requestLines = bytes
            linesFraming = LinesFraming(scan)
        } else {
            requestHead = received.makeUpstreamHead(
                scan: scan, uri: uri, requestID: requestID.string, clientAddress: downstream.clientAddress, scheme: downstream.scheme)
        }
        let total = upstream?.config.totalTimeout ?? .zero
        if total.nanoseconds > 0 {
            totalDeadline = .now() + total
            watchDeadlines()
        }
        let endOfStream = !expectsBody
        if route.chain.isEmpty {
            requestHeadersReady()
        } else {
            let info = StreamInfo(
                scheme: downstream.scheme, clientAddress: downstream.clientAddress, id: requestID,
                routeName: route.name, upstreamName: upstream?.name ?? "")
            let run: FilterChainRun
            // Moved out, not copied: the run's copy is the only one.
            if let bytes = requestLines.take() {
                run = FilterChainRun(
                    chain: route.chain, loop: loop, requestBytes: bytes, info: info, services: state.services,
                    bufferLimit: limits.bufferBytes, arena: downstream.pool?.hookArena)
            } else {
                run = FilterChainRun(
                    chain: route.chain, loop: loop, requestHead: requestHead, info: info, services: state.services,
                    bufferLimit: limits.bufferBytes, arena: downstream.pool?.hookArena)
            }
            run.delegate = self
            if !state.config.normalizePaths { run.normalizesPaths = false }
            if state.config.encodedSlashes != .keep { run.encodedSlashes = state.config.encodedSlashes }
            self.run = run
            // The run's copy is now the only one: filters change it without a copy.
            requestHead = Self.noHead
            run.start(endOfStream: endOfStream)
        }
    }

    /// The request's lines for the filters, in the connection's reused buffer.
    private func makeRequestLines(_ received: ReceivedRequestHead, scan: RequestHeadScan, uri: String) -> RequestHeadBytes? {
        var buffer = downstream.linesBuffer.take() ?? context.channel.allocator.buffer(capacity: 512)
        buffer.clear()
        let bytes = received.makeUpstreamHeadBytes(
            scan: scan, uri: uri, requestID: requestID, clientAddress: downstream.clientAddress, scheme: downstream.scheme,
            into: &buffer)
        // A connection keeps a small buffer only (idle connections hold it).
        if buffer.capacity <= 4 * DownstreamHandler.keptHeadBufferBytes { downstream.linesBuffer = buffer }
        return bytes
    }

    private func checkLimits(
        uri: String, fieldCount: Int, _ scan: RequestHeadScan, _ limits: GatewayConfig.Limits
    ) -> (HTTPResponseStatus, String, String)? {
        if uri.utf8.count > limits.maxURIBytes {
            return (.uriTooLong, "uri_too_long", "request URI exceeds \(limits.maxURIBytes) bytes")
        }
        if fieldCount > limits.maxHeaders {
            return (.requestHeaderFieldsTooLarge, "too_many_headers", "request has more than \(limits.maxHeaders) headers")
        }
        if scan.headerBytes > limits.maxHeaderBytes {
            return (.requestHeaderFieldsTooLarge, "header_too_large", "request headers exceed \(limits.maxHeaderBytes) bytes")
        }
        if limits.maxBodyBytes > 0, let length = scan.contentLength.flatMap(Int.init),
            length > limits.maxBodyBytes
        {
            return (.payloadTooLarge, "body_too_large", "request body exceeds \(limits.maxBodyBytes) bytes")
        }
        return nil
    }

    /// Forwarding headers, hop-by-hop removal, request id, rewrite, for a request
    /// whose `Connection` names other fields (`makeUpstreamHead` does the rest).
    /// `scan` describes the headers as received; a header removed because
    /// `Connection` named it makes it stale, so it is taken again then.
    private func prepareUpstreamHead(_ head: inout HTTPRequestHead, uri: String, scan received: RequestHeadScan) {
        let scan =
            HopByHop.strip(&head.headers) ? RequestHeadScan(head.headers, trustsForwarded: received.trustsForwarded) : received
        // Absent headers are added without the search-and-remove of replaceOrAdd.
        if scan.requestID == nil {
            head.headers.add(name: "x-request-id", value: requestID.string)
        } else {
            head.headers.replaceOrAdd(name: "x-request-id", value: requestID.string)
        }
        let client = downstream.clientAddress
        if let existing = scan.forwardedFor {
            head.headers.replaceOrAdd(name: "x-forwarded-for", value: existing + ", " + client)
        } else {
            head.headers.add(name: "x-forwarded-for", value: client)
        }
        if scan.hasForwardedProto {
            if !scan.keepsForwardedProto { head.headers.replaceOrAdd(name: "x-forwarded-proto", value: downstream.scheme) }
        } else {
            head.headers.add(name: "x-forwarded-proto", value: downstream.scheme)
        }
        if !scan.trustsForwarded {
            // Only a trusted proxy speaks for the client (`ReceivedRequestHead.forwards`).
            for name in ["forwarded", "x-forwarded-port", "x-forwarded-prefix"] where head.headers.contains(name: name) {
                head.headers.remove(name: name)
            }
        }
        if scan.hasForwardedHost {
            if !scan.keepsForwardedHost {
                // A client's choice of host goes no further than gw.
                if let host = scan.host, !host.isEmpty {
                    head.headers.replaceOrAdd(name: "x-forwarded-host", value: host)
                } else {
                    head.headers.remove(name: "x-forwarded-host")
                }
            }
        } else if let host = scan.host, !host.isEmpty {
            head.headers.add(name: "x-forwarded-host", value: host)
        }
        if head.uri != uri { head.uri = uri }
        // Assigning an equal version still copies the head's storage (copy-on-write).
        if head.version != .http1_1 { head.version = .http1_1 }
    }

    /// The target after the route's rewrite (the query kept), or nil without one.
    /// `target` as the config has requests routed and forwarded: normalised unless
    /// `normalize_paths` is off. Nil after answering 400 `bad_path`.
    private func normalizedTarget(_ target: String, rewritten: Bool) -> String? {
        guard state.config.normalizePaths else { return target }
        do throws(PathNormalizer.Failure) {
            return try PathNormalizer.normalize(target, encodedSlashes: state.config.encodedSlashes) ?? target
        } catch {
            fail(status: .badRequest, type: "bad_path", message: (rewritten ? "rewritten: " : "") + error.message, close: false)
            return nil
        }
    }

    private static func upstreamURI(_ uri: String, match: RouteTable.Match) -> String? {
        guard let rewritten = match.route.rewrite(captures: match.captures) else { return nil }
        let query = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[$0...]) } ?? ""
        return (rewritten.isEmpty ? "/" : rewritten) + query
    }

    // MARK: - Client side events

    func clientBody(_ body: ByteBuffer) {
        clientBodyBytes += body.readableBytes
        let limit = state.config.limits.maxBodyBytes
        if limit > 0 && clientBodyBytes > limit {
            fail(status: .payloadTooLarge, type: "body_too_large", message: "request body exceeds \(limit) bytes", close: true)
            return
        }
        if let run { run.requestBody(body, end: false) } else { forwardRequestBody(body, end: false) }
    }

    func clientEnd() {
        requestComplete = true
        if let run { run.requestBody(ByteBuffer(), end: true) } else { forwardRequestBody(ByteBuffer(), end: true) }
    }

    func clientGone() {
        guard !done else { return }
        done = true
        abandon()
    }

    /// Drop the upstream side and the filters (client gone or error already sent).
    func abandon() {
        done = true
        cancelTimers()
        endTry(closeConnection: false)
        releaseSlots()
        connection?.close()
        connection = nil
        aiCall?.cancel()
        run?.finish()
    }

    func downstreamWritabilityChanged(_ writable: Bool) {
        connection?.handler.setHoldReads(!writable)
    }

    func flushUpstream() {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            connection?.flush()
        }
    }

    // MARK: - Toward the client

    /// Send the response head to the client: hop-by-hop headers are left out and the
    /// request id and gw's own `Connection` written as the head is serialized.
    func responseHeadReady(_ head: consuming HTTPResponseHead) {
        guard !done else { return }
        if head.version != clientVersion { head.version = clientVersion }
        // An HTTP/1.0 client learns the body's end from the close unless a length alone frames it.
        if clientVersion == .http1_0
            && (!head.headers.contains(name: "content-length") || head.headers.contains(name: "transfer-encoding"))
        {
            closeAfterResponse = true
        }
        // The answer starts before the request body ended (an early 4xx, say): the
        // connection closes after it (`completeResponse`), so the head says so.
        if expectsBody && !requestComplete { closeAfterResponse = true }
        var connection: StaticString?
        if !clientKeepAlive || closeAfterResponse || downstream.gateway.isDraining {
            connection = "close"
            closeAfterResponse = true
        } else if clientVersion == .http1_0 {
            connection = "keep-alive"
        }
        responseStarted = true
        downstream.writeResponseHead(head, bodiless: isHEAD, proxied: .init(requestID: requestID, connection: connection))
        downstreamNeedsFlush = true
    }

    /// The common case of `responseHeadReady`, without header strings: an HTTP/1.1
    /// client and a head that `ReceivedResponseHead.passesThrough` (framed by its
    /// Content-Length), copied as received minus its hop-by-hop lines.
    /// `edits`: the filter run's changes, on a filtered route.
    func responseHeadPassedThrough(_ head: consuming ReceivedResponseHead, edits: ResponseHeadBytes? = nil) {
        guard !done else { return }
        // The answer starts before the request body ended (an early 4xx, say): the
        // connection closes after it (`completeResponse`), so the head says so.
        if expectsBody && !requestComplete { closeAfterResponse = true }
        var connection: StaticString?
        if !clientKeepAlive || closeAfterResponse || downstream.gateway.isDraining {
            connection = "close"
            closeAfterResponse = true
        }
        responseStarted = true
        downstream.writeReceivedResponseHead(
            head, edits: edits, bodiless: isHEAD, proxied: .init(requestID: requestID, connection: connection))
        downstreamNeedsFlush = true
    }

    func forwardResponseBody(_ body: ByteBuffer, end: Bool) {
        guard !done else { return }
        if body.readableBytes > 0 {
            downstream.writeResponseBody(body)
            downstreamNeedsFlush = true
        }
        if end {
            completeResponse()
        } else if !context.channel.isWritable {
            downstream.flush()
            downstreamNeedsFlush = false
        }
    }

    private func completeResponse() {
        guard !done else { return }
        done = true
        cancelTimers()
        releaseUpstream()
        releaseSlots()
        run?.finish()
        let keepAlive = !closeAfterResponse && (requestComplete || !expectsBody)
        let lastWrite: EventLoopFuture<Void>?
        if keepAlive && !downstream.gateway.isDraining {
            downstream.writeResponseEnd()
            lastWrite = nil
        } else {
            lastWrite = downstream.writeResponseEnd(needsFuture: true)
        }
        downstream.flush()
        downstreamNeedsFlush = false
        downstream.exchangeFinished(self, keepAlive: keepAlive, lastWrite: lastWrite)
    }

    private func releaseUpstream() {
        guard let connection else { return }
        self.connection = nil
        if let upstream, let index = targetIndex {
            upstream.balancer.active[index].add(-1)
            targetIndex = nil
        }
        if !requestForwardedEnd || !responseHeadReceived { connection.reusable = false }
        if let pool = downstream.pool, let upstream {
            pool.release(connection, maxIdle: upstream.config.maxIdlePerLoop)
        } else {
            connection.close()
        }
    }

    func respondDirect(status: Int, body: String, contentType: String) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.utf8.count))
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        if let run {
            run.startResponse(head, endOfStream: body.isEmpty)
            run.responseBody(ByteBuffer(string: body), end: true)
        } else {
            responseHeadReady(head)
            forwardResponseBody(ByteBuffer(string: body), end: true)
        }
    }

    /// gw's own error answer (before any response byte), or a reset after.
    func fail(
        status: HTTPResponseStatus, type: String, message: String, close: Bool, extraHeaders: [(String, String)] = []
    ) {
        guard !done else { return }
        let started = responseStarted
        abandon()
        if started {
            context.close(promise: nil)
            return
        }
        // A client that asked to close (or HTTP/1.0 without keep-alive) is answered with
        // `Connection: close` and closed, as for answers from the upstream (RFC 9112 §9.6).
        let closing = close || !clientKeepAlive || (!requestComplete && expectsBody)
        // The client gets the request id on gw's own error answers too (it is in the logs).
        let lastWrite = downstream.writeError(
            status: status, type: type, message: message, close: closing, extraHeaders: extraHeaders + [("x-request-id", requestID.string)],
            bodiless: isHEAD)
        downstream.exchangeFinished(self, keepAlive: !closing, lastWrite: lastWrite)
    }
}

@available(*, unavailable)
extension Exchange: Sendable {}
