import GatewayPluginSDK

/// One key a token may be verified with.
struct VerificationKey: Sendable {
    enum Material: Sendable {
        case secret(HMACSecret)
        case publicKey(PublicKey)
    }

    /// `kid`; a key without one is tried for tokens whose `kid` no key has.
    let kid: String?
    let material: Material
    /// The algorithms this key verifies: those of its family, narrowed by the key's
    /// own `alg` and by `jwt.algorithms`. Never empty.
    let algorithms: Set<JWTAlgorithm>

    func verify(_ algorithm: JWTAlgorithm, signingInput: UnsafeRawBufferPointer, signature: [UInt8]) -> Bool {
        // Bound to a family: a public key is never an HMAC secret, and the reverse.
        guard algorithms.contains(algorithm) else { return false }
        switch material {
        case .secret(let secret): return secret.verify(algorithm, signingInput: signingInput, signature: signature)
        case .publicKey(let key): return key.verify(algorithm, signingInput: signingInput, signature: signature)
        }
    }
}

/// The `jwt:` block of the auth config, validated, with every key loaded.
struct JWTConfig: Sendable {
    static let allowedKeys = [
        "algorithms", "audience", "clock_skew_seconds", "consumer_claim", "issuer", "jwks_file", "keys", "max_token_bytes",
        "require_exp", "tenant_claim",
    ]
    static let keyFields = ["alg", "kid", "public_key", "public_key_file", "secret", "secret_env", "secret_file"]
    static let maxKeys = 64
    static let maxFileBytes = 1 << 20
    static let defaultMaxTokenBytes = 8192
    static let defaultClockSkew = 60

    let algorithms: Set<JWTAlgorithm>
    let keys: [VerificationKey]
    /// Accepted `iss` values (nil: not checked).
    let issuers: [String]?
    /// Accepted `aud` values; the token's `aud` (a string or a list) must hold one (nil: not checked).
    let audiences: [String]?
    let clockSkewSeconds: Double
    let requireExpiry: Bool
    let consumerClaim: String
    let tenantClaim: String?
    let maxTokenBytes: Int

