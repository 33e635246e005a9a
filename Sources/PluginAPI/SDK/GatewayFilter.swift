@_exported import CGatewayPlugin

/// What a hook answers; mirrors `gw_status`.
public enum FilterStatus: Sendable {
    /// Pass on to the next filter.
    case `continue`
    /// This filter answered (after `Stream.sendLocalReply`); the chain stops.
    case stop
    /// Hold the stream; resume later with a `ResumeHandle` or `Stream.continue()`.
    case pause
    /// Headers hook: deliver the whole body to the body hook first.
    /// Body hook: keep this chunk; the next call sees it again, with more.
    case buffer

    var raw: gw_status {
        switch self {
        case .continue: return GW_CONTINUE
        case .stop: return GW_STOP
        case .pause: return GW_PAUSE
        case .buffer: return GW_BUFFER
        }
    }
}

/// Why a config was rejected; every message reaches `gw check` and the reload error
/// (each through its own `config_error` call). Name the key at fault in each message,
/// e.g. `keys[2].key: must not be empty`; `ConfigReader` does that for you.
public struct ConfigRejection: Error, Sendable {
    public let messages: [String]
    /// All messages, joined with "; ".
    public var message: String { messages.joined(separator: "; ") }
    public init(_ message: String) { self.messages = [message] }
    public init(messages: [String]) { self.messages = messages }
}

/// A plugin's per-filter configuration: parsed once on the control thread, then
/// shared by every event loop, so it must be `Sendable` (immutable is simplest).
public protocol FilterFactory: AnyObject, Sendable {
    /// Parse and validate `config` (the filter's `config:` block as JSON).
    /// Throw `ConfigRejection` to refuse it.
    init(config: JSONValue, context: ConfigContext) throws

    /// Create the filter for one stream; nil is a filter failure.
    func makeFilter(stream: Stream) -> (any StreamFilter)?

    /// The `StreamFilter` hooks the filters implement. Only these are registered with
    /// the host; a hook left out costs nothing, and a filter without body hooks leaves
    /// bodies streaming past it untouched. Default: all of them.
    static var hooks: FilterHooks { get }

    /// Hooks of `hooks` that this filter (this config) never needs: the host then
    /// skips them for its streams (ABI 1.2, `config_skip_hooks`; an older host calls
    /// them, so they must still work). A filter whose config only edits headers
    /// returns its body hooks here and bodies stream past it. Default: none.
    var unusedHooks: FilterHooks { get }
}

extension FilterFactory {
    public static var hooks: FilterHooks { .all }
    public var unusedHooks: FilterHooks { [] }
}

/// Which `StreamFilter` hooks a plugin registers with the host.
public struct FilterHooks: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let requestHeaders = FilterHooks(rawValue: 1 << 0)
    public static let requestBody = FilterHooks(rawValue: 1 << 1)
    public static let responseHeaders = FilterHooks(rawValue: 1 << 2)
    public static let responseBody = FilterHooks(rawValue: 1 << 3)
    public static let streamComplete = FilterHooks(rawValue: 1 << 4)
    public static let asyncEvent = FilterHooks(rawValue: 1 << 5)
    public static let all: FilterHooks = [.requestHeaders, .requestBody, .responseHeaders, .responseBody, .streamComplete, .asyncEvent]
    /// `onResponseSSEEvent`: a `text/event-stream` response reaches the filter one
    /// framed event at a time instead of through `onResponseBody`. Not in `.all`
    /// (registering it changes how event streams reach the filter): list it, and
    /// declare `.sseEvents` in `GatewayPluginExport.export`'s features.
    public static let responseSSEEvent = FilterHooks(rawValue: 1 << 6)
}

/// One stream's filter. Loop-bound: never shared between threads.
/// Every hook has a default that passes the stream on unchanged.
public protocol StreamFilter: AnyObject {
    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus
    func onRequestBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus
    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus
    func onResponseBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus
    /// One event of a `text/event-stream` response (hook `.responseSSEEvent`).
    /// `stream.body(.response)` / `replaceBody(.response, with:)` act on the event's raw
    /// bytes; replacing with nothing drops it. `endOfStream` marks the last call (its
    /// event may be empty). May return only `.continue` or `.pause`.
    func onResponseSSEEvent(_ stream: Stream, event: SSEEvent, endOfStream: Bool) -> FilterStatus
    func onStreamComplete(_ stream: Stream)
    func onAsyncEvent(_ stream: Stream, eventID: UInt64)
    /// The answer of `Stream.sharedGCRA` / `sharedIncrement` (needs `.asyncEvent` in hooks).
    func onSharedResult(_ stream: Stream, eventID: UInt64, result: SharedStoreResult)
}

extension StreamFilter {
    public func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus { .continue }
    public func onRequestBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus { .continue }
    public func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus { .continue }
    public func onResponseBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus { .continue }
    public func onResponseSSEEvent(_ stream: Stream, event: SSEEvent, endOfStream: Bool) -> FilterStatus { .continue }
    public func onStreamComplete(_ stream: Stream) {}
    public func onAsyncEvent(_ stream: Stream, eventID: UInt64) {}
    public func onSharedResult(_ stream: Stream, eventID: UInt64, result: SharedStoreResult) {}
}

/// What `config_new` offers besides the config: error reporting and the plugin's name.
public struct ConfigContext {
    let handle: OpaquePointer
    public let filterName: String
}
