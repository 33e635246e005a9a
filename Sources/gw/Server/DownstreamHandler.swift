import NIOCore
import NIOHTTP1
import PluginHost

/// The per-connection handler on the client side: parses nothing itself (NIO's
/// decoder does), routes each request and drives one `Exchange` at a time.
/// Pipelined requests wait in `queued` while reads are held.
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

    /// Told when a head arrives and when an exchange ends (slow-header protection).
    let headTimer: RequestHeadTimeoutHandler?

    init(gateway: Gateway, scheme: String, headTimer: RequestHeadTimeoutHandler? = nil) {
        self.gateway = gateway
        self.scheme = scheme
        self.headTimer = headTimer
        self.random = UInt64.random(in: 1...UInt64.max)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress ?? ""
    }

    func channelInactive(context: ChannelHandlerContext) {
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
        headTimer?.headReceived()
        inRead = true
        defer { inRead = false }
        let exchange = Exchange(downstream: self, context: context, state: gateway.currentState(), requestID: requestID(for: head))
        self.exchange = exchange
        exchange.start(head)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
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
        if event is DrainEvent || event is IdleStateHandler.IdleStateEvent, exchange == nil {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
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
        headTimer?.requestFinished()
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

    private func requestID(for head: HTTPRequestHead) -> String {
        if let given = head.headers.first(name: "x-request-id"), !given.isEmpty, given.utf8.count <= 128,
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
