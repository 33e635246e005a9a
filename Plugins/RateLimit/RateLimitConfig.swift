import GatewayPluginSDK

/// The rate-limit filter's configuration, validated once.
struct RateLimitConfig: Sendable {
    /// One `limits[i]` entry as GCRA parameters.
    struct Limit: Sendable {
        let requests: Int
        let per: String
        /// Nanoseconds between two requests at the sustained rate (the emission interval T).
        let interval: UInt64
        /// How far ahead of now the theoretical arrival time may run: `requests * T`,
        /// so a full budget of `requests` can be spent at once.
        let tolerance: UInt64
        /// The 429 body for this limit.
        let refusalBody: String
    }

    /// What a request is counted against.
    enum KeySource: Sendable, Equatable {
        /// `auth.consumer` metadata, else the client IP.
        case consumer
        case clientIP
        /// One budget for the whole route.
        case route
        /// The first value of a request header, else the client IP.
        case header(String)
    }

    static let periods: [(name: String, nanoseconds: UInt64)] = [
        ("second", 1_000_000_000), ("minute", 60_000_000_000), ("hour", 3_600_000_000_000), ("day", 86_400_000_000_000),
    ]
    static let maxLimits = 16

    let limits: [Limit]
    let key: KeySource
    /// Identifies this filter's buckets in the shared store: filter name, key kind and
    /// the limits themselves (so a reload that changes the limits starts afresh).
    let bucketPrefix: String

    init(_ json: JSONValue, filterName: String) throws(ConfigRejection) {
        var reader = ConfigReader()
        let root = reader.object(json, at: "", allowed: ["key", "limits"]) ?? [:]

        var limits: [Limit] = []
        if let value = root["limits"], let items = reader.array(value, at: "limits") {
            if items.count > Self.maxLimits { reader.problem(at: "limits", "at most \(Self.maxLimits) limits, got \(items.count)") }
            for (i, item) in items.enumerated() {
                if let limit = Self.limit(item, at: ConfigReader.path("limits", i), reader: &reader) { limits.append(limit) }
            }
        } else if root["limits"] == nil {
            reader.problem(at: "limits", "missing (a list of {requests, per} entries)")
        }

        var key = KeySource.consumer
        if let value = root["key"], let text = reader.string(value, at: "key") {
            switch text {
            case "consumer": key = .consumer
            case "client_ip": key = .clientIP
            case "route": key = .route
            default:
                let name = text.hasPrefix("header:") ? String(text.dropFirst("header:".count)) : ""
                if HTTPSyntax.isToken(name) {
                    key = .header(name.lowercased())
                } else if text.hasPrefix("header:") {
                    reader.problem(at: "key", "\"\(name)\" is not a valid header name")
                } else {
                    reader.problem(at: "key", "expected consumer, client_ip, route or header:<name>, got \"\(text)\"")
                }
            }
        }
        try reader.finish()

        self.limits = limits
        self.key = key
        let kind: String
        switch key {
        case .consumer: kind = "consumer"
        case .clientIP: kind = "client_ip"
        case .route: kind = "route"
        case .header(let name): kind = "header:" + name
        }
        let signature = limits.map { "\($0.requests)/\($0.per)" }.joined(separator: ",")
        bucketPrefix = filterName + "\u{1}" + kind + "\u{1}" + signature + "\u{1}"
    }

    private static func limit(_ item: JSONValue, at path: String, reader: inout ConfigReader) -> Limit? {
        guard let fields = reader.object(item, at: path, allowed: ["per", "requests"]) else { return nil }
        var requests: Int?
        if let value = fields["requests"] {
            requests = reader.integer(value, at: ConfigReader.path(path, "requests"), in: 1...1_000_000)
        } else {
            reader.problem(at: ConfigReader.path(path, "requests"), "missing")
        }
        var period: (name: String, nanoseconds: UInt64)?
        let perPath = ConfigReader.path(path, "per")
        if let value = fields["per"] {
            if let name = reader.string(value, at: perPath) {
                period = periods.first { $0.name == name }
                if period == nil { reader.problem(at: perPath, "expected second, minute, hour or day, got \"\(name)\"") }
            }
        } else {
            reader.problem(at: perPath, "missing")
        }
        guard let requests, let period else { return nil }
        let interval = period.nanoseconds / UInt64(requests)
        return Limit(
            requests: requests, per: period.name, interval: interval, tolerance: interval * UInt64(requests),
            refusalBody: ErrorReply.body(type: "rate_limited", message: "rate limit exceeded: \(requests) requests per \(period.name)"))
    }
}
