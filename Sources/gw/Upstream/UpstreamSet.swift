import NIOCore
import NIOSSL

/// A named group of upstream targets with its balancer, TLS context and timeouts.
/// Immutable; rebuilt on reload.
final class UpstreamSet: Sendable {
    /// A class: an exchange takes its target from `targets` on every request, and a
    /// struct of five reference-counted fields was copied (retained) field by field.
    final class ResolvedTarget: Sendable {
        let host: String
        let port: Int
        let address: SocketAddress
        /// Key of the per-loop connection pool (shared across reloads).
        let poolKey: String
        /// `host:port`: the Host a request without one gets (policy `preserve`).
        let authority: String
        /// The Host for policy `target`: without the port when it is 80 or 443.
        let hostHeader: String

        init(host: String, port: Int, address: SocketAddress, poolKey: String) {
            self.host = host
            self.port = port
            self.address = address
            self.poolKey = poolKey
            // An IPv6 literal is bracketed in a Host (RFC 3986 §3.2.2).
            let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            authority = "\(name):\(port)"
            hostHeader = port == 80 || port == 443 ? name : authority
        }
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
