import NIOCore
import NIOHTTP1
import PluginHost

/// The per-connection handler on the client side: parses nothing itself (NIO's
/// decoder does), routes each request and drives one `Exchange` at a time.
/// Pipelined requests wait in `queued` while reads are held.
///
/// It also keeps the connection's two timers: the keep-alive idle timeout and the
/// request-head timeout (slow-header clients, "slowloris"). They used to be two
/// handlers of their own in front of the decoder; every read and write crossed
/// both, which cost more than the timers themselves.
final class DownstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let gateway: Gateway
    let scheme: String
    private(set) var context: ChannelHandlerContext?
    var clientAddress = ""
    var exchange: Exchange?
    private var queued: [HTTPServerRequestPart] = []
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

    init(gateway: Gateway, scheme: String, idleTimeout: TimeAmount = .zero, headTimeout: TimeAmount = .zero) {
        self.gateway = gateway
        self.scheme = scheme
        self.idleTimeout = idleTimeout
        self.headTimeout = headTimeout
        self.random = UInt64.random(in: 1...UInt64.max)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress ?? ""
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
        handle(unwrapInboundIn(data), context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
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
                begin(part)
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

    private func begin(_ part: HTTPServerRequestPart) {
        guard case .head(let head) = part, let context else { return }
        awaitingHead = false
        headTimer?.cancel()
        headTimer = nil
        inRead = true
        defer { inRead = false }
        let scan = RequestHeadScan(head.headers)
        let exchange = Exchange(downstream: self, context: context, state: gateway.currentState(), requestID: requestID(given: scan.requestID))
        self.exchange = exchange
        exchange.start(head, scan: scan)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if idleTimeout.nanoseconds > 0 { lastActivity = .now() }
        // Bytes arrived but no whole head yet: the client has `headTimeout` to finish it.
        if awaitingHead && headTimer == nil && headTimeout.nanoseconds > 0 { armHeadTimer(context: context) }
        exchange?.flushUpstream()
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.downstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError {
            let (status, type) = Self.classify(parserError)
            if exchange == nil || exchange?.responseStarted == false {
                exchange?.abandon()
                exchange = nil
                writeError(status: status, type: type, message: "malformed request: \(parserError)", close: true)
                return
            }
        }
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
            maybeResumeReads()
            return
        }
        let parts = queued
        queued.removeAll()
        for part in parts { handle(part, context: context) }
        // Replayed parts were written upstream as if inside a read (`inRead`): no
        // channelReadComplete follows to flush them, so flush here.
        exchange?.flushUpstream()
        context.flush()
        maybeResumeReads()
    }

    /// Write a JSON error response generated by gw itself.
    @discardableResult
    func writeError(
        status: HTTPResponseStatus, type: String, message: String, close: Bool, extraHeaders: [(String, String)] = []
    ) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        let body = JSON.error(type: type, message: message)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-gw-error", value: type)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if close { headers.add(name: "connection", value: "close") }
        context.write(self.wrapOutboundOut(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(self.wrapOutboundOut(HTTPServerResponsePart.end(nil)))
        if close && exchange == nil {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        return done
    }

    // MARK: - Request ids

    private func requestID(given: String?) -> String {
        if let given, !given.isEmpty, given.utf8.count <= 128,
            given.utf8.allSatisfy({ $0 > 32 && $0 < 127 })
        {
            return given
        }
        return nextRandomID()
    }

    /// 32 hex digits from two xorshift64* draws, written into one string (one allocation).
    private func nextRandomID() -> String {
        let high = nextRandom()
        let low = nextRandom()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            var value = high
            for i in stride(from: 15, through: 0, by: -1) {
                buffer[i] = digits.utf8Start[Int(value & 0xf)]
                value >>= 4
            }
            value = low
            for i in stride(from: 31, through: 16, by: -1) {
                buffer[i] = digits.utf8Start[Int(value & 0xf)]
                value >>= 4
            }
            return 32
        }
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
