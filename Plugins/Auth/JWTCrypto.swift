import CLibcrypto

/// A JWS algorithm auth accepts (RFC 7518 §3, RFC 8037 for EdDSA).
enum JWTAlgorithm: String, CaseIterable, Sendable {
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case es256 = "ES256", es384 = "ES384"
    case edDSA = "EdDSA"

    /// The kind of key an algorithm needs. A key belongs to exactly one family, so a
    /// public key can never be used as an HMAC secret (algorithm confusion).
    enum Family: Sendable, Equatable {
        case hmac, rsa, ecP256, ecP384, ed25519

        var name: String {
            switch self {
            case .hmac: return "an HMAC secret"
            case .rsa: return "an RSA key"
            case .ecP256: return "an EC P-256 key"
            case .ecP384: return "an EC P-384 key"
            case .ed25519: return "an Ed25519 key"
            }
        }

        var algorithms: [JWTAlgorithm] { JWTAlgorithm.allCases.filter { $0.family == self } }
    }

    var family: Family {
        switch self {
        case .hs256, .hs384, .hs512: return .hmac
        case .rs256, .rs384, .rs512: return .rsa
        case .es256: return .ecP256
        case .es384: return .ecP384
        case .edDSA: return .ed25519
        }
    }

    /// Bytes of the hash (also the least HMAC key size RFC 7518 §3.2 allows).
    var digestBytes: Int {
        switch self {
        case .hs256, .rs256, .es256: return 32
        case .hs384, .rs384, .es384: return 48
        case .hs512, .rs512: return 64
        case .edDSA: return 0
        }
    }

    /// libcrypto's digest, fetched once (nil for EdDSA, which hashes internally).
    var digest: OpaquePointer? {
        switch digestBytes {
        case 32: return Digests.sha256
        case 48: return Digests.sha384
        case 64: return Digests.sha512
        default: return nil
        }
    }
}

/// The digests, fetched once: OpenSSL 3 would otherwise look them up on every use.
private enum Digests {
    nonisolated(unsafe) static let sha256: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil)
    nonisolated(unsafe) static let sha384: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-384", nil)
    nonisolated(unsafe) static let sha512: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-512", nil)
}

/// A libcrypto public key (`EVP_PKEY`), freed with the config. Only read after it is
/// built, which OpenSSL allows from any number of threads at once.
final class PublicKey: @unchecked Sendable {
    let pkey: OpaquePointer
    let family: JWTAlgorithm.Family

    private init(pkey: OpaquePointer, family: JWTAlgorithm.Family) {
        self.pkey = pkey
        self.family = family
    }

    deinit {
        EVP_PKEY_free(pkey)
    }

    struct Failure: Error {
        let message: String
    }

    static let minimumRSABits: Int32 = 2048

