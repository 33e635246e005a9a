import GatewayPluginSDK

/// The auth filter's configuration, validated and precomputed once: lowercase header
/// name, one SHA-256 digest per key (and the plain keys by their seeded hash), the
/// JWT keys loaded into libcrypto, the reply bodies.
struct AuthConfig: Sendable {
    /// One configured API key. A class: the matched key is read once per request, and
    /// a struct's copy retained and released each of its strings.
    final class Key: Sendable {
        let digest: SHA256Digest
        /// The key's bytes when the config gave it in clear (nil for `sha256:` keys).
        let plain: [UInt8]?
        let consumer: String
        let tenant: String?
        /// The same, as the host takes them (`auth.consumer`, `auth.tenant` metadata).
        let consumerText: HostString
        let tenantText: HostString?
        /// False when `allowed_consumers` is set and does not list the consumer.
        let allowed: Bool
        /// The 403 body naming the consumer (nil when allowed).
        let forbiddenBody: String?

        init(
            digest: SHA256Digest, plain: [UInt8]?, consumer: String, tenant: String?, consumerText: HostString, tenantText: HostString?,
            allowed: Bool, forbiddenBody: String?
        ) {
            self.digest = digest
            self.plain = plain
            self.consumer = consumer
            self.tenant = tenant
            self.consumerText = consumerText
            self.tenantText = tenantText
            self.allowed = allowed
            self.forbiddenBody = forbiddenBody
        }
    }

    /// Presented keys longer than this are refused without being hashed.
    static let maxKeyBytes = 4096
    static let sha256Prefix = "sha256:"

    let keys: [Key]
    /// Where each plain key is in `keys`, by a seeded hash of its bytes: a presented key
    /// is looked up with one short hash instead of a SHA-256, then compared in
    /// constant time (`plainMatch`).
    let plainKeys: PlainKeyTable
    /// Some keys were given as `sha256:` digests: a key not found among the plain
    /// ones is hashed with SHA-256 and compared with every digest.
    let hasDigestOnlyKeys: Bool
    /// JWT verification, when `jwt` is configured.
    let jwt: JWTConfig?
    /// `allowed_consumers`, for consumers named by tokens (nil: everyone).
    let allowedConsumers: Set<String>?
    /// The 401 message when no credential was presented.
    let missingBody: String
    /// Lowercase header name; `authorization` expects the `Bearer` scheme.
    let header: String
    /// `header` as the host takes it.
    let headerName: HostString
    let bearer: Bool
    let queryParameter: String?
    /// `WWW-Authenticate` for a missing credential, and for a wrong one.
    let challengeMissing: String
    let challengeInvalid: String

    init(_ json: JSONValue) throws(ConfigRejection) {
        var reader = ConfigReader()
        let root = reader.object(json, at: "", allowed: ["allowed_consumers", "header", "jwt", "keys", "query_param"]) ?? [:]

        var header = "authorization"
        if let value = root["header"], let name = reader.string(value, at: "header") {
            if HTTPSyntax.isToken(name) {
                header = name.lowercased()
            } else {
                reader.problem(at: "header", "\"\(name)\" is not a valid header name")
            }
        }
        self.header = header
        headerName = HostString(copying: header)
        bearer = header == "authorization"
        if bearer {
            challengeMissing = "Bearer realm=\"gw\""
            challengeInvalid = "Bearer realm=\"gw\", error=\"invalid_token\""
        } else {
            challengeMissing = "ApiKey realm=\"gw\", header=\"\(header)\""
            challengeInvalid = challengeMissing
        }

        queryParameter = root["query_param"].flatMap { reader.string($0, at: "query_param") }

        var allowList: [String]?
        if let value = root["allowed_consumers"], let names = reader.strings(value, at: "allowed_consumers") {
            allowList = names.map(\.value)
        }

        jwt = root["jwt"].flatMap { JWTConfig($0, at: "jwt", reader: &reader) }

        var parsed: [(path: String, digest: SHA256Digest, plain: [UInt8]?, consumer: String, tenant: String?)] = []
        if let value = root["keys"] {
            for (i, item) in (reader.array(value, at: "keys") ?? []).enumerated() {
                let path = ConfigReader.path("keys", i)
                guard let entry = Self.key(item, at: path, jwt: root["jwt"] != nil, reader: &reader) else { continue }
                if let earlier = parsed.first(where: { $0.digest.matches(entry.digest) }) {
                    reader.problem(at: ConfigReader.path(path, "key"), "the same key as \(earlier.path).key")
                    continue
                }
                parsed.append((path, entry.digest, entry.plain, entry.consumer, entry.tenant))
            }
        } else if root["jwt"] == nil {
            reader.problem(at: "keys", "missing (a list of {key, consumer, tenant} entries, or configure jwt)")
        }

        // With JWT, consumers come from tokens too: any name may be meant.
        if root["jwt"] == nil, let value = root["allowed_consumers"], let names = value.arrayValue {
            let known = Set(parsed.map(\.consumer))
            for (i, name) in names.enumerated() {
                guard let name = name.stringValue, !name.isEmpty, !known.contains(name), !parsed.isEmpty else { continue }
                reader.problem(at: ConfigReader.path("allowed_consumers", i), "unknown consumer \"\(name)\" (no key in keys has it)")
            }
        }
        try reader.finish()

        allowedConsumers = allowList.map(Set.init)
        switch (parsed.isEmpty, jwt == nil) {
        case (false, true): missingBody = ErrorReply.body(type: "unauthorized", message: "missing API key")
        case (true, false): missingBody = ErrorReply.body(type: "unauthorized", message: "missing bearer token")
        default: missingBody = ErrorReply.body(type: "unauthorized", message: "missing API key or token")
        }
        keys = parsed.map { key in
            let allowed = allowList.map { $0.contains(key.consumer) } ?? true
            return Key(
                digest: key.digest, plain: key.plain, consumer: key.consumer, tenant: key.tenant,
                consumerText: HostString(copying: key.consumer), tenantText: key.tenant.map { HostString(copying: $0) }, allowed: allowed,
                forbiddenBody: allowed
                    ? nil : ErrorReply.body(type: "forbidden", message: "consumer \"\(key.consumer)\" is not allowed on this route"))
        }
        // Two keys with one 64-bit hash: the second is found by its digest instead.
        plainKeys = PlainKeyTable(keys.enumerated().compactMap { i, key in key.plain.map { ($0, i) } })
        hasDigestOnlyKeys = keys.contains { $0.plain == nil } || plainKeys.count < keys.count
    }

