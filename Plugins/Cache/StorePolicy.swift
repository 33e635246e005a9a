import GatewayPluginSDK

/// Whether a response may be stored by a shared cache, and for how long (RFC 9111 §3,
/// §4.2.1, §5.2.2). Pure: the filter gathers the facts, this decides.
enum StorePolicy {
    /// The response headers the decision depends on.
    struct Facts {
        var status: Int
        var cacheControl: [String] = []
        var expires: String?
        var date: String?
        var age: String?
        var vary: [String] = []
        var hasSetCookie = false
        var contentLength: Int?
    }

    struct Freshness: Equatable {
        /// How long the response stays fresh from now, in nanoseconds.
        var remaining: UInt64
        /// The upstream's Age, in seconds.
        var initialAge: UInt64
        /// Request headers the response varies on: lowercased, sorted, deduplicated.
        var varyNames: [String]
        /// False when the response forbids serving it stale (must-revalidate,
        /// proxy-revalidate, s-maxage).
        var staleAllowed: Bool
    }

    enum Verdict: Equatable {
        case store(Freshness)
        case skip(String)
    }

    static let maxVaryNames = 16

    static func evaluate(_ facts: Facts, config: CacheConfig) -> Verdict {
        guard config.statuses.contains(facts.status) else { return .skip("status \(facts.status)") }
        let cc = CacheControl(facts.cacheControl)
        if cc.noStore { return .skip("no-store") }
        if cc.isPrivate { return .skip("private") }
        // No revalidation support yet: a response that must be revalidated on every use
        // is of no use stored.
        if cc.noCache { return .skip("no-cache") }
        if facts.hasSetCookie && !config.cacheSetCookie { return .skip("set-cookie") }
        if let length = facts.contentLength, length > config.maxObjectBytes { return .skip("larger than max_object_bytes") }
        guard let varyNames = varyNames(facts.vary) else { return .skip("vary") }

        let lifetime: UInt64
        if let sMaxAge = cc.sMaxAge {
            lifetime = UInt64(sMaxAge) * 1_000_000_000
        } else if let maxAge = cc.maxAge {
            lifetime = UInt64(maxAge) * 1_000_000_000
        } else if config.honourExpires, let expires = facts.expires {
            // An Expires that does not parse means "already expired" (RFC 9111 §5.3).
            guard let at = HTTPDate.parse(expires) else { return .skip("expires") }
            let now = facts.date.flatMap(HTTPDate.parse) ?? HTTPDate.now()
            lifetime = at > now ? UInt64(at - now) * 1_000_000_000 : 0
        } else {
            lifetime = config.defaultTTL
        }
        let capped = min(lifetime, config.maxTTL)
        var initialAge: UInt64 = 0
        if let age = facts.age {
            var copy = age
            initialAge = UInt64(copy.withUTF8 { CacheControl.deltaSeconds(UnsafeRawBufferPointer($0)) })
        }
        let ageNanoseconds = initialAge * 1_000_000_000
        guard capped > ageNanoseconds else { return .skip(lifetime == 0 ? "no freshness lifetime" : "already stale") }
        return .store(
            Freshness(
                remaining: capped - ageNanoseconds, initialAge: initialAge, varyNames: varyNames,
                staleAllowed: !cc.mustRevalidate && !cc.proxyRevalidate && cc.sMaxAge == nil))
    }

    /// The header names of `Vary`, or nil for `Vary: *` or an unreasonable list.
    static func varyNames(_ values: [String]) -> [String]? {
        var names: Set<String> = []
        for value in values {
            for part in value.split(separator: ",") {
                let name = part.trimmingSpaces.lowercased()
                if name.isEmpty { continue }
                if name == "*" { return nil }
                guard HTTPSyntax.isToken(name) else { return nil }
                names.insert(name)
            }
        }
        guard names.count <= maxVaryNames else { return nil }
        return names.sorted()
    }
}