    /// Parse `value` (at key path `jwt`); nil after recording problems in `reader`.
    init?(_ value: JSONValue, at path: String, reader: inout ConfigReader) {
        let before = reader.problems.count
        guard let root = reader.object(value, at: path, allowed: Self.allowedKeys) else { return nil }
        func at(_ key: String) -> String { ConfigReader.path(path, key) }

        // Allow-list first: keys are narrowed by it.
        var algorithms: [(path: String, algorithm: JWTAlgorithm)] = []
        if let list = root["algorithms"] {
            for item in reader.strings(list, at: at("algorithms")) ?? [] {
                if item.value.lowercased() == "none" {
                    reader.problem(at: item.path, "\"none\" (unsigned tokens) is never accepted")
                } else if let algorithm = JWTAlgorithm(rawValue: item.value) {
                    if algorithms.contains(where: { $0.algorithm == algorithm }) {
                        reader.problem(at: item.path, "\(item.value) is listed twice")
                    } else {
                        algorithms.append((item.path, algorithm))
                    }
                } else {
                    reader.problem(
                        at: item.path,
                        "unknown algorithm \"\(item.value)\" (expected one of: \(JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
        } else {
            reader.problem(at: at("algorithms"), "missing (the accepted algorithms, e.g. [RS256])")
        }
        let allowed = Set(algorithms.map(\.algorithm))

        var keys: [VerificationKey] = []
        if let list = root["keys"], let items = reader.array(list, at: at("keys")) {
            for (i, item) in items.enumerated() {
                if let key = Self.configuredKey(item, at: ConfigReader.path(at("keys"), i), allowed: allowed, reader: &reader) {
                    keys.append(key)
                }
            }
        }
        if let file = root["jwks_file"], let jwksPath = reader.string(file, at: at("jwks_file")) {
            keys += JWKS.load(jwksPath, at: at("jwks_file"), allowed: allowed, reader: &reader)
        }
        if root["keys"] == nil && root["jwks_file"] == nil {
            reader.problem(at: at("keys"), "missing (jwt needs keys, a jwks_file or both)")
        }
        if keys.count > Self.maxKeys {
            reader.problem(at: path, "\(keys.count) keys, at most \(Self.maxKeys) are allowed")
        }
        // Every accepted algorithm needs a key, or its tokens could never pass (a typo).
        if reader.problems.count == before {
            for (algorithmPath, algorithm) in algorithms where !keys.contains(where: { $0.algorithms.contains(algorithm) }) {
                reader.problem(at: algorithmPath, "no key in keys or jwks_file can verify \(algorithm.rawValue)")
            }
        }

        issuers = root["issuer"].flatMap { Self.stringOrList($0, at: at("issuer"), reader: &reader) }
        audiences = root["audience"].flatMap { Self.stringOrList($0, at: at("audience"), reader: &reader) }
        clockSkewSeconds = Double(
            root["clock_skew_seconds"].flatMap { reader.integer($0, at: at("clock_skew_seconds"), in: 0...3600) } ?? Self.defaultClockSkew)
        var requireExpiry = true
        if let flag = root["require_exp"] {
            if let b = flag.boolValue { requireExpiry = b } else { reader.problem(at: at("require_exp"), "expected true or false, got \(flag.kindName)") }
        }
        self.requireExpiry = requireExpiry
        consumerClaim = root["consumer_claim"].flatMap { reader.string($0, at: at("consumer_claim")) } ?? "sub"
        tenantClaim = root["tenant_claim"].flatMap { reader.string($0, at: at("tenant_claim")) }
        maxTokenBytes =
            root["max_token_bytes"].flatMap { reader.integer($0, at: at("max_token_bytes"), in: 512...65536) } ?? Self.defaultMaxTokenBytes

        guard reader.problems.count == before else { return nil }
        self.algorithms = allowed
        self.keys = keys
    }

    /// A string, or a non-empty list of strings.
    private static func stringOrList(_ value: JSONValue, at path: String, reader: inout ConfigReader) -> [String]? {
        if case .string = value { return reader.string(value, at: path).map { [$0] } }
        if case .array = value { return reader.strings(value, at: path)?.map(\.value) }
        reader.problem(at: path, "expected a string or a list of strings, got \(value.kindName)")
        return nil
    }

    /// One `jwt.keys[i]` entry: `{kid, alg, secret | secret_env | secret_file | public_key | public_key_file}`.
    private static func configuredKey(
        _ item: JSONValue, at path: String, allowed: Set<JWTAlgorithm>, reader: inout ConfigReader
    ) -> VerificationKey? {
        guard let fields = reader.object(item, at: path, allowed: keyFields) else { return nil }
        let before = reader.problems.count
        let kid = fields["kid"].flatMap { reader.string($0, at: ConfigReader.path(path, "kid")) }
        var restriction: JWTAlgorithm?
        if let value = fields["alg"], let name = reader.string(value, at: ConfigReader.path(path, "alg")) {
            restriction = JWTAlgorithm(rawValue: name)
            if restriction == nil { reader.problem(at: ConfigReader.path(path, "alg"), "unknown algorithm \"\(name)\"") }
        }

        let sources = ["secret", "secret_env", "secret_file", "public_key", "public_key_file"].filter { fields[$0] != nil }
        guard sources.count == 1, let source = sources.first else {
            reader.problem(
                at: path,
                sources.isEmpty
                    ? "needs one of secret, secret_env, secret_file, public_key, public_key_file"
                    : "has \(sources.joined(separator: " and ")), give exactly one")
            return nil
        }
        let sourcePath = ConfigReader.path(path, source)
        guard let text = reader.string(fields[source]!, at: sourcePath) else { return nil }

        var material: VerificationKey.Material?
        var family: JWTAlgorithm.Family?
        switch source {
        case "secret", "secret_env", "secret_file":
            var bytes: [UInt8]?
            switch source {
            case "secret":
                bytes = Array(text.utf8)
            case "secret_env":
                bytes = SystemAccess.environment(text)?.droppingTrailingLineBreaks()
                if bytes == nil { reader.problem(at: sourcePath, "environment variable \(text) is not set") }
            default:
                bytes = readFile(text, at: sourcePath, reader: &reader)?.droppingTrailingLineBreaks()
            }
            guard let bytes else { return nil }
            if bytes.count < HMACSecret.minimumBytes {
                reader.problem(at: sourcePath, "an HMAC secret needs at least \(HMACSecret.minimumBytes) bytes, got \(bytes.count)")
                return nil
            }
            if let restriction, restriction.family == .hmac, bytes.count < restriction.digestBytes {
                reader.problem(at: sourcePath, "\(restriction.rawValue) needs a secret of at least \(restriction.digestBytes) bytes, got \(bytes.count)")
                return nil
            }
            if PEMSniffer.looksLikePEM(bytes) {
                // A PEM key given as a secret is the algorithm-confusion setup itself.
                reader.problem(at: sourcePath, "looks like a PEM key (give public keys as public_key or public_key_file)")
                return nil
            }
            material = .secret(HMACSecret(bytes: bytes))
            family = .hmac
        default:
            var pem: [UInt8]?
            if source == "public_key" { pem = Array(text.utf8) } else { pem = readFile(text, at: sourcePath, reader: &reader) }
            guard let pem else { return nil }
            switch PublicKey.fromPEM(pem) {
            case .success(let key):
                material = .publicKey(key)
                family = key.family
            case .failure(let failure):
                reader.problem(at: sourcePath, failure.message)
                return nil
            }
        }
        guard reader.problems.count == before, let material, let family else { return nil }

        var algorithms = Set(family.algorithms)
        if let restriction {
            guard restriction.family == family else {
                reader.problem(at: ConfigReader.path(path, "alg"), "\(restriction.rawValue) cannot be used with \(family.name)")
                return nil
            }
            algorithms = [restriction]
        }
        if case .secret(let secret) = material { algorithms = algorithms.filter { secret.bytes.count >= $0.digestBytes } }
        let usable = algorithms.intersection(allowed)
        guard !usable.isEmpty else {
            let names = algorithms.map(\.rawValue).sorted().joined(separator: ", ")
            reader.problem(at: path, "\(family.name) for \(names), none of which is in jwt.algorithms")
            return nil
        }
        return VerificationKey(kid: kid, material: material, algorithms: usable)
    }

    /// A file named in the config: an absolute path (gw's working directory is no
    /// place to resolve config paths from), read whole.
    static func readFile(_ path: String, at keyPath: String, reader: inout ConfigReader) -> [UInt8]? {
        guard path.hasPrefix("/") else {
            reader.problem(at: keyPath, "\"\(path)\" is not an absolute path")
            return nil
        }
        switch SystemAccess.readFile(path, limit: maxFileBytes) {
        case .success(let bytes): return bytes
        case .failure(let error):
            reader.problem(at: keyPath, "cannot read \(path): \(error.message)")
            return nil
        }
    }
}

enum PEMSniffer {
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard bytes.count >= marker.count else { return false }
        for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
            if Array(bytes[start..<start + marker.count]) == marker { return true }
        }
        return false
    }
}

/// A JWK Set file (RFC 7517): public keys of kty RSA (`n`, `e`), EC (`crv` P-256 or
/// P-384, `x`, `y`) and OKP (`crv` Ed25519, `x`).
enum JWKS {
    static func load(_ path: String, at keyPath: String, allowed: Set<JWTAlgorithm>, reader: inout ConfigReader) -> [VerificationKey] {
        let before = reader.problems.count
        guard let bytes = JWTConfig.readFile(path, at: keyPath, reader: &reader) else { return [] }
        let document: JSONValue
        do {
            document = try bytes.withUnsafeBytes { raw throws(JSONValue.ParseError) in try JSONValue.parse(raw) }
        } catch {
            reader.problem(at: keyPath, "\(path): \(error)")
            return []
        }
        guard case .array(let items) = document["keys"] ?? .null else {
            reader.problem(at: keyPath, "\(path): expected an object with a \"keys\" list")
            return []
        }
        var keys: [VerificationKey] = []
        var skipped = 0
        for (i, item) in items.enumerated() {
            let place = "\(path): keys[\(i)]"
            switch jwk(item, allowed: allowed) {
            case .key(let key): keys.append(key)
            case .skipped: skipped += 1
            case .invalid(let message): reader.problem(at: keyPath, "\(place)\(message)")
            }
        }
        if keys.isEmpty && reader.problems.count == before {
            reader.problem(
                at: keyPath,
                "\(path): no usable key (\(items.count) in the file, \(skipped) skipped: not for signatures, of a type or curve gw does not verify, or for an algorithm not in jwt.algorithms)")
        }
        return keys
    }