    /// From PEM text (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    static func fromPEM(_ pem: [UInt8]) -> Result<PublicKey, Failure> {
        defer { ERR_clear_error() }
        let key: OpaquePointer? = pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let key else {
            return .failure(Failure(message: "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)"))
        }
        return classify(key)
    }

    /// An RSA key from its modulus and exponent (big-endian bytes, as in a JWK).
    static func rsa(modulus: [UInt8], exponent: [UInt8]) -> Result<PublicKey, Failure> {
        defer { ERR_clear_error() }
        guard let bld = OSSL_PARAM_BLD_new() else { return .failure(Failure(message: "libcrypto: out of memory")) }
        defer { OSSL_PARAM_BLD_free(bld) }
        let n = modulus.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        let e = exponent.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        defer {
            BN_free(n)
            BN_free(e)
        }
        guard let n, let e, OSSL_PARAM_BLD_push_BN(bld, gw_ossl_pkey_param_rsa_n, n) == 1,
            OSSL_PARAM_BLD_push_BN(bld, gw_ossl_pkey_param_rsa_e, e) == 1
        else {
            return .failure(Failure(message: "libcrypto could not read the RSA parameters"))
        }
        // The builder references what was pushed until here: n and e are still alive.
        return fromData(type: "RSA", bld)
    }

    /// An EC key on `curve` ("P-256" or "P-384") from its affine coordinates.
    static func ec(curve: String, x: [UInt8], y: [UInt8]) -> Result<PublicKey, Failure> {
        defer { ERR_clear_error() }
        guard let bld = OSSL_PARAM_BLD_new() else { return .failure(Failure(message: "libcrypto: out of memory")) }
        defer { OSSL_PARAM_BLD_free(bld) }
        let point = [0x04] + x + y  // SEC 1 uncompressed point
        // The builder references the pushed buffers until OSSL_PARAM_BLD_to_param (in
        // fromData), so everything happens while they are alive.
        return curve.withCString { name in
            point.withUnsafeBytes { p in
                guard OSSL_PARAM_BLD_push_utf8_string(bld, gw_ossl_pkey_param_group_name, name, 0) == 1,
                    OSSL_PARAM_BLD_push_octet_string(bld, gw_ossl_pkey_param_pub_key, p.baseAddress, p.count) == 1
                else { return .failure(Failure(message: "libcrypto could not read the EC parameters")) }
                return fromData(type: "EC", bld)
            }
        }
    }

    /// An Ed25519 key from its 32 raw bytes.
    static func ed25519(_ raw: [UInt8]) -> Result<PublicKey, Failure> {
        defer { ERR_clear_error() }
        let key = raw.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }
        guard let key else { return .failure(Failure(message: "not a valid Ed25519 public key")) }
        return classify(key)
    }

    private static func fromData(type: String, _ bld: OpaquePointer) -> Result<PublicKey, Failure> {
        guard let params = OSSL_PARAM_BLD_to_param(bld) else { return .failure(Failure(message: "libcrypto: out of memory")) }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            return .failure(Failure(message: "libcrypto has no \(type) implementation"))
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(ctx) == 1, EVP_PKEY_fromdata(ctx, &key, gw_evp_pkey_public_key, params) == 1, let key else {
            return .failure(Failure(message: "not a valid \(type) public key"))
        }
        // fromdata does not check that an EC point is on the curve: do it here.
        if type == "EC" {
            guard let check = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
                EVP_PKEY_free(key)
                return .failure(Failure(message: "libcrypto: out of memory"))
            }
            defer { EVP_PKEY_CTX_free(check) }
            guard EVP_PKEY_public_check(check) == 1 else {
                EVP_PKEY_free(key)
                return .failure(Failure(message: "the point is not on the curve"))
            }
        }
        return classify(key)
    }

    /// Decide the key's family; frees `key` when it is of no use.
    private static func classify(_ key: OpaquePointer) -> Result<PublicKey, Failure> {
        let family: JWTAlgorithm.Family
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA:
            let bits = EVP_PKEY_get_bits(key)
            guard bits >= minimumRSABits else {
                EVP_PKEY_free(key)
                return .failure(Failure(message: "an RSA key of \(bits) bits (at least \(minimumRSABits) are required)"))
            }
            family = .rsa
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
                EVP_PKEY_free(key)
                return .failure(Failure(message: "an EC key without a named curve"))
            }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch curve {
            case "prime256v1", "P-256", "secp256r1": family = .ecP256
            case "secp384r1", "P-384": family = .ecP384
            default:
                EVP_PKEY_free(key)
                return .failure(Failure(message: "an EC key on curve \(curve) (ES256 needs P-256, ES384 P-384)"))
            }
        case EVP_PKEY_ED25519:
            family = .ed25519
        default:
            EVP_PKEY_free(key)
            return .failure(Failure(message: "an unsupported key type (RSA, EC P-256/P-384 or Ed25519 are)"))
        }
        return .success(PublicKey(pkey: key, family: family))
    }

    /// Check a JWS signature made with `algorithm` (whose family is this key's).
    func verify(_ algorithm: JWTAlgorithm, signingInput: UnsafeRawBufferPointer, signature: [UInt8]) -> Bool {
        defer { ERR_clear_error() }
        var signature = signature
        if family == .ecP256 || family == .ecP384 {
            // JWS carries ECDSA signatures as raw r || s; libcrypto wants DER.
            guard signature.count == 2 * algorithm.digestBytes, let der = Self.derSignature(signature) else { return false }
            signature = der
        }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        let md = algorithm.digest
        guard algorithm == .edDSA || md != nil, EVP_DigestVerifyInit(ctx, nil, md, nil, pkey) == 1 else { return false }
        return signature.withUnsafeBufferPointer { sig in
            EVP_DigestVerify(
                ctx, sig.baseAddress, sig.count, signingInput.baseAddress?.assumingMemoryBound(to: UInt8.self), signingInput.count) == 1
        }
    }

    /// Raw `r || s` (two equal halves) as a DER `ECDSA-Sig-Value`.
    static func derSignature(_ raw: [UInt8]) -> [UInt8]? {
        let half = raw.count / 2
        guard half > 0, let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        let (r, s) = raw.withUnsafeBufferPointer { p in
            (BN_bin2bn(p.baseAddress, Int32(half), nil), BN_bin2bn(p.baseAddress! + half, Int32(half), nil))
        }
        guard let r, let s else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else {  // on success sig owns r and s
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(sig, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_ECDSA_SIG(sig, &cursor)
        }
        return written == length ? der : nil
    }
}

/// An HMAC secret: bytes only, so it can never be mistaken for a public key.
struct HMACSecret: Sendable {
    let bytes: [UInt8]

    /// The least size RFC 7518 §3.2 allows for any HS algorithm.
    static let minimumBytes = 32

    /// Compute the HMAC of the signing input and compare it with `signature` in
    /// constant time (the length is public).
    func verify(_ algorithm: JWTAlgorithm, signingInput: UnsafeRawBufferPointer, signature: [UInt8]) -> Bool {
        guard let md = algorithm.digest, signature.count == algorithm.digestBytes else { return false }
        var mac = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { key in
            mac.withUnsafeMutableBufferPointer { out in
                HMAC(
                    md, key.baseAddress, Int32(key.count), signingInput.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    signingInput.count, out.baseAddress, &length) != nil
            }
        }
        defer { ERR_clear_error() }
        guard ok, Int(length) == signature.count else { return false }
        return mac.withUnsafeBytes { a in signature.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, b.count) == 0 } }
    }
}
