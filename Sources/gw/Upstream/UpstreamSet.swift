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
    /// Health, ejections and breaker counters; shared with the previous state when a
    /// reload keeps the targets.
    var health: UpstreamHealth { balancer.health }

    init(config: GatewayConfig.Upstream, targets: [ResolvedTarget], tls: NIOSSLContext?, health: UpstreamHealth? = nil) {
        self.name = config.name
        self.config = config
        self.targets = targets
        self.balancer = LoadBalancer(
            targets: config.targets, policy: config.balance, health: health, panicMode: config.reliability.panicMode)
        self.tls = tls
    }
}
