import CGatewayPlugin
import NIOCore

/// What the host does when a filter fails (NULL filter, unknown status, a pause that
/// times out, STOP without a reply).
public enum FailureMode: String, Sendable, CaseIterable {
    /// Answer 500 with a JSON error (or reset the stream if the response has started).
    case closed
    /// Skip the filter for the rest of the stream.
    case open
}

/// The `gw_config_handle` of one configured filter: collects `config_error`
/// messages during `config_new` and scopes metric definitions.
final class ConfigHandle: @unchecked Sendable {
    // @unchecked: `errors`, `inConfigNew` and `skippedHooks` are touched only on the
    // control thread during config_new; everything else is immutable.
    let plugin: LoadedPlugin
    var errors: [String] = []
    var inConfigNew = false
    /// GW_HOOK_* bits the filter declared it does without (`config_skip_hooks`).
    var skippedHooks: UInt64 = 0

    init(plugin: LoadedPlugin) {
        self.plugin = plugin
    }

    var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ pointer: OpaquePointer) -> ConfigHandle {
        Unmanaged<ConfigHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }
}

/// One filter of a route's chain: a loaded plugin plus the config object its
/// `config_new` returned. Immutable and shared by every event loop; the plugin's
/// `config_destroy` runs when the last chain (and stream) using it is gone.
public final class ConfiguredFilter: @unchecked Sendable {
    // @unchecked: immutable after init; `config` is the plugin's object, which the
    // ABI requires to be safe for concurrent use.
    public let plugin: LoadedPlugin
    /// A name for logs and errors: the filter's `name:` in the config, else the plugin's name.
    public let name: String
    public let failureMode: FailureMode
    public let pauseTimeout: TimeAmount
    let config: UnsafeMutableRawPointer
    let configHandle: ConfigHandle
    let table: gw_plugin_v1
    let usesRequestBody: Bool
    let usesResponseBody: Bool
    let usesSSE: Bool

    /// Create the filter by handing `configJSON` to the plugin's `config_new`.
    public init(
        plugin: LoadedPlugin, name: String?, configJSON: String,
        failureMode: FailureMode, pauseTimeout: TimeAmount
    ) throws(PluginLoadError) {
        self.plugin = plugin
        self.name = name ?? plugin.name
        self.failureMode = failureMode
        self.pauseTimeout = pauseTimeout
        let handle = ConfigHandle(plugin: plugin)
        self.configHandle = handle
        guard let configNew = plugin.table.config_new else {
            throw PluginLoadError(.invalidDescriptor, path: plugin.path, detail: "config_new missing")
        }
        handle.inConfigNew = true
        var bytes = Array(configJSON.utf8)
        let filterName = self.name
        let object: UnsafeMutableRawPointer? = filterName.withGWStr { nameStr in
            bytes.withUnsafeMutableBufferPointer { buffer in
                configNew(plugin.state, handle.opaque, nameStr, gw_bytes(ptr: UnsafePointer(buffer.baseAddress), len: buffer.count))
            }
        }
        handle.inConfigNew = false
        guard let object else {
            let message = handle.errors.isEmpty ? "config_new returned NULL without a message" : handle.errors.joined(separator: "; ")
            throw PluginLoadError(.configRejected, path: plugin.path, detail: "plugin \(plugin.name) rejected its config: \(message)")
        }
        self.config = object
        // This filter's own copy of the plugin's table, without the hooks it declared
        // it does without: the chain then never calls them, and a body no filter
        // reads streams past them all.
        let table = Self.table(plugin.table, skipping: handle.skippedHooks)
        self.table = table
        let features = plugin.activeFeatures
        usesRequestBody = table.on_request_body != nil && features & UInt64(GW_FEATURE_REQUEST_BODY) != 0
        usesResponseBody = table.on_response_body != nil && features & UInt64(GW_FEATURE_RESPONSE_BODY) != 0
        usesSSE = table.on_response_sse_event != nil && features & UInt64(GW_FEATURE_SSE_EVENTS) != 0
    }

    static func table(_ table: gw_plugin_v1, skipping hooks: UInt64) -> gw_plugin_v1 {
        var table = table
        if hooks & GW_HOOK_REQUEST_HEADERS != 0 { table.on_request_headers = nil }
        if hooks & GW_HOOK_REQUEST_BODY != 0 { table.on_request_body = nil }
        if hooks & GW_HOOK_RESPONSE_HEADERS != 0 { table.on_response_headers = nil }
        if hooks & GW_HOOK_RESPONSE_BODY != 0 { table.on_response_body = nil }
        if hooks & GW_HOOK_RESPONSE_SSE_EVENT != 0 { table.on_response_sse_event = nil }
        if hooks & GW_HOOK_STREAM_COMPLETE != 0 { table.on_stream_complete = nil }
        return table
    }

    deinit {
        table.config_destroy?(config)
    }
}

extension String {
    /// Calls `body` with a `gw_str` view of the string's UTF-8 bytes.
    func withGWStr<R>(_ body: (gw_str) throws -> R) rethrows -> R {
        var copy = self
        return try copy.withUTF8 { utf8 in
            try utf8.withMemoryRebound(to: CChar.self) { chars in
                try body(gw_str(ptr: chars.baseAddress, len: chars.count))
            }
        }
    }
}

/// A route's compiled, immutable list of filters.
public final class FilterChain: Sendable {
    public let filters: [ConfiguredFilter]
    let anyRequestBody: Bool
    let anyResponseBody: Bool
    /// Some filter takes `text/event-stream` responses event by event.
    let anySSE: Bool

    public init(filters: [ConfiguredFilter]) {
        self.filters = filters
        anyRequestBody = filters.contains { $0.usesRequestBody }
        anyResponseBody = filters.contains { $0.usesResponseBody || $0.usesSSE }
        anySSE = filters.contains { $0.usesSSE }
    }

    public static let empty = FilterChain(filters: [])
    public var isEmpty: Bool { filters.isEmpty }
}
