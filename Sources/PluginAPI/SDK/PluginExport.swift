/// The per-plugin globals the C glue needs. Each plugin `.so` links its own copy of
/// the SDK (loaded RTLD_LOCAL), so these are per plugin. Written once, in the entry.
@usableFromInline enum PluginRuntime {
    @usableFromInline nonisolated(unsafe) static var host: UnsafePointer<gw_host_v1>!
    @usableFromInline nonisolated(unsafe) static var handle: OpaquePointer!
    nonisolated(unsafe) static var factory: (any FilterFactory.Type)?
    nonisolated(unsafe) static var descriptor: UnsafeMutablePointer<gw_plugin_v1>?
}

/// Boxes a filter so its address can travel as the plugin's `void *` per stream.
final class FilterBox {
    let filter: any StreamFilter
    init(_ filter: any StreamFilter) { self.filter = filter }
}

/// The plugin's config object as the host holds it: the factory, and, when the
/// factory is itself a (stateless, shared) `StreamFilter`, one box reused by every
/// stream that `makeFilter` answers with the factory itself, so such streams cost no
/// allocation.
final class ConfigBox {
    let factory: any FilterFactory
    let shared: FilterBox?
    init(_ factory: any FilterFactory) {
        self.factory = factory
        shared = (factory as? any StreamFilter).map(FilterBox.init)
    }
}

/// Feature bits a plugin may require or use.
public struct PluginFeatures: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let requestBody = PluginFeatures(rawValue: GW_FEATURE_REQUEST_BODY)
    public static let responseBody = PluginFeatures(rawValue: GW_FEATURE_RESPONSE_BODY)
    public static let httpCallout = PluginFeatures(rawValue: GW_FEATURE_HTTP_CALLOUT)
    public static let sharedKV = PluginFeatures(rawValue: GW_FEATURE_SHARED_KV)
    public static let sseEvents = PluginFeatures(rawValue: GW_FEATURE_SSE_EVENTS)
    public static let metrics = PluginFeatures(rawValue: GW_FEATURE_METRICS)
    /// shared_gcra / shared_incr (ABI 1.1).
    public static let sharedStore = PluginFeatures(rawValue: GW_FEATURE_SHARED_STORE)
}

