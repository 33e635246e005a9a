import GatewayPluginSDK

/// API-key authentication. Stateless per stream, so the config object is also the
/// filter of every stream (no allocation per request besides the SDK's box).
final class AuthFilter: FilterFactory, StreamFilter {
    let config: AuthConfig

    static let missingBody = ErrorReply.body(type: "unauthorized", message: "missing API key")
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
        case missing
        case invalid
        case tooLong
        case malformed
        case ambiguous
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        let verdict = stream.withHeader(config.header) { value, count in
            count == 1 ? headerVerdict(value) : .ambiguous
        } ?? queryVerdict(stream)

        guard case .matched(let index) = verdict else { return reject(stream, verdict) }
        let key = config.keys[index]
        if let forbidden = key.forbiddenBody {
            stream.sendLocalReply(
                status: 403, headers: [("content-type", "application/json")], body: forbidden,
                details: "auth: consumer \(key.consumer) is not allowed")
            return .stop
        }
        stream.setMetadata(namespace: "auth", key: "consumer", value: key.consumer)
        if let tenant = key.tenant { stream.setMetadata(namespace: "auth", key: "tenant", value: tenant) }
        // The credential never goes upstream, wherever it was presented.
        stream.removeHeader(config.header)
        if let name = config.queryParameter { stream.removeQueryParameters([name]) }
        return .continue
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

    /// Hash the presented key and compare it with every configured digest, always
    /// all of them: the time taken depends on the number of keys only.
    private func verify(_ presented: UnsafeRawBufferPointer) -> Verdict {
        guard !presented.isEmpty else { return .missing }
        guard presented.count <= AuthConfig.maxKeyBytes else { return .tooLong }
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
        switch verdict {
        case .matched: return .continue
        case .missing: (body, reason) = (Self.missingBody, "missing API key")
        case .invalid: (body, reason) = (Self.invalidBody, "invalid API key")
        case .tooLong: (body, reason) = (Self.tooLongBody, "API key too long")
        case .malformed: (body, reason) = (Self.malformedBody, "malformed Authorization header")
        case .ambiguous: (body, reason) = (Self.ambiguousBody, "several credential headers")
        }
        let challenge: String
        if case .missing = verdict { challenge = config.challengeMissing } else { challenge = config.challengeInvalid }
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
    let scheme = "bearer".utf8
    guard value.count > scheme.count else { return nil }
    for (i, c) in scheme.enumerated() where value[i] | 0x20 != c { return nil }
    var start = scheme.count
    guard value[start] == 0x20 || value[start] == 0x09 else { return nil }
    while start < value.count && (value[start] == 0x20 || value[start] == 0x09) { start += 1 }
    let token = UnsafeRawBufferPointer(rebasing: value[start...])
    return token.isEmpty || token.contains(0x20) ? nil : token
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
    GatewayPluginExport.export(AuthFilter.self, name: "auth", version: "0.1.0", host: host, handle: handle)
}
