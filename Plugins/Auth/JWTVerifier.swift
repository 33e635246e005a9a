import GatewayPluginSDK

/// Why a token was refused. `description` goes into `error_description` of the
/// `WWW-Authenticate` challenge: fixed text only, never anything from the token.
enum JWTFailure: Error, Equatable {
    case malformed
    case unsignedToken
    case algorithmNotAllowed
    case criticalHeader
    case unknownKey
    case badSignature
    case expired
    case notYetValid
    case missingExpiry
    case wrongIssuer
    case wrongAudience
    case missingConsumer
    case invalidConsumer
    case invalidTenant
    case invalidClaim

    var description: String {
        switch self {
        case .malformed: return "malformed token"
        case .unsignedToken: return "unsigned tokens (alg none) are not accepted"
        case .algorithmNotAllowed: return "algorithm not allowed"
        case .criticalHeader: return "unsupported critical header"
        case .unknownKey: return "unknown signing key"
        case .badSignature: return "invalid signature"
        case .expired: return "token expired"
        case .notYetValid: return "token not yet valid"
        case .missingExpiry: return "token has no expiry"
        case .wrongIssuer: return "wrong issuer"
        case .wrongAudience: return "wrong audience"
        case .missingConsumer: return "no consumer claim"
        case .invalidConsumer: return "invalid consumer claim"
        case .invalidTenant: return "invalid tenant claim"
        case .invalidClaim: return "invalid exp or nbf claim"
        }
    }
}

/// Who a valid token identifies.
struct JWTIdentity {
    let consumer: String
    let tenant: String?
}

/// JWS compact serialisation (RFC 7515) carrying JWT claims (RFC 7519), checked in
/// this order: structure and header, algorithm allow-list, key, signature, and only
/// then the claims (a forged token learns nothing about them).
enum JWTVerifier {
    /// Bytes a claim value recorded as metadata may have.
    static let maxClaimBytes = 256

    /// Three dot-separated base64url parts (the last may be empty, as in an unsigned
    /// token, which is then refused as such rather than taken for an API key).
    static func looksLikeJWT(_ token: UnsafeRawBufferPointer) -> Bool {
        var dots = 0
        var partLength = 0
        for c in token {
            if c == UInt8(ascii: ".") {
                guard partLength > 0 else { return false }
                dots += 1
                partLength = 0
            } else if Base64URL.isAlphabet(c) {
                partLength += 1
            } else {
                return false
            }
        }
        return dots == 2
    }

    static func looksLikeJWT(_ text: String) -> Bool {
        var copy = text
        return copy.withUTF8 { looksLikeJWT(UnsafeRawBufferPointer($0)) }
    }

    static func verify(_ token: UnsafeRawBufferPointer, config: JWTConfig, now: Double) -> Result<JWTIdentity, JWTFailure> {
        guard let firstDot = token.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = token[(firstDot + 1)...].firstIndex(of: UInt8(ascii: "."))
        else { return .failure(.malformed) }
        let headerPart = UnsafeRawBufferPointer(rebasing: token[..<firstDot])
        let payloadPart = UnsafeRawBufferPointer(rebasing: token[(firstDot + 1)..<secondDot])
        let signaturePart = UnsafeRawBufferPointer(rebasing: token[(secondDot + 1)...])
        let signingInput = UnsafeRawBufferPointer(rebasing: token[..<secondDot])

        // Header.
        guard let header = decodeObject(headerPart) else { return .failure(.malformed) }
        guard let name = header["alg"]?.stringValue else { return .failure(.malformed) }
        if name.lowercased() == "none" { return .failure(.unsignedToken) }
        guard let algorithm = JWTAlgorithm(rawValue: name), config.algorithms.contains(algorithm) else {
            return .failure(.algorithmNotAllowed)
        }
        // No extension is understood, so a token that marks one critical is refused (RFC 7515 §4.1.11).
        if header["crit"] != nil { return .failure(.criticalHeader) }
        var kid: String?
        if let value = header["kid"] {
            guard let text = value.stringValue else { return .failure(.malformed) }
            kid = text
        }

        // Key and signature.
        guard !signaturePart.isEmpty, let signature = Base64URL.decode(signaturePart) else { return .failure(.malformed) }
        var candidates = config.keys.filter { $0.algorithms.contains(algorithm) }
        if let kid {
            let named = candidates.filter { $0.kid == kid }
            candidates = named.isEmpty ? candidates.filter { $0.kid == nil } : named
        }
        guard !candidates.isEmpty else { return .failure(.unknownKey) }
        guard candidates.contains(where: { $0.verify(algorithm, signingInput: signingInput, signature: signature) }) else {
            return .failure(.badSignature)
        }

        // Claims.
        guard let claims = decodeObject(payloadPart) else { return .failure(.malformed) }
        if let exp = claims["exp"] {
            guard let seconds = exp.numberValue else { return .failure(.invalidClaim) }
            if now >= seconds + config.clockSkewSeconds { return .failure(.expired) }
        } else if config.requireExpiry {
            return .failure(.missingExpiry)
        }
        if let nbf = claims["nbf"] {
            guard let seconds = nbf.numberValue else { return .failure(.invalidClaim) }
            if now + config.clockSkewSeconds < seconds { return .failure(.notYetValid) }
        }
        if let issuers = config.issuers {
            guard let iss = claims["iss"]?.stringValue, issuers.contains(iss) else { return .failure(.wrongIssuer) }
        }
        if let audiences = config.audiences {
            let presented: [String]
            switch claims["aud"] {
            case .string(let one): presented = [one]
            case .array(let list): presented = list.compactMap(\.stringValue)
            default: presented = []
            }
            guard presented.contains(where: audiences.contains) else { return .failure(.wrongAudience) }
        }
        guard let consumerValue = claims[config.consumerClaim] else { return .failure(.missingConsumer) }
        guard let consumer = consumerValue.stringValue, isSafeIdentity(consumer) else { return .failure(.invalidConsumer) }
        var tenant: String?
        if let claim = config.tenantClaim, let value = claims[claim] {
            guard let text = value.stringValue, isSafeIdentity(text) else { return .failure(.invalidTenant) }
            tenant = text
        }
        return .success(JWTIdentity(consumer: consumer, tenant: tenant))
    }

    /// A base64url part holding a JSON object (duplicate members are refused by the parser).
    private static func decodeObject(_ part: UnsafeRawBufferPointer) -> JSONValue? {
        guard let bytes = Base64URL.decode(part) else { return nil }
        let value = bytes.withUnsafeBytes { try? JSONValue.parse($0) }
        guard case .object = value else { return nil }
        return value
    }

    /// What may become `auth.consumer` / `auth.tenant`, which later filters may copy
    /// into headers: non-empty, bounded, and without control characters (CR and LF
    /// above all).
    static func isSafeIdentity(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= maxClaimBytes && !text.utf8.contains { $0 < 0x20 || $0 == 0x7f }
    }
}
