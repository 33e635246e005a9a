import GatewayPluginSDK

/// The filter factory: one per configured filter, shared by every event loop. Holds
/// the validated config and the zone (store and collapsed misses) it caches in.
final class CacheFactory: FilterFactory {
    let config: CacheConfig
    let zone: CacheZone

    init(config: JSONValue, context: ConfigContext) throws {
        guard HostBridge.layoutMatches else {
            throw ConfigRejection("cache: the Swift SDK's Stream no longer has the layout this plugin was written for")
        }
        self.config = try CacheConfig(config, filterName: context.filterName)
        if self.config.backend == .shared && !Stream.hasSharedStore {
            throw ConfigRejection("backend: shared needs a host with the shared store (gw plugin ABI 1.1)")
        }
        zone = CacheZone.acquire(self.config.zone, maxBytes: self.config.maxBytes)
    }

    deinit {
        CacheZone.release(config.zone)
    }

    static let hooks: FilterHooks = [.requestHeaders, .requestBody, .responseHeaders, .responseBody, .streamComplete, .asyncEvent]

    func makeFilter(stream: Stream) -> (any StreamFilter)? {
        CacheFilter(factory: self)
    }
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    HostBridge.host = host
    return GatewayPluginExport.export(
        CacheFactory.self, name: "cache", version: "0.1.0", required: [.requestBody, .responseBody], optional: [.sharedStore], host: host, handle: handle)
}