    /// The index of the plain key equal to `presented`, if any: one hash lookup, then
    /// a comparison whose time depends on the length only.
    func plainMatch(_ presented: UnsafeRawBufferPointer) -> Int? {
        guard let index = plainKeys.candidate(presented), let plain = keys[index].plain,
            constantTimeEquals(plain, presented)
        else { return nil }
        return index
    }

    /// One `keys[i]` entry: `{key, consumer, tenant}`.
    private static func key(
        _ item: JSONValue, at path: String, jwt: Bool, reader: inout ConfigReader
    ) -> (digest: SHA256Digest, plain: [UInt8]?, consumer: String, tenant: String?)? {
        guard let fields = reader.object(item, at: path, allowed: ["consumer", "key", "tenant"]) else { return nil }
        let before = reader.problems.count

        var digest: SHA256Digest?
        var plain: [UInt8]?
        let keyPath = ConfigReader.path(path, "key")
        if let value = fields["key"] {
            if let key = reader.string(value, at: keyPath) {
                if key.hasPrefix(sha256Prefix) {
                    digest = SHA256Digest(hex: key.dropFirst(sha256Prefix.count))
                    if digest == nil { reader.problem(at: keyPath, "a sha256: key needs exactly 64 hex digits after \"sha256:\"") }
                } else if key.utf8.count > maxKeyBytes {
                    reader.problem(at: keyPath, "longer than \(maxKeyBytes) bytes")
                } else if key.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) {
                    reader.problem(at: keyPath, "must not contain spaces or control characters")
                } else if jwt, JWTVerifier.looksLikeJWT(key) {
                    reader.problem(at: keyPath, "looks like a JWT (three dot-separated base64url parts): it would be checked as one")
                } else {
                    digest = SHA256Digest.of(key)
                    plain = Array(key.utf8)
                    if digest == nil { reader.problem(at: keyPath, "libcrypto could not hash the key") }
                }
            }
        } else {
            reader.problem(at: keyPath, "missing")
        }

        var consumer: String?
        let consumerPath = ConfigReader.path(path, "consumer")
        if let value = fields["consumer"] {
            consumer = reader.string(value, at: consumerPath)
            if let name = consumer, name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
                reader.problem(at: consumerPath, "must not contain control characters")
            }
        } else {
            reader.problem(at: consumerPath, "missing")
        }

        let tenant = fields["tenant"].flatMap { reader.string($0, at: ConfigReader.path(path, "tenant")) }
        guard reader.problems.count == before, let digest, let consumer else { return nil }
        return (digest, plain, consumer, tenant)
    }
}

/// Whether `a` and `b` hold the same bytes, in time that depends on their length
/// only (no exit at the first difference).
@inline(never)
func constantTimeEquals(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    a.withUnsafeBytes { a in
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
    }
    return difference == 0
}
