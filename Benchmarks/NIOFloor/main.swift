// gw-nio-floor: the cheapest proxy SwiftNIO's channel layer allows, as a reference row for
// `make bench`. Each client connection gets its own upstream connection on the same event
// loop, and bytes are copied across unparsed: no HTTP, no routing, no pool. Whatever this
// costs per request is the floor for any proxy built on NIO channels, gw included, so the
// gap between it and nginx is the part of gw's gap that HTTP handling cannot close.
//
// Usage: gw-nio-floor <listen port> <upstream port>   (both on 127.0.0.1, one event loop)

import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes what one side reads to the other side, flushing once per read burst. Both
/// channels of a pair live on one event loop, and the handler is only touched there.
final class Forwarder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var peer: Channel?
    private var pendingFlush = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let peer else { return }
        peer.write(unwrapInboundIn(data), promise: nil)
        pendingFlush = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingFlush, let peer {
            pendingFlush = false
            peer.flush()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer?.close(promise: nil)
        peer = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: gw-nio-floor <listen port> <upstream port>")
    exit(2)
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { client in
        let downstream = Forwarder()
        let upstream = Forwarder()
        upstream.peer = client
        return ClientBootstrap(group: client.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { $0.pipeline.addHandler(upstream) }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .flatMap { upstreamChannel in
                downstream.peer = upstreamChannel
                // The server bootstrap registers the client channel (and starts reading)
                // only once this future completes, so no byte arrives before the peer exists.
                return client.pipeline.addHandler(downstream)
            }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("gw-nio-floor: 127.0.0.1:\(listenPort) -> 127.0.0.1:\(upstreamPort)")
try server.closeFuture.wait()
