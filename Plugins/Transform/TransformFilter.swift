import GatewayPluginSDK

/// Header, query and status rewriting. Header-only: no body hooks, so bodies stay
/// streamed and are never copied. Stateless per stream, so the config object is also
/// the filter of every stream.
final class TransformFilter: FilterFactory, StreamFilter {
    let config: TransformConfig

    init(config: JSONValue, context: ConfigContext) throws {
        self.config = try TransformConfig(config)
    }

    static let hooks: FilterHooks = [.requestHeaders, .responseHeaders]

    func makeFilter(stream: Stream) -> (any StreamFilter)? { self }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        guard config.hasRequestWork else { return .continue }
        apply(config.requestHeaders, stream, .request)
        if !config.queryRemove.isEmpty { stream.removeQueryParameters(config.queryRemove) }
        if !config.queryAdd.isEmpty { stream.appendQueryPairs(config.queryAdd) }
        return .continue
    }

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        guard config.hasResponseWork else { return .continue }
        if !config.statusMap.isEmpty, let status = stream.attribute(.responseStatus).flatMap({ Int($0) }),
            let mapped = config.statusMap[status]
        {
            stream.setAttribute(.responseStatus, mapped)
        }
        apply(config.responseHeaders, stream, .response)
        return .continue
    }

    private func apply(_ ops: TransformConfig.HeaderOps, _ stream: Stream, _ direction: Stream.Direction) {
        for name in ops.remove { stream.removeHeader(name, direction) }
        for (from, to) in ops.rename {
            let values = stream.headerValues(from, direction)
            guard !values.isEmpty else { continue }
            stream.removeHeader(from, direction)
            stream.removeHeader(to, direction)
            for value in values { stream.addHeader(to, value, direction) }
        }
        for (name, value) in ops.set { stream.setHeader(name, value, direction) }
        for (name, value) in ops.add { stream.addHeader(name, value, direction) }
    }
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    GatewayPluginExport.export(TransformFilter.self, name: "transform", version: "0.1.0", host: host, handle: handle)
}
