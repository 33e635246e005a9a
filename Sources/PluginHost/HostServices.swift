import Logging
import NIOCore

/// Process-wide services the host table offers plugins: logging, the shared
/// key-value store, metrics and HTTP call-outs.
public final class HostServices: Sendable {
    public let logger: Logger
    public let kv: SharedKeyValueStore
    public let metrics: MetricsRegistry
    public let callouts: (any HTTPCalloutClient)?
    /// shared_gcra / shared_incr: in-process, or Redis when `shared_store` is configured.
    public let sharedStore: SharedStoreSlot

    public init(
        logger: Logger,
        kv: SharedKeyValueStore = SharedKeyValueStore(),
        metrics: MetricsRegistry = MetricsRegistry(),
        callouts: (any HTTPCalloutClient)? = nil
    ) {
        self.logger = logger
        self.kv = kv
        self.metrics = metrics
        self.callouts = callouts
        self.sharedStore = SharedStoreSlot(LocalSharedStore(kv: kv))
    }
}

/// A request a plugin sends through `http_callout`.
public struct CalloutRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: ByteBuffer
    public var timeout: TimeAmount
}

/// The answer to a call-out.
public struct CalloutResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: ByteBuffer

    public init(status: Int, headers: [(String, String)], body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Why a call-out produced no response.
public enum CalloutFailure: Error, Sendable {
    case timeout, connectFailed, reset, tooLarge
}

/// Performs call-outs on a given event loop. Implemented by the server (PluginHost
/// owns no sockets).
public protocol HTTPCalloutClient: Sendable {
    func execute(_ request: CalloutRequest, on loop: any EventLoop) -> EventLoopFuture<CalloutResponse>
}
