import GatewayPluginSDK

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// API-key and JWT authentication. Stateless per stream, so the config object is also
/// the filter of every stream (no allocation per request besides the SDK's box).
final class AuthFilter: FilterFactory, StreamFilter {
    let config: AuthConfig

    static let invalidBody = ErrorReply.body(type: "unauthorized", message: "invalid API key")
    static let tooLongBody = ErrorReply.body(type: "unauthorized", message: "API key longer than \(AuthConfig.maxKeyBytes) bytes")
    static let malformedBody = ErrorReply.body(type: "unauthorized", message: "expected \"Authorization: Bearer <key>\"")
    static let ambiguousBody = ErrorReply.body(type: "unauthorized", message: "more than one credential header")

    init(config: JSONValue, context: ConfigContext) throws {
        self.config = try AuthConfig(config)
    }

    static let hooks: FilterHooks = [.requestHeaders]

    func makeFilter(stream: Stream) -> (any StreamFilter)? { self }

    /// What the presented credential turned out to be.
    enum Verdict {
        case matched(Int)
        /// A valid JWT.
        case token(JWTIdentity)
        /// A JWT that failed verification.
        case refusedToken(JWTFailure)
        /// Longer than `jwt.max_token_bytes`.
        case tokenTooLong
        case missing
        case invalid
        case tooLong
        case malformed
        case ambiguous
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        let verdict = stream.withHeader(config.headerName) { value, count in
            count == 1 ? headerVerdict(value) : .ambiguous
        } ?? queryVerdict(stream)

        switch verdict {
        case .matched(let index):
            let key = config.keys[index]
            if let forbidden = key.forbiddenBody {
                stream.sendLocalReply(
                    status: 403, headers: [("content-type", "application/json")], body: forbidden,
                    details: "auth: consumer \(key.consumer) is not allowed")
                return .stop
            }
            stream.setMetadata(namespace: Self.namespace, key: Self.consumerKey, value: key.consumerText)
            if let tenant = key.tenantText { stream.setMetadata(namespace: Self.namespace, key: Self.tenantKey, value: tenant) }
            stream.setMetadata(namespace: Self.namespace, key: Self.methodKey, value: HostString("api_key"))
        case .token(let identity):
            if let allowed = config.allowedConsumers, !allowed.contains(identity.consumer) {
                stream.sendLocalReply(
                    status: 403, headers: [("content-type", "application/json")],
                    body: ErrorReply.body(type: "forbidden", message: "consumer \"\(identity.consumer)\" is not allowed on this route"),
                    details: "auth: consumer \(identity.consumer) (jwt) is not allowed")
                return .stop
            }
            recordToken(stream, identity)
        default:
            return reject(stream, verdict)
        }
        // The credential never goes upstream, wherever it was presented.
        stream.removeHeader(config.headerName)
        if let name = config.queryParameter { stream.removeQueryParameters([name]) }
        return .continue
    }

    /// The metadata it sets, as the host takes them (literals: no conversion per request).
    static var namespace: HostString { HostString("auth") }
    static var consumerKey: HostString { HostString("consumer") }
    static var tenantKey: HostString { HostString("tenant") }
    static var methodKey: HostString { HostString("method") }

    /// A token's consumer and tenant are the token's: strings, converted per request.
    private func recordToken(_ stream: Stream, _ identity: JWTIdentity) {
        stream.setMetadata(namespace: "auth", key: "consumer", value: identity.consumer)
        if let tenant = identity.tenant { stream.setMetadata(namespace: "auth", key: "tenant", value: tenant) }
        stream.setMetadata(namespace: Self.namespace, key: Self.methodKey, value: HostString("jwt"))
    }

    private func headerVerdict(_ value: UnsafeRawBufferPointer) -> Verdict {
        guard config.bearer else { return verify(trimmed(value)) }
        guard let token = bearerToken(value) else { return value.isEmpty ? .missing : .malformed }
        return verify(token)
    }

    private func queryVerdict(_ stream: Stream) -> Verdict {
        guard let name = config.queryParameter, var key = stream.queryParameter(name) else { return .missing }
        return key.withUTF8 { verify(UnsafeRawBufferPointer($0)) }
    }

