import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOConcurrencyHelpers

/// Binds a proxy listener. Each connection gets a `DownstreamHandler` (after TLS)
/// and nothing else: it parses and frames HTTP/1.1 itself, queues pipelined
/// requests (NIO's pipelining helper costs two epoll_ctl per request) and keeps the
/// idle and request-head timers.
enum ProxyServer {
    static func bind(listener: GatewayConfig.Listener, tls: NIOSSLContext?, gateway: Gateway) async throws -> any Channel {
        let idle = gateway.currentState().config.timeouts.idle
        let headTimeout = gateway.currentState().config.timeouts.requestHeaders
        let scheme = tls == nil ? "http" : "https"
        let address = (host: listener.host, port: listener.port)
        return try await ServerBootstrap(group: gateway.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    try sync.addHandler(
                        DownstreamHandler(
                            gateway: gateway, scheme: scheme, idleTimeout: idle, headTimeout: headTimeout,
                            listener: address))
                    gateway.connections.register(channel)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: listener.host, port: listener.port).get()
    }
}

/// Sent to every client connection when the gateway drains: an idle one closes at
/// once, a busy one after its current response.
struct DrainEvent: Sendable {}

/// The client connections of one gateway, so shutdown can drain them.
final class ConnectionRegistry: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func register(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = self.channels.withLockedValue { $0.removeValue(forKey: id) }
        }
    }

    var count: Int { channels.withLockedValue { $0.count } }

    /// Ask every connection to close when idle.
    func drain() {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        }
    }

    /// Close whatever is left.
    func closeAll() {
        for channel in channels.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }
}