    enum Outcome {
        case key(VerificationKey)
        /// A key for something else: encryption, an algorithm not accepted, a type not supported.
        case skipped
        /// Message starts with the member at fault: ".n: not base64url".
        case invalid(String)
    }

    static func jwk(_ item: JSONValue, allowed: Set<JWTAlgorithm>) -> Outcome {
        guard case .object(let fields) = item else { return .invalid(": expected an object, got \(item.kindName)") }
        guard let kty = fields["kty"]?.stringValue else { return .invalid(".kty: missing") }
        if let use = fields["use"] {
            guard use.stringValue == "sig" else { return .skipped }
        }
        var kid: String?
        if let value = fields["kid"] {
            guard let text = value.stringValue else { return .invalid(".kid: expected a string, got \(value.kindName)") }
            kid = text
        }
        var restriction: JWTAlgorithm?
        if let value = fields["alg"] {
            guard let name = value.stringValue else { return .invalid(".alg: expected a string, got \(value.kindName)") }
            guard let algorithm = JWTAlgorithm(rawValue: name) else { return .skipped }  // e.g. PS256, RSA-OAEP
            restriction = algorithm
        }
        if fields["d"] != nil || fields["k"] != nil {
            return .invalid(": holds private or secret key material (\"d\" or \"k\"): a JWKS file for gw holds public keys only")
        }

        struct MemberError: Error { let message: String }
        func bytes(_ member: String, count: Int? = nil) throws(MemberError) -> [UInt8] {
            guard let text = fields[member]?.stringValue else { throw MemberError(message: ".\(member): missing") }
            guard let decoded = Base64URL.decode(text), !decoded.isEmpty else { throw MemberError(message: ".\(member): not base64url") }
            if let count, decoded.count != count { throw MemberError(message: ".\(member): \(decoded.count) bytes, expected \(count)") }
            return decoded
        }

        let built: Result<PublicKey, PublicKey.Failure>
        do throws(MemberError) {
            switch kty {
            case "RSA":
                built = PublicKey.rsa(modulus: try bytes("n"), exponent: try bytes("e"))
            case "EC":
                let curve = fields["crv"]?.stringValue
                let size: Int
                switch curve {
                case "P-256": size = 32
                case "P-384": size = 48
                default: return .skipped
                }
                built = PublicKey.ec(curve: curve!, x: try bytes("x", count: size), y: try bytes("y", count: size))
            case "OKP":
                guard fields["crv"]?.stringValue == "Ed25519" else { return .skipped }
                built = PublicKey.ed25519(try bytes("x", count: 32))
            default:
                return .skipped
            }
        } catch {
            return .invalid(error.message)
        }
        let key: PublicKey
        switch built {
        case .success(let k): key = k
        case .failure(let failure): return .invalid(": \(failure.message)")
        }
        var algorithms = Set(key.family.algorithms)
        if let restriction {
            guard restriction.family == key.family else { return .invalid(".alg: \(restriction.rawValue) cannot be used with \(key.family.name)") }
            algorithms = [restriction]
        }
        let usable = algorithms.intersection(allowed)
        guard !usable.isEmpty else { return .skipped }
        return .key(VerificationKey(kid: kid, material: .publicKey(key), algorithms: usable))
    }
}
