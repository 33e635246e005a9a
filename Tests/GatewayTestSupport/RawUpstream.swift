import NIOCore
import NIOPosix
import Synchronization

/// An upstream on 127.0.0.1 that answers every request head with fixed raw bytes
/// and then closes the connection: for responses NIO's server would frame on its
/// own (a body delimited by the close, a chunked body, framing headers on a 204).
/// Requests are expected without a body.
public final class RawUpstream: Sendable {
    public let port: Int
    private let channel: any Channel
    private let heads = Mutex<[String]>([])

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    public static func start(answer: String) async throws -> RawUpstream {
        let box = Mutex<RawUpstream?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(answer: answer) { head in box.withLock { $0?.heads.withLock { $0.append(head) } } })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = RawUpstream(channel: channel)
        box.withLock { $0 = upstream }
        return upstream
    }

    /// The request heads received, as text.
    public var receivedHeads: [String] { heads.withLock { $0 } }

    public func stop() async {
        try? await channel.close()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: String
        let record: @Sendable (String) -> Void
        var received: [UInt8] = []

        init(answer: String, record: @escaping @Sendable (String) -> Void) {
            self.answer = answer
            self.record = record
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += unwrapInboundIn(data).readableBytesView
            let text = String(decoding: received, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { return }
            record(String(text[..<end.lowerBound]))
            received.removeAll()
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