    /// A credential shaped like a JWT is verified as one when `jwt` is configured.
    /// Otherwise the key is looked up among the plain keys (`AuthConfig.plainMatch`:
    /// a seeded hash, then a constant-time comparison). If it is not one of them and
    /// some keys were given as `sha256:` digests, it is hashed with SHA-256 and
    /// compared with every digest, always all of them: that time depends on the
    /// number of keys only.
    private func verify(_ presented: UnsafeRawBufferPointer) -> Verdict {
        guard !presented.isEmpty else { return .missing }
        if let jwt = config.jwt {
            guard presented.count <= jwt.maxTokenBytes else { return .tokenTooLong }
            if JWTVerifier.looksLikeJWT(presented) {
                switch JWTVerifier.verify(presented, config: jwt, now: SystemAccess.wallClockSeconds()) {
                case .success(let identity): return .token(identity)
                case .failure(let failure): return .refusedToken(failure)
                }
            }
            if config.keys.isEmpty { return .refusedToken(.malformed) }
        }
        guard presented.count <= AuthConfig.maxKeyBytes else { return .tooLong }
        if let index = config.plainMatch(presented) { return .matched(index) }
        guard config.hasDigestOnlyKeys else { return .invalid }
        guard let digest = SHA256Digest.of(presented) else { return .invalid }
        var found = -1
        for (i, key) in config.keys.enumerated() {
            let hit = key.digest.matches(digest)
            found = hit ? i : found
        }
        return found >= 0 ? .matched(found) : .invalid
    }

    private func reject(_ stream: Stream, _ verdict: Verdict) -> FilterStatus {
        let body: String
        let reason: String
        var challenge = config.challengeInvalid
        switch verdict {
        case .matched, .token: return .continue
        case .refusedToken(let failure):
            body = ErrorReply.body(type: "unauthorized", message: "invalid token: " + failure.description)
            reason = "jwt: " + failure.description
            challenge = "Bearer realm=\"gw\", error=\"invalid_token\", error_description=\"\(failure.description)\""
        case .tokenTooLong:
            let limit = config.jwt?.maxTokenBytes ?? 0
            body = ErrorReply.body(type: "unauthorized", message: "token longer than \(limit) bytes")
            reason = "token too long"
            challenge = "Bearer realm=\"gw\", error=\"invalid_token\", error_description=\"token too large\""
        case .missing:
            (body, reason) = (config.missingBody, "missing credential")
            challenge = config.challengeMissing
        case .invalid: (body, reason) = (Self.invalidBody, "invalid API key")
        case .tooLong: (body, reason) = (Self.tooLongBody, "API key too long")
        case .malformed: (body, reason) = (Self.malformedBody, "malformed Authorization header")
        case .ambiguous: (body, reason) = (Self.ambiguousBody, "several credential headers")
        }
        stream.sendLocalReply(
            status: 401, headers: [("www-authenticate", challenge), ("content-type", "application/json")], body: body,
            details: "auth: " + reason)
        return .stop
    }
}

/// `Bearer <token>`: the scheme case-insensitively, then spaces, then the token up to
/// trailing whitespace. Nil for another scheme or an empty token.
func bearerToken(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
    let value = trimmed(value)
    // Bytes of a static string: iterating a String's UTF-8 view costs more than the rest.
    let scheme: StaticString = "bearer"
    let count = scheme.utf8CodeUnitCount
    guard value.count > count else { return nil }
    for i in 0..<count where value[i] | 0x20 != scheme.utf8Start[i] { return nil }
    var start = count
    guard value[start] == 0x20 || value[start] == 0x09 else { return nil }
    while start < value.count && (value[start] == 0x20 || value[start] == 0x09) { start += 1 }
    let token = UnsafeRawBufferPointer(rebasing: value[start...])
    // `memchr`: a byte-wise `contains` cost ~5 instructions per byte of the token.
    guard let base = token.baseAddress, !token.isEmpty, memchr(base, 0x20, token.count) == nil else { return nil }
    return token
}

/// `value` without leading and trailing spaces and tabs.
func trimmed(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    var start = 0
    var end = value.count
    while start < end && (value[start] == 0x20 || value[start] == 0x09) { start += 1 }
    while end > start && (value[end - 1] == 0x20 || value[end - 1] == 0x09) { end -= 1 }
    return UnsafeRawBufferPointer(rebasing: value[start..<end])
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    GatewayPluginExport.export(AuthFilter.self, name: "auth", version: "0.2.0", host: host, handle: handle)
}
