import NIOCore
import NIOHTTP1
import PluginHost

/// The per-connection handler on the client side, and the only one (after TLS):
/// it parses requests (`RequestDecoder`, llhttp) and frames responses itself,
/// routes each request and drives one `Exchange` at a time. Pipelined requests
/// wait in `queued` while reads are held.
///
/// NIO's `HTTPRequestDecoder` (in a `ByteToMessageHandler`) and `HTTPResponseEncoder`
/// used to sit in front of it; every request and response part crossed them as a
/// boxed `NIOAny`, which cost more than parsing and framing.
///
/// It also keeps the connection's two timers: the keep-alive idle timeout and the
/// request-head timeout (slow-header clients, "slowloris"). They used to be two
/// handlers of their own in front of the decoder; every read and write crossed
/// both, which cost more than the timers themselves.
final class DownstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let gateway: Gateway
    let scheme: String
    private(set) var context: ChannelHandlerContext?
    /// This loop's upstream pool, sweeper and arena (found once: the lookup costs a
    /// hash and a loop check, and the pools live as long as the gateway).
    private(set) var pool: UpstreamConnectionPool?
    private var seenState: GatewayState?
    private var seenGeneration = -1
    var clientAddress = ""
    /// The configured address of the listener this connection came in on (a listener's
    /// identity: names may repeat or be positional, and an address changes only with a
    /// restart), and whether its peer is one of the listener's `trusted_proxies` (its
    /// forwarding headers are then kept), as configured when the connection opened.
    private let listener: (host: String, port: Int)
    private var trustsForwarded = false
    var exchange: Exchange?
    private let decoder = RequestDecoder()
    private var queued: [RequestPart] = []
    /// The response being written is chunked by gw (see `writeResponseHead`).
    private var chunkedResponse = false
    /// The response being written has no body (HEAD, 204, 304): body bytes are dropped.
    private var bodilessResponse = false
    /// The client sent bytes that are not HTTP: whatever follows is ignored.
    private var malformed = false
    /// Malformed bytes followed whole requests: answered (400/431) once those are.
    private var deferredMalformed: HTTPParserError?
    /// The last response head's buffer, written into again for the next one: once
    /// the channel has sent it, this is its only reference and clearing it keeps its
    /// memory (a new buffer costs two allocations). Still queued, copy-on-write
    /// gives the next head a fresh one.
    private var headBuffer: ByteBuffer?
    /// A final response head not written yet (one whose body gw does not chunk): a
    /// small first body part joins it, so head and body leave in one write
    /// (`writeResponseBody`). Any other write, and every flush, writes it first.
    private var heldHead: ByteBuffer?
    /// Written since the last flush: a read that wrote nothing flushes nothing.
    private var unflushed = false
    /// Largest body part copied into a held head.
    static let joinedBodyBytes = 4096
    /// Largest head buffer kept for the next response (idle connections hold it).
    static let keptHeadBufferBytes = 1024
    /// The last filtered request's header lines (`RequestHeadBytes`), written into
    /// again for the next one: its filter run lets go of it at `finish`, so it is
    /// then this connection's only reference and clearing it keeps its memory.
    var linesBuffer: ByteBuffer?
    private var readPending = false
    /// A finished exchange whose request had no body still owes us its `.end`.
    private var awaitingEnd = false
    var inRead = false
    private var random: UInt64

    /// A keep-alive connection is closed after this long without a read and without a
    /// request in flight (counted from the later of the last read and the last response).
    let idleTimeout: TimeAmount
    /// Time a client has to send a whole request head once its first bytes arrived.
    let headTimeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    private var idleTimer: Scheduled<Void>?
    private var headTimer: Scheduled<Void>?
    /// No request head since the connection opened or the last exchange finished.
    private var awaitingHead = true

    init(
        gateway: Gateway, scheme: String, idleTimeout: TimeAmount = .zero, headTimeout: TimeAmount = .zero,
        listener: (host: String, port: Int) = ("", -1)
    ) {
        self.gateway = gateway
        self.scheme = scheme
        self.listener = listener
        self.idleTimeout = idleTimeout
        self.headTimeout = headTimeout
        self.random = UInt64.random(in: 1...UInt64.max)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = gateway.pools.pool(for: context.eventLoop)
        let peer = context.channel.remoteAddress
        clientAddress = peer?.ipAddress ?? ""
        let trusted =
            gateway.currentState().config.listeners.first { $0.host == listener.host && $0.port == listener.port }?.trustedProxies ?? []
        trustsForwarded = trusted.contains(peer)
        if context.channel.isActive { armIdleTimer(context: context, in: idleTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func channelActive(context: ChannelHandlerContext) {
        if idleTimer == nil { armIdleTimer(context: context, in: idleTimeout) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        exchange?.clientGone()
        exchange = nil
        queued.removeAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !malformed else { return }
        let error = decoder.feed(unwrapInboundIn(data))
        while let part = decoder.takePart() { handle(part, context: context) }
        guard let error else { return }
        if decoder.inMessage || (exchange == nil && queued.isEmpty) {
            requestMalformed(error, context: context)
        } else {
            // The requests before the bad bytes are whole: they are answered first
            // (`exchangeFinished`), then the error, then the connection closes.
            malformed = true
            deferredMalformed = error
            headTimer?.cancel()
            headTimer = nil
        }
    }

    private func handle(_ part: consuming RequestPart, context: ChannelHandlerContext) {
        if awaitingEnd {
            switch part {
            case .end:
                awaitingEnd = false
                return
            case .body:
                return
            case .head:
                awaitingEnd = false
            }
        }
        if exchange == nil || !queued.isEmpty {
            if case .head = part, exchange == nil, queued.isEmpty {
                begin(consume part)
                return
            }
            guard queued.count < 64 else {
                context.close(promise: nil)
                return
            }
            queued.append(part)
            return
        }
        inRead = true
        defer { inRead = false }
        switch part {
        case .head:
            // A pipelined request: wait for the current one to finish.
            queued.append(part)
        case .body(let body):
            exchange?.clientBody(body)
        case .end:
            exchange?.clientEnd()
        }
    }

    private func begin(_ part: consuming RequestPart) {
        guard case .head(let head, let keepAlive) = consume part, let context else { return }
        awaitingHead = false
        headTimer?.cancel()
        headTimer = nil
        inRead = true
        defer { inRead = false }
        let scan = RequestHeadScan.of(head, trustsForwarded: trustsForwarded)
        let exchange = Exchange(downstream: self, context: context, state: currentState(), requestID: requestID(given: scan.requestID))
        self.exchange = exchange
        exchange.start(head, keepAlive: keepAlive, scan: scan)
        // A proxied-only request keeps its head until it finishes (`exchangeFinished`).
        if exchange.plain == nil { decoder.recycle(head) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if idleTimeout.nanoseconds > 0 { lastActivity = .now() }
        // Bytes arrived but no whole head yet: the client has `headTimeout` to finish it.
        if awaitingHead && !malformed && headTimer == nil && headTimeout.nanoseconds > 0 { armHeadTimer(context: context) }
        exchange?.flushUpstream()
        flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.downstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    /// The client sent bytes that are not HTTP/1.1: 400 (431 for an oversized head)
    /// and close, or just close if a response is already under way.
    private func requestMalformed(_ error: HTTPParserError, context: ChannelHandlerContext) {
        malformed = true
        headTimer?.cancel()
        headTimer = nil
        queued.removeAll()
        if exchange == nil || exchange?.responseStarted == false {
            exchange?.abandon()
            exchange = nil
            if decoder.refusedConnect {
                // RFC 9110 §15.6.2: a method the server does not implement is 501.
                writeError(status: .notImplemented, type: "method_not_supported", message: decoder.failureReason, close: true)
                return
            }
            let (status, type) = Self.classify(error)
            writeError(status: status, type: type, message: "malformed request: \(decoder.failureReason)", close: true)
            return
        }
        exchange?.clientGone()
        exchange = nil
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        exchange?.clientGone()
        exchange = nil
        context.close(promise: nil)
    }

    static func classify(_ error: HTTPParserError) -> (HTTPResponseStatus, String) {
        switch error {
        case .headerOverflow: return (.requestHeaderFieldsTooLarge, "header_too_large")
        case .invalidMethod, .invalidVersion: return (.badRequest, "bad_request")
        default: return (.badRequest, "bad_request")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DrainEvent, exchange == nil {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The gateway's state for a new request: the one this connection saw last,
    /// unless a reload swapped it since.
    private func currentState() -> GatewayState {
        let generation = gateway.stateGeneration.load(ordering: .acquiring)
        if generation != seenGeneration || seenState == nil {
            seenState = gateway.currentState()
            seenGeneration = generation
        }
        return seenState!
    }

    // MARK: - Timers

    private func armIdleTimer(context: ChannelHandlerContext, in delay: TimeAmount) {
        guard idleTimeout.nanoseconds > 0 else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            self.idleTimer = nil
            self.idleTimerFired()
        }
    }

    /// Close an idle keep-alive connection; re-arm for the rest of the period otherwise.
    private func idleTimerFired() {
        guard let context, context.channel.isActive else { return }
        let due = lastActivity + idleTimeout
        let now = NIODeadline.now()
        if due > now {
            armIdleTimer(context: context, in: due - now)
        } else if exchange == nil && queued.isEmpty {
            context.close(promise: nil)
        } else {
            armIdleTimer(context: context, in: idleTimeout)
        }
    }

    private func armHeadTimer(context: ChannelHandlerContext) {
        headTimer = context.eventLoop.assumeIsolated().scheduleTask(in: headTimeout) { [self] in
            self.headTimer = nil
            guard self.awaitingHead, self.exchange == nil else { return }
            self.writeError(
                status: .requestTimeout, type: "request_timeout", message: "the request head did not arrive in time", close: true)
        }
    }

    private func cancelTimers() {
        idleTimer?.cancel()
        idleTimer = nil
        headTimer?.cancel()
        headTimer = nil
    }

    // MARK: - Reads (backpressure)

    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readPending = true
        } else {
            context.read()
        }
    }

    private var holdsReads: Bool {
        !queued.isEmpty || (exchange?.holdsClientReads ?? false)
    }

    /// Re-issue a held read once nothing holds it any more.
    func maybeResumeReads() {
        guard readPending, !holdsReads, let context else { return }
        readPending = false
        context.read()
    }

    // MARK: - Exchange lifecycle

    /// The current exchange finished; continue with a pipelined request or close.
    /// `lastWrite` completes when the response is on the wire; a closing connection waits for it.
    func exchangeFinished(_ finished: Exchange, keepAlive: Bool, lastWrite: EventLoopFuture<Void>?) {
        guard exchange === finished, let context else { return }
        exchange = nil
        if let plain = finished.plain.take() { decoder.recycle(plain.head) }
        guard keepAlive && !gateway.isDraining else {
            if let lastWrite {
                lastWrite.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
            return
        }
        if !finished.requestComplete { awaitingEnd = true }
        awaitingHead = true
        if idleTimeout.nanoseconds > 0 { lastActivity = .now() }
        guard !queued.isEmpty else {
            if let error = deferredMalformed {
                deferredMalformed = nil
                requestMalformed(error, context: context)
                return
            }
            maybeResumeReads()
            return
        }
        let parts = queued
        queued.removeAll()
        for part in parts { handle(part, context: context) }
        if exchange == nil, queued.isEmpty, let error = deferredMalformed {
            deferredMalformed = nil
            requestMalformed(error, context: context)
            return
        }
        // Replayed parts were written upstream as if inside a read (`inRead`): no
        // channelReadComplete follows to flush them, so flush here.
        exchange?.flushUpstream()
        flush()
        maybeResumeReads()
    }

    /// Write a JSON error response generated by gw itself.
    @discardableResult
    func writeError(
        status: HTTPResponseStatus, type: String, message: String, close: Bool, extraHeaders: [(String, String)] = [],
        bodiless: Bool = false
    ) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        let body = JSON.error(type: type, message: message)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-gw-error", value: type)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if close { headers.add(name: "connection", value: "close") }
        writeResponseHead(HTTPResponseHead(version: .http1_1, status: status, headers: headers), bodiless: bodiless)
        writeResponseBody(ByteBuffer(string: body))
        let done = writeResponseEnd(needsFuture: true)!
        flush()
        if close && exchange == nil {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        return done
    }

    // MARK: - Response framing (HTTP/1.1, RFC 9112 §6)

    /// Write a response head. A 1xx, 204 or 304 carries no body: its framing
    /// headers go. Otherwise `Content-Length` frames the body if present (a
    /// `Transfer-Encoding` beside it goes); else an HTTP/1.1 client gets it chunked
    /// by gw and an HTTP/1.0 one gets it delimited by the close. `bodiless`: the
    /// answer to HEAD, which keeps the headers the GET would have had and no body.
    /// `proxied`: hop-by-hop headers and the upstream's request id are left out and
    /// gw's written instead. Lines are left out as the head is written, so the
    /// header list is never changed (no copy of it, no reallocation).
    func writeResponseHead(_ head: HTTPResponseHead, bodiless: Bool = false, proxied: ProxiedHead? = nil) {
        guard let context else { return }
        writeHeldHead()
        let (hasLength, hasTransferEncoding) = HTTP1Framing.framingHeaders(head.headers)
        var dropLength = false
        var dropTransferEncoding = false
        var addChunked = false
        if head.status.code >= 200 { bodilessResponse = bodiless || !head.status.mayHaveResponseBody }
        if !head.status.mayHaveResponseBody {
            (dropLength, dropTransferEncoding) = (hasLength, hasTransferEncoding)
            if head.status.code >= 200 { chunkedResponse = false }
        } else if bodiless {
            chunkedResponse = false
        } else if hasLength && hasTransferEncoding {
            // Both (RFC 9112 §6.3): the body was read by its Transfer-Encoding, so the
            // length is not to be trusted; it goes out chunked (or close-delimited).
            (dropLength, dropTransferEncoding) = (true, true)
            addChunked = head.version.minor >= 1
            chunkedResponse = addChunked
        } else if hasLength {
            chunkedResponse = false
        } else {
            // gw writes its own Transfer-Encoding line, or none for HTTP/1.0.
            dropTransferEncoding = hasTransferEncoding
            addChunked = head.version.minor >= 1
            chunkedResponse = addChunked
        }
        let dropped = proxied.map { _ in HopByHop.Dropped(head.headers) }
        var buffer = headBuffer.take() ?? context.channel.allocator.buffer(capacity: 512)
        buffer.clear()
        Self.writeStatusLine(head, into: &buffer)
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 12 where proxied != nil && asciiEqualsIgnoringCase(name, "x-request-id"): continue
            case 14 where dropLength && asciiEqualsIgnoringCase(name, "content-length"): continue
            case 17 where dropTransferEncoding && asciiEqualsIgnoringCase(name, "transfer-encoding"): continue
            default: if let dropped, dropped.contains(name) { continue }
            }
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        if let proxied { proxied.write(into: &buffer) }
        if addChunked { buffer.writeStaticString("transfer-encoding: chunked\r\n") }
        buffer.writeStaticString("\r\n")
        // A final head whose body is not chunked waits for its first body part.
        if head.status.code >= 200 && !chunkedResponse && !bodilessResponse {
            heldHead = buffer
            return
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        unflushed = true
        headBuffer = buffer
    }

    /// Write a proxied head that `ReceivedResponseHead.passesThrough`: the status line
    /// and the kept header lines are copied as they arrived, then gw's request id and
    /// `Connection`. Same result as `writeResponseHead(head.makeHead(), ...)` for such
    /// a head, except that the upstream's reason phrase is kept. The head is held
    /// for the first body part (`heldHead`), as the general writer's final heads are.
    /// `edits`: a filter run's changes to this head (lines removed and added; never
    /// a framing or hop-by-hop header, see `HeaderLines.affectsFraming`).
    func writeReceivedResponseHead(_ head: ReceivedResponseHead, edits: ResponseHeadBytes? = nil, bodiless: Bool, proxied: ProxiedHead) {
        guard let context else { return }
        writeHeldHead()
        bodilessResponse = bodiless
        chunkedResponse = false
        var buffer = headBuffer.take() ?? context.channel.allocator.buffer(capacity: 512)
        buffer.clear()
        // The kept lines are a subset of the received head.
        let bound = head.bytes.readableBytes + (edits?.lines.addedLines.count ?? 0) + proxied.bound + 2
        buffer.writeHead(reserving: bound) { out in
            head.bytes.withUnsafeReadableBytes { bytes in
                out.put(UnsafeRawBufferPointer(rebasing: bytes[0..<head.statusLineLength]))
                if let removed = edits?.lines.removedLines, removed != 0 {
                    head.forEachKeptLine(bytes, removing: removed) { range in out.put(UnsafeRawBufferPointer(rebasing: bytes[range])) }
                } else {
                    head.forEachKeptRange { range in out.put(UnsafeRawBufferPointer(rebasing: bytes[range])) }
                }
            }
            if let added = edits?.lines.addedLines, !added.isEmpty { added.withUnsafeBytes { out.put($0) } }
            proxied.write(into: &out)
            out.put("\r\n")
        }
        heldHead = buffer
    }

    /// Write the held head, if any.
    @inline(__always)
    private func writeHeldHead() {
        guard let held = heldHead, let context else { return }
        heldHead = nil
        context.write(wrapOutboundOut(held), promise: nil)
        unflushed = true
        headBuffer = held
    }

    /// Flush the client connection, if anything was written since the last flush.
    func flush() {
        guard let context else { return }
        writeHeldHead()
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }

    private static func writeStatusLine(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        if head.status == .ok && head.version == .http1_1 {
            buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
            return
        }
        buffer.writeStaticString(head.version.minor >= 1 ? "HTTP/1.1 " : "HTTP/1.0 ")
        let code = Int(head.status.code)
        buffer.writeInteger(UInt8(48 + code / 100 % 10))
        buffer.writeInteger(UInt8(48 + code / 10 % 10))
        buffer.writeInteger(UInt8(48 + code % 10))
        buffer.writeStaticString(" ")
        buffer.writeString(head.status.reasonPhrase)
        buffer.writeStaticString("\r\n")
    }

    /// Write response body bytes (as one chunk if gw chunks this response).
    func writeResponseBody(_ body: ByteBuffer) {
        guard let context, body.readableBytes > 0, !bodilessResponse else { return }
        unflushed = true
        if var held = heldHead {
            heldHead = nil
            if !chunkedResponse && body.readableBytes <= Self.joinedBodyBytes {
                var body = body
                held.writeBuffer(&body)
                context.write(wrapOutboundOut(held), promise: nil)
                // An idle keep-alive connection keeps its head buffer: not one a body grew.
                headBuffer = held.capacity <= Self.keptHeadBufferBytes ? held : nil
                return
            }
            context.write(wrapOutboundOut(held), promise: nil)
            headBuffer = held
        }
        guard chunkedResponse else {
            context.write(wrapOutboundOut(body), promise: nil)
            return
        }
        context.write(wrapOutboundOut(HTTP1Framing.chunkSizeLine(body.readableBytes, allocator: context.channel.allocator)), promise: nil)
        context.write(wrapOutboundOut(body), promise: nil)
        context.write(wrapOutboundOut(HTTP1Framing.crlf), promise: nil)
    }

    /// End the response (the last chunk if chunked). With `needsFuture`, the future
    /// completes once everything written so far is on the wire (after a flush).
    @discardableResult
    func writeResponseEnd(needsFuture: Bool = false) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        writeHeldHead()
        let promise = needsFuture ? context.eventLoop.makePromise(of: Void.self) : nil
        if chunkedResponse {
            chunkedResponse = false
            unflushed = true
            context.write(wrapOutboundOut(HTTP1Framing.lastChunk), promise: promise)
        } else if let promise {
            unflushed = true
            // Completes in order, after the writes before it.
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        }
        return promise?.futureResult
    }

    // MARK: - Request ids

    private func requestID(given: String?) -> RequestID {
        if let given, !given.isEmpty, given.utf8.count <= 128,
            given.utf8.allSatisfy({ $0 > 32 && $0 < 127 })
        {
            return RequestID(given: given)
        }
        // Two xorshift64* draws, kept as integers (no string until one is needed).
        return RequestID(high: nextRandom(), low: nextRandom())
    }

    private func nextRandom() -> UInt64 {
        // xorshift64*: seeded once per connection from the system generator.
        random ^= random >> 12
        random ^= random << 25
        random ^= random >> 27
        return random &* 2_685_821_657_736_338_717
    }
}

@available(*, unavailable)
extension DownstreamHandler: Sendable {}
