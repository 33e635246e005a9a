import GatewayPluginSDK

/// The cache filter's configuration, validated once (every problem reported with its
/// key path). Durations are kept in nanoseconds of the host's monotonic clock.
struct CacheConfig: Sendable {
    enum Method: String, Sendable, CaseIterable {
        case get = "GET", head = "HEAD", post = "POST"
    }

    /// Where entries live: this process's LRU zone, or the host's shared store (Redis
    /// when the gateway has `shared_store`, so every instance shares them).
    enum Backend: String, Sendable {
        case memory, shared
    }

    /// The largest `max_object_bytes` with `backend: shared` (the host takes values up
    /// to 64 MiB; headers and the record's framing need room too).
    static let maxSharedObjectBytes = 32 << 20

    static let allowedKeys = [
        "backend", "cache_authorized", "cache_post", "cache_set_cookie", "collapse", "collapse_timeout", "default_ttl", "expires",
        "header", "key_headers", "max_bytes", "max_key_bytes", "max_object_bytes", "max_request_body_bytes", "max_ttl",
        "methods", "request_cache_control", "stale_if_error", "statuses", "zone",
    ]
    static let defaultStatuses: Set<Int> = [200, 203, 204, 301, 404, 410]
    static let maxKeyHeaders = 16

    var zone: String
    var backend = Backend.memory
    var maxBytes = 64 << 20
    var maxObjectBytes = 1 << 20
    var defaultTTL: UInt64 = 0
    var maxTTL: UInt64 = 86_400 * 1_000_000_000
    var staleIfError: UInt64 = 0
    var statuses = defaultStatuses
    var cacheGET = true
    var cacheHEAD = true
    var cachePOST = false
    var maxRequestBodyBytes = 1 << 20
    var cacheSetCookie = false
    var cacheAuthorized = false
    var honourRequestCacheControl = true
    /// Lowercased request header names always in the key.
    var keyHeaders: [String] = []
    /// Lowercased name of the X-Cache header.
    var header = "x-cache"
    var collapse = true
    var collapseTimeoutMilliseconds: UInt64 = 5_000
    var maxKeyBytes = 8 << 10
    var honourExpires = true

    init(_ json: JSONValue, filterName: String) throws(ConfigRejection) {
        var r = ConfigReader()
        let root = r.object(json, at: "", allowed: Self.allowedKeys) ?? [:]
        zone = filterName
        if let v = root["zone"], let name = r.string(v, at: "zone") { zone = name }
        if let v = root["backend"], let name = r.string(v, at: "backend") {
            if let known = Backend(rawValue: name) {
                backend = known
            } else {
                r.problem(at: "backend", "expected memory or shared, got \"\(name)\"")
            }
        }
        if let v = root["max_bytes"], let n = Self.size(v, at: "max_bytes", in: 1024...(1 << 40), &r) { maxBytes = n }
        if let v = root["max_object_bytes"], let n = Self.size(v, at: "max_object_bytes", in: 1...(1 << 40), &r) {
            maxObjectBytes = n
        }
        if root["max_object_bytes"] != nil || root["max_bytes"] != nil, maxObjectBytes > maxBytes {
            r.problem(at: "max_object_bytes", "must not exceed max_bytes (\(maxBytes))")
        }
        if backend == .shared && maxObjectBytes > Self.maxSharedObjectBytes {
            r.problem(at: "max_object_bytes", "must not exceed 32MiB with backend: shared")
        }
        if let v = root["default_ttl"], let d = Self.duration(v, at: "default_ttl", &r) { defaultTTL = d }
        if let v = root["max_ttl"], let d = Self.duration(v, at: "max_ttl", &r) {
            if d == 0 { r.problem(at: "max_ttl", "must be greater than 0") } else { maxTTL = d }
        }
        if defaultTTL > maxTTL { r.problem(at: "default_ttl", "must not exceed max_ttl") }
        if let v = root["stale_if_error"], let d = Self.duration(v, at: "stale_if_error", &r) { staleIfError = d }
        if let v = root["statuses"], let items = r.array(v, at: "statuses") {
            var set: Set<Int> = []
            for (i, item) in items.enumerated() {
                if let code = r.integer(item, at: ConfigReader.path("statuses", i), in: 200...599) { set.insert(code) }
            }
            statuses = set
        }
        parseMethods(root, &r)
        if let v = root["max_request_body_bytes"], let n = Self.size(v, at: "max_request_body_bytes", in: 0...(1 << 30), &r) {
            maxRequestBodyBytes = n
        }
        if let v = root["cache_set_cookie"] { cacheSetCookie = Self.bool(v, at: "cache_set_cookie", &r) ?? false }
        if let v = root["cache_authorized"] { cacheAuthorized = Self.bool(v, at: "cache_authorized", &r) ?? false }
        if let v = root["request_cache_control"], let text = r.string(v, at: "request_cache_control") {
            switch text {
            case "honor", "honour": honourRequestCacheControl = true
            case "ignore": honourRequestCacheControl = false
            default: r.problem(at: "request_cache_control", "expected honor or ignore, got \"\(text)\"")
            }
        }
        if let v = root["key_headers"], let names = r.strings(v, at: "key_headers", allowEmpty: true) {
            if names.count > Self.maxKeyHeaders { r.problem(at: "key_headers", "at most \(Self.maxKeyHeaders) headers") }
            for (path, name) in names where !HTTPSyntax.isToken(name) {
                r.problem(at: path, "\"\(name)\" is not a valid header name")
            }
            keyHeaders = Array(Set(names.map { $0.value.lowercased() })).sorted()
        }
        if let v = root["header"], let name = r.string(v, at: "header") {
            if HTTPSyntax.isToken(name) { header = name.lowercased() } else { r.problem(at: "header", "\"\(name)\" is not a valid header name") }
        }
        if let v = root["collapse"] { collapse = Self.bool(v, at: "collapse", &r) ?? true }
        if let v = root["collapse_timeout"], let d = Self.duration(v, at: "collapse_timeout", &r) {
            if d < 1_000_000 || d > 600 * 1_000_000_000 {
                r.problem(at: "collapse_timeout", "must be between 1ms and 10m")
            } else {
                collapseTimeoutMilliseconds = d / 1_000_000
            }
        }
        if let v = root["max_key_bytes"], let n = Self.size(v, at: "max_key_bytes", in: 64...(1 << 20), &r) { maxKeyBytes = n }
        if let v = root["expires"] { honourExpires = Self.bool(v, at: "expires", &r) ?? true }
        try r.finish()
    }

