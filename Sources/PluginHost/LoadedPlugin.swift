import CGatewayPlugin

/// A plugin file that passed every load check. Immutable and shared; never unloaded.
///
/// Its address is the `gw_plugin_handle *` the plugin receives, so the object is
/// retained for the life of the process.
public final class LoadedPlugin: @unchecked Sendable {
    // @unchecked: every stored property is immutable after `complete(...)`, which the
    // loader calls once on the control thread before the plugin is published.
    public let path: String
    public private(set) var name: String = ""
    public private(set) var version: String = ""
    public private(set) var buildInfo: String = ""
    public private(set) var abiMinor: UInt16 = 0
    public private(set) var requiredFeatures: UInt64 = 0
    public private(set) var optionalFeatures: UInt64 = 0
    /// The plugin's hook table, copied into the host's layout (slots the plugin's
    /// ABI minor does not know are zero).
    public private(set) var table = gw_plugin_v1()
    var state: UnsafeMutableRawPointer?
    let services: HostServices

    init(path: String, services: HostServices) {
        self.path = path
        self.services = services
    }

    func complete(descriptor: UnsafePointer<gw_plugin_v1>) {
        var copy = gw_plugin_v1()
        let size = min(Int(descriptor.pointee.struct_size), MemoryLayout<gw_plugin_v1>.size)
        withUnsafeMutableBytes(of: &copy) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: descriptor, count: size))
        }
        table = copy
        name = String(copy.name)
        version = String(copy.version)
        buildInfo = String(copy.build_info)
        abiMinor = copy.abi_minor
        requiredFeatures = copy.required_features
        optionalFeatures = copy.optional_features
    }

    /// The opaque handle passed to the plugin.
    var handle: OpaquePointer {
        OpaquePointer(Unmanaged.passUnretained(self).toOpaque())
    }

    static func from(_ handle: OpaquePointer) -> LoadedPlugin {
        Unmanaged<LoadedPlugin>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Names of the hooks the plugin implements, for `gw plugins inspect`.
    public var hookNames: [String] {
        var names: [String] = []
        if table.plugin_init != nil { names.append("plugin_init") }
        if table.config_new != nil { names.append("config_new") }
        if table.config_destroy != nil { names.append("config_destroy") }
        if table.filter_new != nil { names.append("filter_new") }
        if table.filter_destroy != nil { names.append("filter_destroy") }
        if table.on_request_headers != nil { names.append("on_request_headers") }
        if table.on_request_body != nil { names.append("on_request_body") }
        if table.on_response_headers != nil { names.append("on_response_headers") }
        if table.on_response_body != nil { names.append("on_response_body") }
        if table.on_response_sse_event != nil { names.append("on_response_sse_event") }
        if table.on_stream_complete != nil { names.append("on_stream_complete") }
        if table.on_async_event != nil { names.append("on_async_event") }
        if table.on_callout_done != nil { names.append("on_callout_done") }
        return names
    }

    /// The features this plugin will actually use in this host.
    public var activeFeatures: UInt64 {
        (requiredFeatures | optionalFeatures) & HostFeatures.offered
    }
}

extension String {
    init(_ s: gw_str) {
        guard let ptr = s.ptr, s.len > 0 else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: ptr, count: s.len), as: UTF8.self)
    }
}
