import NIOCore
import PluginHost
import Yams

extension GatewayConfig {
    /// `shared_store:`: where plugins' shared_gcra / shared_incr state lives.
    struct SharedStore: Sendable, Equatable {
        var endpoint: RedisClient.Endpoint
        var timeout: TimeAmount = .milliseconds(100)
        var keyPrefix = "gw:"
    }
}

extension ConfigLoader {
    static func decodeSharedStore(_ node: Node, _ r: YAMLReader) -> GatewayConfig.SharedStore? {
        var url: String?
        var timeout: TimeAmount = .milliseconds(100)
        var prefix = "gw:"
        for (k, v) in r.mapping(node, "shared_store", allowed: ["url", "timeout", "key_prefix"]) ?? [] {
            let p = "shared_store.\(k)"
            switch k {
            case "url": url = r.string(v, p)
            case "timeout": if let d = r.duration(v, p) { timeout = TimeAmount(d) }
            default: prefix = r.string(v, p, nonEmpty: false) ?? prefix
            }
        }
        guard let url else {
            r.issue(node, "shared_store.url", "is required (redis://[:password@]host[:port][/db])")
            return nil
        }
        guard let endpoint = RedisClient.Endpoint(url: url) else {
            r.issue(node, "shared_store.url", "expected redis://[:password@]host[:port][/db]")
            return nil
        }
        return GatewayConfig.SharedStore(endpoint: endpoint, timeout: timeout, keyPrefix: prefix)
    }
}

/// Points the host's shared store at Redis (or back at the process) when a config
/// is applied; an unchanged `shared_store` keeps its connection.
enum SharedStoreSetup {
    static func apply(_ config: GatewayConfig.SharedStore?, services: HostServices, group: any EventLoopGroup) {
        let current = services.sharedStore.store
        guard let config else {
            if let redis = current as? RedisSharedStore {
                services.sharedStore.replace(LocalSharedStore(kv: services.kv))
                redis.client.close()
            }
            return
        }
        if let redis = current as? RedisSharedStore, redis.client.endpoint == config.endpoint,
            redis.client.timeout == config.timeout, redis.prefix == config.keyPrefix
        {
            return
        }
        let client = RedisClient(endpoint: config.endpoint, timeout: config.timeout, group: group)
        services.sharedStore.replace(RedisSharedStore(client: client, prefix: config.keyPrefix))
        (current as? RedisSharedStore)?.client.close()
    }
}
