import NIOCore
import PluginHost

/// The gateway's configuration, decoded from one YAML file and validated.
/// Plain values; compiled into routing tables and filter chains by `GatewayState`.
struct GatewayConfig: Sendable {
    struct Listener: Sendable {
        var name: String
        var host: String
        var port: Int
        var tls: TLSFiles?
        /// Peers whose `x-forwarded-proto` and `x-forwarded-host` are kept (a load
        /// balancer in front of gw). From anyone else gw replaces them with its own.
        var trustedProxies: [IPNetwork] = []
    }

    struct TLSFiles: Sendable, Equatable {
        var certificate: String
        var privateKey: String
    }

    struct Limits: Sendable {
        /// Total bytes of request header names and values.
        var maxHeaderBytes = 32 * 1024
        var maxHeaders = 100
        var maxURIBytes = 8 * 1024
        /// Largest request body (0 = unlimited, streamed).
        var maxBodyBytes = 0
        /// Largest body a filter may hold in memory (GW_BUFFER, pauses).
        var bufferBytes = 10 * 1024 * 1024
    }

    struct Timeouts: Sendable {
        /// A keep-alive client connection idle this long is closed.
        var idle: TimeAmount = .seconds(60)
        /// Time allowed for a client to send its request head.
        var requestHeaders: TimeAmount = .seconds(10)
    }

    enum Balance: String, Sendable, CaseIterable {
        case roundRobin = "round_robin"
        case weighted
        case leastRequest = "least_request"
        case consistentHash = "consistent_hash"
    }

    enum HashKey: Sendable, Equatable {
        case header(String)
        case clientIP
    }

    enum HostHeader: Sendable, Equatable {
        case preserve
        case target
        case fixed(String)
    }

    struct Target: Sendable, Equatable {
        var host: String
        var port: Int
        var weight: Int
        /// Priority group: 0 first; higher numbers only when every lower one is unavailable.
        var priority = 0
    }

    struct Upstream: Sendable {
        var name: String
        var targets: [Target]
        var tls: Bool
        var tlsVerify: Bool
        var balance: Balance
        var hashKey: HashKey
        var hostHeader: HostHeader
        var connectTimeout: TimeAmount
        var firstByteTimeout: TimeAmount
        /// 0 = none.
        var totalTimeout: TimeAmount
        var maxIdlePerLoop: Int
        var reliability = UpstreamReliability()
    }

    enum PathMatch: Sendable {
        case exact(String)
        case prefix(String)
        case regex(String)
    }

    enum HeaderMatch: Sendable {
        case exact(String)
        case present
        case regex(String)
    }

    struct Route: Sendable {
        var name: String
        var hosts: [String]
        var methods: [String]
        var path: PathMatch
        var headers: [(name: String, match: HeaderMatch)]
        var upstream: String?
        var directResponse: DirectResponse?
        var rewritePath: String?
        var filters: [Filter]
        /// Where in the file the route was declared (for runtime messages).
        var line: Int
        var reliability = RouteReliability()
        /// An AI route (`ai:`): gw answers it with the model catalogue, no upstream.
        var ai: AIRoute?
    }

    struct DirectResponse: Sendable {
        var status: Int
        var body: String
        var contentType: String
    }

    struct Filter: Sendable {
        var plugin: String
        var name: String?
        var failureMode: String
        var pauseTimeout: TimeAmount
        var configJSON: String
        /// Location of the filter in the file, for plugin errors.
        var file: String
        var line: Int
        var keyPath: String
    }

    var source: String
    var listeners: [Listener] = []
    var adminHost: String? = "127.0.0.1"
    var adminPort = 9901
    var demoUpstream: (host: String, port: Int)?
    /// Route and forward by the normalised path (`PathNormalizer`).
    var normalizePaths = true
    /// `%2F` / `%5C` in a path: kept encoded or refused (with `normalize_paths`).
    var encodedSlashes = PathNormalizer.EncodedSlashes.keep
    var pluginPath: [String] = []
    var limits = Limits()
    var timeouts = Timeouts()
    var upstreams: [String: Upstream] = [:]
    var routes: [Route] = []
    var ai: AI?
    var sharedStore: SharedStore?
}
