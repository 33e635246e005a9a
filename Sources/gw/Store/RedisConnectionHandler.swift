import NIOCore

/// Pipelined Redis commands on one channel: replies complete their commands' promises
/// in order. Any error or close fails every command still waiting.
final class RedisConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = (args: [RESPArgument], promise: EventLoopPromise<RESPValue>)
    typealias OutboundOut = ByteBuffer

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
    private var pending = ByteBuffer()
    /// The connection closed: a command written now would wait for a reply forever.
    private var closed = false
    /// Commands sent and not answered, at most: more fail at once (a server slower
    /// than the load; `RedisClient` drops a connection whose commands time out).
    let maxWaiting: Int

    init(maxWaiting: Int = 16_384) {
        self.maxWaiting = maxWaiting
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (args, reply) = unwrapOutboundIn(data)
        if closed || waiting.count >= maxWaiting {
            let error = RESPError(closed ? "the connection to Redis closed" : "\(waiting.count) commands already wait for Redis")
            reply.fail(error)
            promise?.fail(error)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        RESP.encode(args, into: &buffer)
        waiting.append(reply)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        pending.writeBuffer(&chunk)
        do {
            while let value = try RESP.decode(&pending) {
                guard let promise = waiting.popFirst() else {
                    throw RESPError("a reply nobody asked for")
                }
                promise.succeed(value)
            }
            pending.discardReadBytes()
        } catch {
            closed = true
            failAll(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        failAll(RESPError("the connection to Redis closed"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed = true
        failAll(RESPError("the connection to Redis closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closed = true
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}

@available(*, unavailable)
extension RedisConnectionHandler: Sendable {}
