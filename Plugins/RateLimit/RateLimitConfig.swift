import GatewayPluginSDK

/// The rate-limit filter's configuration, validated once.
struct RateLimitConfig: Sendable {
    /// One `limits[i]` entry as rate parameters.
    struct Limit: Sendable {
        let requests: Int
        let per: String
        /// Requests admitted at once from a full budget (default `requests`).
        let burst: Int
        /// Nanoseconds between two requests at the sustained rate (the emission interval
        /// T; the refill time of one token).
        let interval: UInt64
        /// `burst * T`: how far ahead of now GCRA's theoretical arrival time may run,
        /// and the token bucket's capacity in nanoseconds of refill.
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
        case header(HostString)
    }

    static let periods: [(name: String, nanoseconds: UInt64)] = [
        ("second", 1_000_000_000), ("minute", 60_000_000_000), ("hour", 3_600_000_000_000), ("day", 86_400_000_000_000),
    ]
    static let maxLimits = 16
    /// The longest a full budget may take to refill (`burst * T`): 366 days.
    static let maxRefillNanoseconds: UInt64 = 366 * 86_400_000_000_000

    enum Algorithm: String, Sendable {
        case gcra
        case tokenBucket = "token_bucket"

        /// 64-bit words of stored state per limit.
        var stateWords: Int { self == .gcra ? GCRA.stateWords : TokenBucket.stateWords }
    }

    /// Where buckets live: this process (`local`) or the gateway's shared store
    /// (`shared`: Redis when `shared_store` is configured, so instances share limits).
    enum Store: String, Sendable {
        case local
        case shared
    }

    /// What a `shared` limit does when the shared store does not answer in time.
    enum Unavailable: String, Sendable {
        /// Decide on this instance's own buckets (each instance then admits the full limit).
        case local
        case allow
        case deny
    }

    let algorithm: Algorithm
    let store: Store
    let onStoreUnavailable: Unavailable
    let limits: [Limit]
    let key: KeySource
    /// Identifies this filter's buckets in the shared store: filter name, key kind and
    /// the limits themselves (so a reload that changes the limits starts afresh).
    let bucketPrefix: String

    init(_ json: JSONValue, filterName: String) throws(ConfigRejection) {
        var reader = ConfigReader()
        let root = reader.object(json, at: "", allowed: ["algorithm", "key", "limits", "store", "on_store_unavailable"]) ?? [:]

        var algorithm = Algorithm.gcra
        if let value = root["algorithm"], let name = reader.string(value, at: "algorithm") {
            if let known = Algorithm(rawValue: name) {
                algorithm = known
            } else {
                reader.problem(at: "algorithm", "expected gcra or token_bucket, got \"\(name)\"")
            }
        }

        var store = Store.local
        if let value = root["store"], let name = reader.string(value, at: "store") {
            if let known = Store(rawValue: name) {
                store = known
                if known == .shared && algorithm != .gcra {
                    reader.problem(at: "store", "store: shared needs algorithm: gcra (the shared store runs GCRA atomically)")
                }
            } else {
                reader.problem(at: "store", "expected local or shared, got \"\(name)\"")
            }
        }
        var onStoreUnavailable = Unavailable.local
        if let value = root["on_store_unavailable"], let name = reader.string(value, at: "on_store_unavailable") {
            if let known = Unavailable(rawValue: name) {
                onStoreUnavailable = known
            } else {
                reader.problem(at: "on_store_unavailable", "expected local, allow or deny, got \"\(name)\"")
            }
        }

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
                    key = .header(HostString(copying: name.lowercased()))
                } else if text.hasPrefix("header:") {
                    reader.problem(at: "key", "\"\(name)\" is not a valid header name")
                } else {
                    reader.problem(at: "key", "expected consumer, client_ip, route or header:<name>, got \"\(text)\"")
                }
            }
        }
        try reader.finish()

        self.algorithm = algorithm
        self.store = store
        self.onStoreUnavailable = onStoreUnavailable
        self.limits = limits
        self.key = key
        let kind: String
        switch key {
        case .consumer: kind = "consumer"
        case .clientIP: kind = "client_ip"
        case .route: kind = "route"
        case .header(let name): kind = "header:" + name.description
        }
        let signature = algorithm.rawValue + ":" + limits.map { "\($0.requests)/\($0.per)/\($0.burst)" }.joined(separator: ",")
        bucketPrefix = filterName + "\u{1}" + kind + "\u{1}" + signature + "\u{1}"
    }

    private static func limit(_ item: JSONValue, at path: String, reader: inout ConfigReader) -> Limit? {
        guard let fields = reader.object(item, at: path, allowed: ["burst", "per", "requests"]) else { return nil }
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
        var burst: Int?
        if let value = fields["burst"] {
            burst = reader.integer(value, at: ConfigReader.path(path, "burst"), in: 1...1_000_000)
            if burst == nil { return nil }
        }
        guard let requests, let period else { return nil }
        let interval = period.nanoseconds / UInt64(requests)
        let size = burst ?? requests
        // A full budget must refill in a sane time (and the arithmetic stay in 64 bits).
        let (tolerance, overflow) = interval.multipliedReportingOverflow(by: UInt64(size))
        guard !overflow, tolerance <= maxRefillNanoseconds else {
            reader.problem(at: ConfigReader.path(path, "burst"), "a burst of \(size) at \(requests) per \(period.name) takes more than a year to refill")
            return nil
        }
        let message = "rate limit exceeded: \(requests) requests per \(period.name)" + (size == requests ? "" : " (burst \(size))")
        return Limit(
            requests: requests, per: period.name, burst: size, interval: interval, tolerance: tolerance,
            refusalBody: ErrorReply.body(type: "rate_limited", message: message))
    }
}
