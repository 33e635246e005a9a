import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Binds a proxy listener. Each connection gets NIO's HTTP/1 decoder and encoder
/// and a `DownstreamHandler`; no pipelining helper (it costs two epoll_ctl per
/// request), the handler queues pipelined requests itself.
enum ProxyServer {
    static let activeConnections = Atomic<Int>(0)

    static func bind(listener: GatewayConfig.Listener, tls: NIOSSLContext?, gateway: Gateway) async throws -> any Channel {
        let idle = gateway.currentState().config.timeouts.idle
        let scheme = tls == nil ? "http" : "https"
        return try await ServerBootstrap(group: gateway.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    try sync.addHandler(HTTPResponseEncoder(configuration: .init()))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(DownstreamHandler(gateway: gateway, scheme: scheme))
                    activeConnections.wrappingAdd(1, ordering: .relaxed)
                    channel.closeFuture.whenComplete { _ in activeConnections.wrappingAdd(-1, ordering: .relaxed) }
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: listener.host, port: listener.port).get()
    }
}
