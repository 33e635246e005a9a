import NIOCore
import NIOHTTP1

/// Receives one exchange's upstream response. Called on the shared event loop.
protocol UpstreamResponseDelegate: AnyObject {
    func upstreamResponseHead(_ head: consuming ReceivedResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd()
    func upstreamReadComplete()
    func upstreamFailed(_ error: any Error)
    func upstreamWritabilityChanged()
}

/// One keep-alive connection to an upstream target, owned by its loop's pool.
final class UpstreamConnection {
    let channel: any Channel
    let poolKey: String
    let handler: UpstreamHandler
    /// Pools live as long as the process.
    var pool: UpstreamConnectionPool?
    /// The breaker counters of the upstream it belongs to (its idle count).
    var health: UpstreamHealth?
    /// False once the connection can no longer carry another request.
    var reusable = true
    /// Exchanges started on it (more than one: a reused keep-alive connection).
    var exchanges = 0

    init(channel: any Channel, poolKey: String, handler: UpstreamHandler) {
        self.channel = channel
        self.poolKey = poolKey
        self.handler = handler
    }

    var isWritable: Bool { channel.isWritable }

    /// The request being written is chunked by gw.
    private var chunkedRequest = false
    /// The last request head's buffer, reused once sent (as `DownstreamHandler.headBuffer`).
    private var headBuffer: ByteBuffer?
    /// Bytes were written since the last flush. A flush with nothing new to send still
    /// walks the pipeline and the channel's write state; it is skipped.
    private var unflushed = false

    /// Serialize one part of a request (HTTP/1.1, framed here: no encoder handler).
    /// Framing (RFC 9112 §6): Content-Length if present (a Transfer-Encoding beside it
    /// goes); else chunked for POST, PUT and PATCH, or when the head has a
    /// Transfer-Encoding. The framing of a body that follows is never removed (a
    /// body sent raw would be read upstream as the next request).
    func write(_ part: HTTPClientRequestPart) {
        switch part {
        case .head(var head):
            handler.parser.requestIsHEAD = head.method.isHEAD
            let (hasLength, hasTransferEncoding) = HTTP1Framing.framingHeaders(head.headers)
            chunkedRequest = false
            if hasLength {
                if hasTransferEncoding { head.headers.remove(name: "transfer-encoding") }
            } else if hasTransferEncoding || head.method.isPostPutOrPatch {
                // The body arrives de-chunked whatever the client's coding said: re-chunked here.
                head.headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
                chunkedRequest = true
            }
            var buffer = headBuffer.take() ?? channel.allocator.buffer(capacity: 512)
            buffer.clear()
            buffer.writeString(head.method.rawValue)
            buffer.writeStaticString(" ")
            buffer.writeString(head.uri)
            buffer.writeStaticString(" HTTP/1.1\r\n")
            buffer.writeHTTPFields(head.headers)
            out(buffer)
            headBuffer = buffer
        case .body(.byteBuffer(let body)):
            guard body.readableBytes > 0 else { return }
            if chunkedRequest {
                out(HTTP1Framing.chunkSizeLine(body.readableBytes, allocator: channel.allocator))
                out(body)
                out(HTTP1Framing.crlf)
            } else {
                out(body)
            }
        case .body(.fileRegion):
            preconditionFailure("gw never forwards file regions")
        case .end:
            if chunkedRequest {
                chunkedRequest = false
                out(HTTP1Framing.lastChunk)
            }
        }
    }

    /// Write a request head `encode` writes as bytes (`ReceivedRequestHead`); it
    /// returns whether the body goes chunked.
    func writeHead(method: HTTPMethod, _ encode: (inout ByteBuffer) -> Bool) {
        handler.parser.requestIsHEAD = method.isHEAD
        var buffer = headBuffer.take() ?? channel.allocator.buffer(capacity: 512)
        buffer.clear()
        chunkedRequest = encode(&buffer)
        out(buffer)
        headBuffer = buffer
    }

    /// Written from the last handler's context: `channel.write` would enter at the
    /// pipeline's tail and cross this handler first (and check the calling thread).
    private func out(_ buffer: ByteBuffer) {
        unflushed = true
        if let context = handler.context {
            context.write(handler.wrapOutboundOut(buffer), promise: nil)
        } else {
            channel.write(buffer, promise: nil)
        }
    }

    func flush() {
        guard unflushed else { return }
        unflushed = false
        if let context = handler.context { context.flush() } else { channel.flush() }
    }

    func close() {
        reusable = false
        handler.delegate = nil
        channel.close(promise: nil)
    }
}

// Loop-bound: created, used and released only on its channel's event loop. It is
// marked Sendable so it can travel inside that loop's EventLoopFutures.
extension UpstreamConnection: @unchecked Sendable {}

/// The last handler of an upstream channel: parses responses (`UpstreamResponseParser`),
/// passes their parts to the current exchange and holds reads while the client cannot
/// take more (backpressure). Requests are serialized by `UpstreamConnection.write`.
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The exchange using the connection; cleared on release, close and failure.
    var delegate: (any UpstreamResponseDelegate)?
    /// Strong: an exchange that fails drops its connection before the channel has
    /// closed, and channelInactive still reads it. The channel's pipeline releases
    /// this handler when it closes, which breaks the cycle.
    var connection: UpstreamConnection?
    private(set) var context: ChannelHandlerContext?
    var parser = UpstreamResponseParser()
    private var holdReads = false
    private var readPending = false
    private var failed = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        guard delegate != nil else {
            // Bytes on an idle connection (even an incomplete head, which the parser
            // would otherwise keep and join to the next exchange's answer): nothing
            // asked for them, so the connection cannot be trusted any more.
            failed = true
            connection?.reusable = false
            if let connection { connection.pool?.remove(connection) }
            context.close(promise: nil)
            return
        }
        let bytes = unwrapInboundIn(data)
        do {
            try parser.feed(bytes) { event in self.deliver(event, context: context) }
        } catch {
            fail(error, context: context)
        }
    }

    private func deliver(_ event: UpstreamResponseParser.Event, context: ChannelHandlerContext) {
        guard !failed else { return }
        guard let delegate else {
            // Bytes on an idle connection: it cannot be trusted any more.
            failed = true
            connection?.reusable = false
            context.close(promise: nil)
            return
        }
        switch event {
        case .head:
            if !parser.keepAlive { connection?.reusable = false }
            delegate.upstreamResponseHead(parser.takeHead())
        case .body(let body):
            delegate.upstreamResponseBody(body)
        case .end:
            if !parser.keepAlive { connection?.reusable = false }
            delegate.upstreamResponseEnd()
        }
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        failed = true
        connection?.reusable = false
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(error)
        context.close(promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.reusable = false
        if let connection { connection.pool?.remove(connection) }
        var error: any Error = ChannelError.eof
        if !failed {
            if parser.hasPartialHead {
                // Part of a head, then the close: the upstream answered and the answer
                // is broken. Not the keep-alive race (a close before any answer), which
                // is retried even for a POST the upstream then has seen once.
                error = HTTPParserError.invalidEOFState
            } else {
                // A body framed by EOF ends here; a truncated one is reported as EOF below.
                try? parser.inputClosed { event in self.deliver(event, context: context) }
            }
        }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(error)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if holdReads {
            readPending = true
        } else {
            context.read()
        }
    }

    /// Stop or restart reading from the upstream.
    func setHoldReads(_ hold: Bool) {
        holdReads = hold
        if !hold && readPending, let context {
            readPending = false
            context.read()
        }
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}