/// Turns a `FilterFactory` into a gw ABI v1 plugin. Call it from your entry point:
///
/// ```swift
/// @c(gw_plugin_entry_v1)
/// public func entry(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
///     GatewayPluginExport.export(MyFactory.self, name: "my_plugin", version: "1.0.0", host: host, handle: handle)
/// }
/// ```
public enum GatewayPluginExport {
    public static func export(
        _ factory: any FilterFactory.Type, name: StaticString, version: StaticString,
        required: PluginFeatures = [], optional: PluginFeatures = [],
        host: UnsafePointer<gw_host_v1>, handle: OpaquePointer
    ) -> UnsafePointer<gw_plugin_v1>? {
        guard host.pointee.abi_major == UInt16(GW_ABI_MAJOR) else { return nil }
        if let existing = PluginRuntime.descriptor { return UnsafePointer(existing) }
        PluginRuntime.host = host
        PluginRuntime.handle = handle
        PluginRuntime.factory = factory
        var d = gw_plugin_v1()
        d.struct_size = UInt32(MemoryLayout<gw_plugin_v1>.size)
        d.abi_major = UInt16(GW_ABI_MAJOR)
        d.abi_minor = UInt16(GW_ABI_MINOR)
        d.name = name.gwStr
        d.version = version.gwStr
        d.build_info = ("lang=swift sdk=GatewayPluginSDK" as StaticString).gwStr
        d.required_features = required.rawValue
        d.optional_features = optional.rawValue
        d.config_new = { _, handle, filterName, bytes in
            guard let factory = PluginRuntime.factory else { return nil }
            let context = ConfigContext(handle: handle, filterName: String(gwStr: filterName))
            do {
                let json = try JSONValue.parse(UnsafeRawBufferPointer(start: bytes.ptr, count: bytes.ptr == nil ? 0 : bytes.len))
                let object = try factory.init(config: json, context: context)
                GatewayPluginExport.skipHooks(object.unusedHooks, handle)
                return Unmanaged.passRetained(ConfigBox(object)).toOpaque()
            } catch let rejection as ConfigRejection {
                for message in rejection.messages { GatewayPluginExport.reportConfigError(handle, message) }
            } catch {
                GatewayPluginExport.reportConfigError(handle, "\(error)")
            }
            return nil
        }
        d.config_destroy = { Unmanaged<ConfigBox>.fromOpaque($0).release() }
        d.filter_new = { config, stream in
            // No retain of the config box around the call: the host keeps it until config_destroy.
            Unmanaged<ConfigBox>.fromOpaque(config)._withUnsafeGuaranteedRef { box in
                guard let filter = box.factory.makeFilter(stream: Stream(raw: stream)) else { return nil }
                if let shared = box.shared, shared.filter === filter { return Unmanaged.passRetained(shared).toOpaque() }
                return Unmanaged.passRetained(FilterBox(filter)).toOpaque()
            }
        }
        d.filter_destroy = { Unmanaged<FilterBox>.fromOpaque($0).release() }
        let hooks = factory.hooks
        if hooks.contains(.requestHeaders) {
            d.on_request_headers = { f, s, eos in
                // No retain around the call: the host keeps the box until filter_destroy.
                Unmanaged<FilterBox>.fromOpaque(f)._withUnsafeGuaranteedRef { $0.filter.onRequestHeaders(Stream(raw: s), endOfStream: eos).raw }
            }
        }
        if hooks.contains(.responseHeaders) {
            d.on_response_headers = { f, s, eos in
                Unmanaged<FilterBox>.fromOpaque(f)._withUnsafeGuaranteedRef { $0.filter.onResponseHeaders(Stream(raw: s), endOfStream: eos).raw }
            }
        }
        if hooks.contains(.requestBody) {
            d.on_request_body = { f, s, chunk, eos in
                let bytes = UnsafeRawBufferPointer(start: chunk.ptr, count: chunk.ptr == nil ? 0 : chunk.len)
                return Unmanaged<FilterBox>.fromOpaque(f).takeUnretainedValue().filter.onRequestBody(Stream(raw: s), chunk: bytes, endOfStream: eos).raw
            }
        }
        if hooks.contains(.responseBody) {
            d.on_response_body = { f, s, chunk, eos in
                let bytes = UnsafeRawBufferPointer(start: chunk.ptr, count: chunk.ptr == nil ? 0 : chunk.len)
                return Unmanaged<FilterBox>.fromOpaque(f).takeUnretainedValue().filter.onResponseBody(Stream(raw: s), chunk: bytes, endOfStream: eos).raw
            }
        }
        if hooks.contains(.responseSSEEvent) {
            d.on_response_sse_event = { f, s, ev, eos in
                Unmanaged<FilterBox>.fromOpaque(f).takeUnretainedValue().filter.onResponseSSEEvent(
                    Stream(raw: s), event: SSEEvent(ev.pointee), endOfStream: eos
                ).raw
            }
        }
        if hooks.contains(.streamComplete) {
            d.on_stream_complete = { f, s in
                Unmanaged<FilterBox>.fromOpaque(f)._withUnsafeGuaranteedRef { $0.filter.onStreamComplete(Stream(raw: s)) }
            }
        }
        if hooks.contains(.asyncEvent) {
            d.on_async_event = { f, s, id, data in
                let filter = Unmanaged<FilterBox>.fromOpaque(f).takeUnretainedValue().filter
                if id & sharedEventBit != 0, let data {
                    filter.onSharedResult(
                        Stream(raw: s), eventID: id & ~(sharedEventBit | sharedGetBit), result: SharedStoreResult.decode(data, eventID: id).result)
                } else {
                    filter.onAsyncEvent(Stream(raw: s), eventID: id)
                }
            }
        }
        let pointer = UnsafeMutablePointer<gw_plugin_v1>.allocate(capacity: 1)
        pointer.initialize(to: d)
        PluginRuntime.descriptor = pointer
        return UnsafePointer(pointer)
    }

    /// Tell the host (ABI 1.2 and later) which hooks this filter does without; an
    /// older host has no such slot and calls them all.
    static func skipHooks(_ hooks: FilterHooks, _ handle: OpaquePointer) {
        guard !hooks.isEmpty, let host = PluginRuntime.host else { return }
        let slotEnd = MemoryLayout<gw_host_v1>.offset(of: \gw_host_v1.config_skip_hooks)! + MemoryLayout<UnsafeRawPointer>.size
        guard Int(host.pointee.struct_size) >= slotEnd else { return }
        var bits: UInt64 = 0
        if hooks.contains(.requestHeaders) { bits |= GW_HOOK_REQUEST_HEADERS }
        if hooks.contains(.requestBody) { bits |= GW_HOOK_REQUEST_BODY }
        if hooks.contains(.responseHeaders) { bits |= GW_HOOK_RESPONSE_HEADERS }
        if hooks.contains(.responseBody) { bits |= GW_HOOK_RESPONSE_BODY }
        if hooks.contains(.responseSSEEvent) { bits |= GW_HOOK_RESPONSE_SSE_EVENT }
        if hooks.contains(.streamComplete) { bits |= GW_HOOK_STREAM_COMPLETE }
        _ = host.pointee.config_skip_hooks(handle, bits)
    }

    static func reportConfigError(_ handle: OpaquePointer, _ message: String) {
        message.withGWStr { PluginRuntime.host.pointee.config_error(handle, $0) }
    }

    /// Log through the host (tagged with the plugin's name).
    public static func log(_ message: String, level: gw_log_level = GW_LOG_INFO) {
        guard let host = PluginRuntime.host else { return }
        message.withGWStr { host.pointee.log(PluginRuntime.handle, level, $0) }
    }
}
