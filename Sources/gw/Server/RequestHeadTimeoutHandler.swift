import NIOCore

/// Closes a connection whose request head does not arrive within
/// `timeouts.request_headers` (slow-header clients, "slowloris"), answering 408.
///
/// It sits before the HTTP decoder and sees raw bytes. A timer is armed only when a
/// read ends with a head still incomplete, so the common case (a whole head in one
/// read) schedules nothing.
final class RequestHeadTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case idle, receivingHead, inRequest
    }

    let timeout: TimeAmount
    private var state = State.idle
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .idle { state = .receivingHead }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if state == .receivingHead && timer == nil && timeout.nanoseconds > 0 {
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                self.timer = nil
                guard self.state == .receivingHead else { return }
                Self.answerTimeout(context: context)
            }
        }
        context.fireChannelReadComplete()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    /// The downstream handler parsed a request head.
    func headReceived() {
        state = .inRequest
        timer?.cancel()
        timer = nil
    }

    /// The exchange finished and the connection stays open for the next request.
    func requestFinished() {
        state = .idle
    }

    private static func answerTimeout(context: ChannelHandlerContext) {
        let body = JSON.error(type: "request_timeout", message: "the request head did not arrive in time")
        let text = "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n"
            + "x-gw-error: request_timeout\r\nconnection: close\r\n\r\n" + body
        context.writeAndFlush(NIOAny(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension RequestHeadTimeoutHandler: Sendable {}
