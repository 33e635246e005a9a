import NIOCore
import NIOSSL

/// A named group of upstream targets with its balancer, TLS context and timeouts.
/// Immutable; rebuilt on reload.
final class UpstreamSet: Sendable {
    struct ResolvedTarget: Sendable {
        let host: String
        let port: Int
        let address: SocketAddress
        /// Key of the per-loop connection pool (shared across reloads).
        let poolKey: String
    }

    let name: String
    let config: GatewayConfig.Upstream
    let targets: [ResolvedTarget]
    let balancer: LoadBalancer
    let tls: NIOSSLContext?

    init(config: GatewayConfig.Upstream, targets: [ResolvedTarget], tls: NIOSSLContext?) {
        self.name = config.name
        self.config = config
        self.targets = targets
        self.balancer = LoadBalancer(targets: config.targets, policy: config.balance)
        self.tls = tls
    }
}