    private mutating func parseMethods(_ root: [String: JSONValue], _ r: inout ConfigReader) {
        if let v = root["methods"], let names = r.strings(v, at: "methods") {
            (cacheGET, cacheHEAD, cachePOST) = (false, false, false)
            for (path, name) in names {
                switch Method(rawValue: name.uppercased()) {
                case .get: cacheGET = true
                case .head: cacheHEAD = true
                case .post: cachePOST = true
                case nil: r.problem(at: path, "expected GET, HEAD or POST, got \"\(name)\"")
                }
            }
        }
        if let v = root["cache_post"], let on = Self.bool(v, at: "cache_post", &r), on { cachePOST = true }
    }

    static func bool(_ value: JSONValue, at path: String, _ r: inout ConfigReader) -> Bool? {
        guard case .bool(let b) = value else {
            r.problem(at: path, "expected true or false, got \(value.kindName)")
            return nil
        }
        return b
    }

    /// A byte count: an integer, or a string such as "64MiB", "512KiB", "10MB".
    static func size(_ value: JSONValue, at path: String, in range: ClosedRange<Int>, _ r: inout ConfigReader) -> Int? {
        var bytes: Int?
        switch value {
        case .number:
            return r.integer(value, at: path, in: range)
        case .string(let text):
            let units: [(String, Int)] = [
                ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1),
            ]
            for (suffix, factor) in units where text.hasSuffix(suffix) {
                if let n = Int(text.dropLast(suffix.count).trimmingSpaces), n >= 0, n <= Int.max / factor { bytes = n * factor }
                break
            }
            if bytes == nil, let n = Int(text), n >= 0 { bytes = n }
        default:
            break
        }
        guard let bytes else {
            r.problem(at: path, "expected a size such as 1048576 or \"1MiB\", got \(value.kindName)")
            return nil
        }
        guard range.contains(bytes) else {
            r.problem(at: path, "must be between \(range.lowerBound) and \(range.upperBound) bytes, got \(bytes)")
            return nil
        }
        return bytes
    }

    /// A duration in nanoseconds: an integer of seconds, or a string such as "250ms",
    /// "30s", "5m", "1h", "1d". At most 365 days.
    static func duration(_ value: JSONValue, at path: String, _ r: inout ConfigReader) -> UInt64? {
        let limit: UInt64 = 365 * 86_400 * 1_000_000_000
        var nanoseconds: UInt64?
        switch value {
        case .number(let n) where n >= 0 && n.rounded() == n && n <= 365 * 86_400:
            nanoseconds = UInt64(n) * 1_000_000_000
        case .string(let text):
            let units: [(String, UInt64)] = [
                ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000),
            ]
            for (suffix, factor) in units where text.hasSuffix(suffix) {
                if let n = UInt64(text.dropLast(suffix.count).trimmingSpaces), n <= limit / factor { nanoseconds = n * factor }
                break
            }
            if nanoseconds == nil, let n = UInt64(text), n <= 365 * 86_400 { nanoseconds = n * 1_000_000_000 }
        default:
            break
        }
        guard let nanoseconds, nanoseconds <= limit else {
            r.problem(at: path, "expected a duration such as 30 (seconds), \"500ms\", \"5m\" or \"1h\" up to 365 days, got \(value.kindName)")
            return nil
        }
        return nanoseconds
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { $0 != " " }) else { return "" }
        let last = s.lastIndex(where: { $0 != " " })!
        return s[first...last]
    }
}
