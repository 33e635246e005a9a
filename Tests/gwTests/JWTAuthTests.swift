import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

/// Keys made with the `openssl` command line once per test process, and tokens
/// signed with them: the tests never share code with the verifier they check.
final class JWTTestKeys: Sendable {
    let directory: String
    /// 64 random bytes (long enough for HS512), in a file and as hex.
    let secretFile: String
    let secretHex: String
    /// The secret given through the environment (`secretHex` as text), as hex for signing.
    let envSecretHex: String
    let rsaPrivate, rsaPublic: String
    /// A second RSA key pair, for forgeries with a key gw does not know.
    let otherRSAPrivate: String
    let ec256Private, ec256Public: String
    let ec384Private, ed25519Private: String
    /// JWKS with the P-384 key (kid "ec384"), the Ed25519 key (kid "ed") and the RSA key (kid "rsa-jwks").
    let jwksFile: String

    static let shared = Mutex<Result<JWTTestKeys, any Error>?>(nil)

    static func get() throws -> JWTTestKeys {
        try shared.withLock { cached in
            if let cached { return try cached.get() }
            let result = Result { try JWTTestKeys() }
            cached = result
            return try result.get()
        }
    }

    private init() throws {
        directory = FixturePlugins.makeTemporaryDirectory(prefix: "gw-jwt")
        let dir = directory
        func path(_ name: String) -> String { "\(dir)/\(name)" }

        let secret = (0..<64).map { _ in UInt8.random(in: 0...255) }
        secretFile = path("hmac.secret")
        try Data(secret).write(to: URL(fileURLWithPath: secretFile))
        secretHex = secret.map { String(format: "%02x", $0) }.joined()
        envSecretHex = Array(secretHex.utf8).map { String(format: "%02x", $0) }.joined()

        func generate(_ name: String, _ options: [String]) throws -> (String, String) {
            let privateKey = path("\(name).pem")
            let publicKey = path("\(name).pub.pem")
            _ = try OpenSSL.run(["genpkey"] + options + ["-out", privateKey])
            _ = try OpenSSL.run(["pkey", "-in", privateKey, "-pubout", "-out", publicKey])
            return (privateKey, publicKey)
        }
        (rsaPrivate, rsaPublic) = try generate("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        (otherRSAPrivate, _) = try generate("rsa-other", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        (ec256Private, ec256Public) = try generate("ec256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let ec384: (String, String) = try generate("ec384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"])
        ec384Private = ec384.0
        let ed: (String, String) = try generate("ed25519", ["-algorithm", "ED25519"])
        ed25519Private = ed.0

        // JWKS members from the public keys' DER: the point (EC, Ed25519) ends the
        // SubjectPublicKeyInfo; the RSA modulus comes from `openssl rsa -modulus`.
        func der(_ publicKey: String) throws -> [UInt8] {
            Array(try OpenSSL.run(["pkey", "-pubin", "-in", publicKey, "-outform", "DER"]))
        }
        let ec384Point = Array(try der(ec384.1).suffix(97).dropFirst())
        let edRaw = Array(try der(ed.1).suffix(32))
        let modulusLine = String(decoding: try OpenSSL.run(["rsa", "-pubin", "-in", rsaPublic, "-modulus", "-noout"]), as: UTF8.self)
        let modulusHex = modulusLine.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Modulus=", with: "")
        let modulus = stride(from: 0, to: modulusHex.count, by: 2).map { i -> UInt8 in
            let start = modulusHex.index(modulusHex.startIndex, offsetBy: i)
            return UInt8(modulusHex[start..<modulusHex.index(start, offsetBy: 2)], radix: 16)!
        }
        let jwks: [String: Any] = [
            "keys": [
                ["kty": "EC", "crv": "P-384", "kid": "ec384", "use": "sig", "x": b64url(ec384Point.prefix(48)), "y": b64url(ec384Point.suffix(48))],
                ["kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64url(edRaw)],
                ["kty": "RSA", "kid": "rsa-jwks", "alg": "RS256", "n": b64url(modulus), "e": "AQAB"],
                // Not for signatures, and a curve gw does not verify: both skipped.
                ["kty": "RSA", "kid": "enc", "use": "enc", "n": b64url(modulus), "e": "AQAB"],
                ["kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AAAA", "y": "AAAA"],
            ]
        ]
        jwksFile = path("jwks.json")
        try JSONSerialization.data(withJSONObject: jwks).write(to: URL(fileURLWithPath: jwksFile))
    }

    /// The PEM text of a file, for inline `public_key`.
    func pem(_ file: String) throws -> String {
        try String(contentsOfFile: file, encoding: .utf8)
    }

    /// A signed compact JWS. `header` gets `alg` (and `typ`) unless it has them.
    func token(_ alg: String, claims: [String: Any], header: [String: Any] = [:], key: String? = nil) throws -> String {
        var fullHeader = header
        if fullHeader["alg"] == nil { fullHeader["alg"] = alg }
        if fullHeader["typ"] == nil { fullHeader["typ"] = "JWT" }
        let input =
            b64url(try JSONSerialization.data(withJSONObject: fullHeader, options: .sortedKeys)) + "."
            + b64url(try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys))
        return input + "." + b64url(try sign(alg, Array(input.utf8), key: key))
    }

    func sign(_ alg: String, _ input: [UInt8], key: String? = nil) throws -> [UInt8] {
        let file = "\(directory)/input-\(UUID().uuidString)"
        try Data(input).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let bits = String(alg.suffix(3))
        switch alg {
        case "HS256", "HS384", "HS512":
            let hexKey = key ?? secretHex
            return Array(try OpenSSL.run(["dgst", "-sha\(bits)", "-mac", "HMAC", "-macopt", "hexkey:\(hexKey)", "-binary", file]))
        case "RS256", "RS384", "RS512":
            return Array(try OpenSSL.run(["dgst", "-sha\(bits)", "-sign", key ?? rsaPrivate, "-binary", file]))
        case "ES256", "ES384":
            let der = Array(try OpenSSL.run(["dgst", "-sha\(bits)", "-sign", key ?? (bits == "256" ? ec256Private : ec384Private), "-binary", file]))
            return try Self.rawECDSA(der, size: bits == "256" ? 32 : 48)
        case "EdDSA":
            return Array(try OpenSSL.run(["pkeyutl", "-sign", "-inkey", key ?? ed25519Private, "-rawin", "-in", file]))
        default:
            throw OpenSSL.Failure(message: "no signer for \(alg)")
        }
    }

    /// DER `SEQUENCE { INTEGER r, INTEGER s }` to JWS's fixed-size `r || s`.
    static func rawECDSA(_ der: [UInt8], size: Int) throws -> [UInt8] {
        var i = 0
        func length() -> Int {
            var n = Int(der[i])
            i += 1
            if n & 0x80 != 0 {
                let count = n & 0x7f
                n = 0
                for _ in 0..<count {
                    n = n << 8 | Int(der[i])
                    i += 1
                }
            }
            return n
        }
        guard der.first == 0x30 else { throw OpenSSL.Failure(message: "not a DER signature") }
        i = 1
        _ = length()
        var out: [UInt8] = []
        for _ in 0..<2 {
            guard der[i] == 0x02 else { throw OpenSSL.Failure(message: "not a DER integer") }
            i += 1
            let n = length()
            var integer = Array(der[i..<i + n])
            i += n
            while integer.count > size && integer.first == 0 { integer.removeFirst() }
            out += [UInt8](repeating: 0, count: size - integer.count) + integer
        }
        return out
    }
}

func b64url<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

enum OpenSSL {
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Run `openssl` with `arguments`; its standard output.
    static func run(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(message: "openssl \(arguments.joined(separator: " ")): \(String(decoding: errors, as: UTF8.self))")
        }
        return data
    }
}

extension EndToEnd {
    /// JWTs in the built-in `auth` filter: every algorithm, keys from files, the
    /// environment, inline PEM and a JWKS file, every claim check, and hostile tokens.
    @Suite struct JWTAuth {
        static let secretEnv = "GW_TEST_JWT_SECRET"
        static let now = Int(Date().timeIntervalSince1970)

        /// A test-only C filter that copies the `auth` metadata into request headers.
        static let metadataEcho = """
            #include "gw_plugin.h"
            static const gw_host_v1 *g_host;
            static void copy(gw_stream *s, gw_str key, gw_str header) {
              gw_bytes v;
              if (g_host->metadata_get(s, (gw_str)GW_STR("auth"), key, &v) != GW_OK) return;
              g_host->header_set(s, GW_REQUEST, header, (gw_str){(const char *)v.ptr, v.len});
            }
            static gw_status on_request_headers(void *f, gw_stream *s, bool eos) {
              (void)f; (void)eos;
              copy(s, (gw_str)GW_STR("consumer"), (gw_str)GW_STR("x-auth-consumer"));
              copy(s, (gw_str)GW_STR("tenant"), (gw_str)GW_STR("x-auth-tenant"));
              copy(s, (gw_str)GW_STR("method"), (gw_str)GW_STR("x-auth-method"));
              return GW_CONTINUE;
            }
            static void *config_new(void *st, gw_config_handle *c, gw_str n, gw_bytes b) {
              (void)st; (void)c; (void)n; (void)b; static int token; return &token;
            }
            static void config_destroy(void *c) { (void)c; }
            static void *filter_new(void *c, gw_stream *s) { (void)s; return c; }
            static void filter_destroy(void *f) { (void)f; }
            static const gw_plugin_v1 d = {
              .struct_size = sizeof(gw_plugin_v1), .abi_major = GW_ABI_MAJOR, .abi_minor = GW_ABI_MINOR,
              .name = GW_STR("test_jwt_metadata"), .version = GW_STR("0"),
              .config_new = config_new, .config_destroy = config_destroy,
              .filter_new = filter_new, .filter_destroy = filter_destroy, .on_request_headers = on_request_headers,
            };
            GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *h, gw_plugin_handle *p) {
              (void)p; g_host = h; return &d;
            }
            """

        /// Every key source at once: the HMAC secret from a file and from the
        /// environment, RSA from a PEM file, P-256 inline, the rest from the JWKS file.
        static func fullConfig(_ keys: JWTTestKeys, extra: String = "") throws -> String {
            setenv(secretEnv, keys.secretHex, 1)
            let inline = try keys.pem(keys.ec256Public).replacingOccurrences(of: "\n", with: "\\n")
            return """
                {jwt: {algorithms: [HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, EdDSA], \
                keys: [{kid: hs-file, secret_file: \(keys.secretFile)}, {kid: hs-env, alg: HS256, secret_env: \(secretEnv)}, \
                {kid: rsa, public_key_file: \(keys.rsaPublic)}, {public_key: "\(inline)"}], \
                jwks_file: \(keys.jwksFile), issuer: ["https://issuer.example", "https://other.example"], audience: gw-api, \
                tenant_claim: org\(extra.isEmpty ? "" : ", " + extra)}}
                """
        }

        static func yaml(_ upstreamPort: Int, config: String, echo: Bool = false) throws -> String {
            let more = echo ? ", {plugin: \(try FixturePlugins.inline("jwt_metadata_echo", source: metadataEcho))}" : ""
            return gatewayYAML(upstreamPort: upstreamPort, routes: proxyRoute(name: "jwt", filters: "[{plugin: auth, config: \(config)}\(more)]"))
        }

        static func claims(_ extra: [String: Any] = [:], sub: Any = "alice") -> [String: Any] {
            var claims: [String: Any] = ["sub": sub, "iss": "https://issuer.example", "aud": "gw-api", "exp": now + 300, "iat": now]
            for (key, value) in extra { claims[key] = value }
            return claims
        }

        static func bearer(_ token: String) -> [(String, String)] { [("authorization", "Bearer " + token)] }

        /// A 401 for a token: the challenge names `description`, the body is JSON.
        static func expectRefused(
            _ response: TestResponse, _ description: String, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(response.status == .unauthorized, "\(response.text)", sourceLocation: sourceLocation)
            #expect(
                response.header("www-authenticate") == "Bearer realm=\"gw\", error=\"invalid_token\", error_description=\"\(description)\"",
                sourceLocation: sourceLocation)
            #expect(response.errorType == "unauthorized", sourceLocation: sourceLocation)
            #expect(response.header("content-type") == "application/json", sourceLocation: sourceLocation)
        }

        struct Signed: Sendable, CustomTestStringConvertible {
            var alg: String
            var kid: String?
            var testDescription: String { alg + (kid.map { " kid \($0)" } ?? " without kid") }
        }

        static let algorithms = [
            Signed(alg: "HS256", kid: "hs-env"), Signed(alg: "HS384", kid: "hs-file"), Signed(alg: "HS512", kid: nil),
            Signed(alg: "RS256", kid: "rsa"), Signed(alg: "RS384", kid: nil), Signed(alg: "RS512", kid: "rsa"),
            Signed(alg: "RS256", kid: "rsa-jwks"), Signed(alg: "ES256", kid: nil), Signed(alg: "ES384", kid: "ec384"),
            Signed(alg: "EdDSA", kid: "ed"),
        ]

        @Test(arguments: algorithms)
        func aValidTokenOfEachAlgorithmIsAcceptedAndNeverReachesTheUpstream(_ signed: Signed) async throws {
            let keys = try JWTTestKeys.get()
            let token = try keys.token(
                signed.alg, claims: Self.claims(["org": "acme"]), header: signed.kid.map { ["kid": $0] } ?? [:],
                key: signed.kid == "hs-env" ? keys.envSecretHex : nil)
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys), echo: true) }) { upstream, gw in
                let response = try await gw.send(.GET, "/r", headers: Self.bearer(token) + [("x-auth-consumer", "forged")])
                #expect(response.status == .ok, "\(response.text)")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("authorization") == nil)
                #expect(seen.header("x-auth-consumer") == "alice")
                #expect(seen.header("x-auth-tenant") == "acme")
                #expect(seen.header("x-auth-method") == "jwt")
            }
        }

        @Test func expiryAndNotBeforeAreCheckedWithTheClockSkew() async throws {
            let keys = try JWTTestKeys.get()
            let cases: [(claims: [String: Any], refusal: String?)] = [
                (["exp": Self.now - 120], "token expired"),
                (["exp": Self.now - 30], nil),  // within the default 60 s skew
                (["nbf": Self.now + 120], "token not yet valid"),
                (["nbf": Self.now + 30], nil),
                (["exp": "tomorrow"], "invalid exp or nbf claim"),
            ]
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys)) }) { upstream, gw in
                for (claims, refusal) in cases {
                    let response = try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("RS256", claims: Self.claims(claims))))
                    if let refusal {
                        Self.expectRefused(response, refusal)
                        #expect(response.text.contains("invalid token: \(refusal)"), "\(response.text)")
                    } else {
                        #expect(response.status == .ok, "\(claims): \(response.text)")
                    }
                }
                // No exp at all: refused unless require_exp is false.
                var claims = Self.claims()
                claims["exp"] = nil
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("ES256", claims: claims))), "token has no expiry")
                #expect(upstream.requestCount == 2)
            }
            // A skew of 0 refuses what the default accepted; require_exp: false accepts no exp.
            let strict = try Self.fullConfig(keys, extra: "clock_skew_seconds: 0, require_exp: false")
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: strict) }) { _, gw in
                let late = try keys.token("RS256", claims: Self.claims(["exp": Self.now - 30]))
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(late)), "token expired")
                let early = try keys.token("RS256", claims: Self.claims(["nbf": Self.now + 30]))
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(early)), "token not yet valid")
                var claims = Self.claims()
                claims["exp"] = nil
                #expect(try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("RS256", claims: claims))).status == .ok)
            }
        }

        @Test func issuerAndAudienceMustMatch() async throws {
            let keys = try JWTTestKeys.get()
            let cases: [(claims: [String: Any], refusal: String?)] = [
                (["iss": "https://evil.example"], "wrong issuer"),
                (["iss": "https://other.example"], nil),
                (["aud": "someone-else"], "wrong audience"),
                (["aud": ["someone-else", "gw-api"]], nil),
                (["aud": ["someone-else"]], "wrong audience"),
                (["aud": 7], "wrong audience"),
            ]
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys)) }) { upstream, gw in
                for (claims, refusal) in cases {
                    let response = try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("HS256", claims: Self.claims(claims))))
                    if let refusal { Self.expectRefused(response, refusal) } else { #expect(response.status == .ok, "\(claims)") }
                }
                var claims = Self.claims()
                claims["iss"] = nil
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("HS256", claims: claims))), "wrong issuer")
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func forgedTokensAreRefused() async throws {
            let keys = try JWTTestKeys.get()
            let good = try keys.token("RS256", claims: Self.claims())
            let parts = good.split(separator: ".").map(String.init)
            // The payload changed after signing (another consumer).
            let otherPayload = b64url(try JSONSerialization.data(withJSONObject: Self.claims(sub: "mallory"), options: .sortedKeys))
            // A signature byte flipped.
            var signature = Array(Data(base64Encoded: parts[2].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "==")!)
            signature[10] ^= 0x01
            let forged = [
                parts[0] + "." + otherPayload + "." + parts[2],
                parts[0] + "." + parts[1] + "." + b64url(signature),
                try keys.token("RS256", claims: Self.claims(), key: keys.otherRSAPrivate),
                try keys.token("HS256", claims: Self.claims(), key: String(repeating: "ab", count: 32)),
            ]
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys)) }) { upstream, gw in
                for token in forged {
                    Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(token)), "invalid signature")
                }
                #expect(try await gw.send(.GET, "/", headers: Self.bearer(good)).status == .ok)
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func unsignedTokensAndUnknownAlgorithmsAreRefused() async throws {
            let keys = try JWTTestKeys.get()
            let payload = b64url(try JSONSerialization.data(withJSONObject: Self.claims(), options: .sortedKeys))
            func header(_ object: [String: Any]) throws -> String { b64url(try JSONSerialization.data(withJSONObject: object)) }
            let good = try keys.token("RS256", claims: Self.claims())
            let goodSignature = String(good.split(separator: ".")[2])
            let cases: [(String, String)] = [
                (try header(["alg": "none"]) + "." + payload + ".", "unsigned tokens (alg none) are not accepted"),
                (try header(["alg": "None", "typ": "JWT"]) + "." + payload + "." + goodSignature, "unsigned tokens (alg none) are not accepted"),
                (try header(["alg": "PS256"]) + "." + payload + "." + goodSignature, "algorithm not allowed"),
                (try header(["typ": "JWT"]) + "." + payload + "." + goodSignature, "malformed token"),
                (try header(["alg": "RS256", "crit": ["exp"]]) + "." + payload + "." + goodSignature, "unsupported critical header"),
            ]
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys)) }) { upstream, gw in
                for (token, refusal) in cases {
                    Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(token)), refusal)
                }
                #expect(upstream.requestCount == 0)
            }
        }

        @Test func algorithmConfusionIsRefused() async throws {
            let keys = try JWTTestKeys.get()
            // HS256 "signed" with the RSA public key's PEM text as the HMAC secret.
            let pemHex = Array(try keys.pem(keys.rsaPublic).utf8).map { String(format: "%02x", $0) }.joined()
            let confused = try keys.token("HS256", claims: Self.claims(), key: pemHex)
            let confusedWithKid = try keys.token("HS256", claims: Self.claims(), header: ["kid": "rsa"], key: pemHex)

            // Only RS256 allowed: HS256 never gets near a key.
            let rsaOnly = "{jwt: {algorithms: [RS256], keys: [{kid: rsa, public_key_file: \(keys.rsaPublic)}]}}"
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: rsaOnly) }) { upstream, gw in
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(confused)), "algorithm not allowed")
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(confusedWithKid)), "algorithm not allowed")
                #expect(try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("RS256", claims: Self.claims()))).status == .ok)
                #expect(upstream.requestCount == 1)
            }
            // HS256 allowed too (with its own secrets): the RSA key is still never an HMAC
            // secret. Named by kid, it is not even a candidate for HS256.
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys)) }) { upstream, gw in
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(confused)), "invalid signature")
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(confusedWithKid)), "unknown signing key")
                #expect(upstream.requestCount == 0)
            }
        }

        @Test func aTokenNamingAnUnknownKeyIsRefused() async throws {
            let keys = try JWTTestKeys.get()
            // Only kid-named keys (from the JWKS file): an unknown kid has nothing to try.
            let config = "{jwt: {algorithms: [ES384, EdDSA, RS256], jwks_file: \(keys.jwksFile)}}"
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: config) }) { upstream, gw in
                let unknown = try keys.token("EdDSA", claims: Self.claims(), header: ["kid": "rotated-away"])
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(unknown)), "unknown signing key")
                // The kid of a key of another algorithm: no key for this one.
                let mismatched = try keys.token("ES384", claims: Self.claims(), header: ["kid": "ed"])
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(mismatched)), "unknown signing key")
                // The encryption key and the secp256k1 key of the file were skipped.
                let skipped = try keys.token("RS256", claims: Self.claims(), header: ["kid": "enc"])
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(skipped)), "unknown signing key")
                // Without a kid every key of the algorithm is tried.
                #expect(try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("ES384", claims: Self.claims()))).status == .ok)
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func malformedAndOversizedTokensAreRefused() async throws {
            let keys = try JWTTestKeys.get()
            let good = try keys.token("HS256", claims: Self.claims())
            let parts = good.split(separator: ".").map(String.init)
            let padded = try keys.token("HS256", claims: Self.claims(["pad": String(repeating: "x", count: 9000)]))
            /// Correctly signed, so the payload itself is what gets checked.
            func signed(payload: String) throws -> String {
                let input = parts[0] + "." + payload
                return input + "." + b64url(try keys.sign("HS256", Array(input.utf8)))
            }
            let canonical = b64url(Array("{\"sub\":\"a\"}".utf8))  // "eyJzdWIiOiJhIn0": the last 2 bits of "0" are unused
            let cases: [(String, String)] = [
                (parts[0] + "=." + parts[1] + "." + parts[2], "malformed token"),  // padding
                (parts[0] + "." + parts[1] + "+." + parts[2], "malformed token"),  // not the URL alphabet
                (try signed(payload: "A"), "malformed token"),  // a length no base64 has
                (try signed(payload: canonical.dropLast() + "1"), "malformed token"),  // the same bytes, unused bits set
                (try signed(payload: b64url(Array("[1,2]".utf8))), "malformed token"),  // not an object
                (parts[0] + "." + parts[1], "malformed token"),  // two parts
                (parts[0] + "." + parts[1] + "." + parts[2] + ".x", "malformed token"),
                (b64url(Array("not json".utf8)) + "." + parts[1] + "." + parts[2], "malformed token"),
                (b64url(Array("{\"alg\":\"HS256\",\"alg\":\"none\"}".utf8)) + "." + parts[1] + "." + parts[2], "malformed token"),
                (parts[0] + "." + parts[1] + ".", "malformed token"),  // no signature
                (padded, "token too large"),
            ]
            // A non-canonical encoding: the last character's unused bits set.
            let last = parts[2].last!
            let sextets = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let tweaked = sextets[(sextets.firstIndex(of: last)! | 1)]
            let nonCanonical = parts[0] + "." + parts[1] + "." + parts[2].dropLast() + String(tweaked)
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys)) }) { upstream, gw in
                for (token, refusal) in cases {
                    Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(token)), refusal)
                }
                let tooLarge = try await gw.send(.GET, "/", headers: Self.bearer(padded))
                #expect(tooLarge.text.contains("token longer than 8192 bytes"))
                if tweaked != last {
                    Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(nonCanonical)), "malformed token")
                }
                // Not a JWT at all, with no API keys configured.
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer("sk-alice")), "malformed token")
                let missing = try await gw.send(.GET, "/")
                #expect(missing.status == .unauthorized)
                #expect(missing.header("www-authenticate") == "Bearer realm=\"gw\"")
                #expect(missing.text.contains("missing bearer token"))
                #expect(upstream.requestCount == 0)
            }
        }

        @Test func claimsWithControlCharactersNeverReachHeaders() async throws {
            let keys = try JWTTestKeys.get()
            let cases: [(claims: [String: Any], refusal: String)] = [
                ([:], "invalid consumer claim"),
                (["org": "acme\nx-injected: 1"], "invalid tenant claim"),
                (["org": 42], "invalid tenant claim"),
            ]
            let subs: [Any] = ["alice\r\nx-injected: 1", "alice", "alice"]
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: try! Self.fullConfig(keys), echo: true) }) { upstream, gw in
                for ((claims, refusal), sub) in zip(cases, subs) {
                    let token = try keys.token("ES256", claims: Self.claims(claims, sub: sub))
                    Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(token)), refusal)
                }
                for sub: Any in [42, "", String(repeating: "a", count: 300)] {
                    let token = try keys.token("ES256", claims: Self.claims(sub: sub))
                    Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(token)), "invalid consumer claim")
                }
                var claims = Self.claims()
                claims["sub"] = nil
                Self.expectRefused(try await gw.send(.GET, "/", headers: Self.bearer(try keys.token("ES256", claims: claims))), "no consumer claim")
                #expect(upstream.requestCount == 0)

                // Non-ASCII is fine: only control characters are refused.
                let token = try keys.token("ES256", claims: Self.claims(["org": "Zürich"], sub: "ålice"))
                #expect(try await gw.send(.GET, "/", headers: Self.bearer(token)).status == .ok)
                #expect(upstream.lastRequest?.header("x-auth-consumer") == "ålice")
                #expect(upstream.lastRequest?.head.headers.contains(name: "x-injected") == false)
            }
        }

        @Test func apiKeysAndTokensWorkSideBySideWithConsumerClaimsAndAllowedConsumers() async throws {
            let keys = try JWTTestKeys.get()
            let config = """
                {keys: [{key: sk-bob, consumer: bob, tenant: beta}], query_param: access_token, allowed_consumers: [bob, svc-7], \
                jwt: {algorithms: [RS256], keys: [{public_key_file: \(keys.rsaPublic)}], consumer_claim: client_id, tenant_claim: org}}
                """
            try await withProxy(.echo, yaml: { try! Self.yaml($0, config: config, echo: true) }) { upstream, gw in
                let key = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-bob")])
                #expect(key.status == .ok)
                #expect(upstream.lastRequest?.header("x-auth-consumer") == "bob")
                #expect(upstream.lastRequest?.header("x-auth-method") == "api_key")

                let token = try keys.token("RS256", claims: Self.claims(["client_id": "svc-7", "org": "acme"]))
                #expect(try await gw.send(.GET, "/", headers: Self.bearer(token)).status == .ok)
                #expect(upstream.lastRequest?.header("x-auth-consumer") == "svc-7")
                #expect(upstream.lastRequest?.header("x-auth-tenant") == "acme")

                // In the query: accepted and removed.
                #expect(try await gw.send(.GET, "/q?a=1&access_token=\(token)").status == .ok)
                #expect(upstream.lastRequest?.head.uri == "/q?a=1")

                // A valid token whose consumer is not allowed here: 403.
                let other = try keys.token("RS256", claims: Self.claims(["client_id": "svc-8"]))
                let forbidden = try await gw.send(.GET, "/", headers: Self.bearer(other))
                #expect(forbidden.status == .forbidden)
                #expect(forbidden.errorType == "forbidden")
                #expect(forbidden.text.contains("consumer \\\"svc-8\\\" is not allowed"))

                // A wrong API key is still an API-key error; the missing message names both.
                let wrong = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-wrong")])
                #expect(wrong.status == .unauthorized)
                #expect(wrong.text.contains("invalid API key"))
                #expect(try await gw.send(.GET, "/").text.contains("missing API key or token"))
                #expect(upstream.requestCount == 3)
            }
        }

        // MARK: - Config errors

        @Test func everyJWTConfigErrorIsNamed() async throws {
            let keys = try JWTTestKeys.get()
            unsetenv("GW_TEST_JWT_UNSET")
            let shortSecret = "\(keys.directory)/short.secret"
            try "too short\n".write(toFile: shortSecret, atomically: true, encoding: .utf8)
            let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "auth", config: """
                jwt:
                  algorithms: [RS256, none, HS999, ES256, RS256]
                  keys:
                    - {secret_env: GW_TEST_JWT_UNSET}
                    - {secret_file: relative/path}
                    - {secret_file: \(shortSecret)}
                    - {secret: "\(String(repeating: "s", count: 40))", alg: HS512}
                    - {public_key: "not a pem"}
                    - {public_key_file: \(keys.rsaPublic), alg: ES256}
                    - {kid: both, secret: x, public_key: y}
                    - {kid: neither}
                    - {secret_file: /nonexistent/gw-secret}
                  clock_skew_seconds: 7200
                  issuer: 5
                  colour: red
                """)
            BuiltinPluginConfigTests.expectMessages(issue, [
                "jwt.colour: unknown key (expected one of: algorithms, audience, clock_skew_seconds, consumer_claim, issuer, jwks_file, keys, max_token_bytes, require_exp, tenant_claim)",
                "jwt.algorithms[1]: \"none\" (unsigned tokens) is never accepted",
                "jwt.algorithms[2]: unknown algorithm \"HS999\"",
                "jwt.algorithms[4]: RS256 is listed twice",
                "jwt.keys[0].secret_env: environment variable GW_TEST_JWT_UNSET is not set",
                "jwt.keys[1].secret_file: \"relative/path\" is not an absolute path",
                "jwt.keys[2].secret_file: an HMAC secret needs at least 32 bytes, got 9",
                "jwt.keys[3].secret: HS512 needs a secret of at least 64 bytes, got 40",
                "jwt.keys[4].public_key: not a PEM public key",
                "jwt.keys[5].alg: ES256 cannot be used with an RSA key",
                "jwt.keys[6]: has secret and public_key, give exactly one",
                "jwt.keys[7]: needs one of secret, secret_env, secret_file, public_key, public_key_file",
                "jwt.keys[8].secret_file: cannot read /nonexistent/gw-secret: No such file or directory",
                "jwt.clock_skew_seconds: must be between 0 and 3600, got 7200",
                "jwt.issuer: expected a string or a list of strings, got a number",
            ])
        }

        @Test func confusableAndUselessKeysAreConfigErrors() async throws {
            let keys = try JWTTestKeys.get()
            let pem = try keys.pem(keys.rsaPublic).replacingOccurrences(of: "\n", with: "\\n")
            let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "auth", config: """
                keys:
                  - {key: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", consumer: alice}
                jwt:
                  algorithms: [HS256, ES384]
                  keys:
                    - {secret: "\(pem)"}
                    - {public_key_file: \(keys.ec256Public)}
                """)
            BuiltinPluginConfigTests.expectMessages(issue, [
                "keys[0].key: looks like a JWT (three dot-separated base64url parts): it would be checked as one",
                "jwt.keys[0].secret: looks like a PEM key (give public keys as public_key or public_key_file)",
                "jwt.keys[1]: an EC P-256 key for ES256, none of which is in jwt.algorithms",
            ])
            // Every accepted algorithm needs a key.
            let missing = try await BuiltinPluginConfigTests.configIssue(plugin: "auth", config: """
                jwt: {algorithms: [RS256, EdDSA], keys: [{public_key_file: \(keys.rsaPublic)}]}
                """)
            BuiltinPluginConfigTests.expectMessages(missing, ["jwt.algorithms[1]: no key in keys or jwks_file can verify EdDSA"])
        }

        @Test func jwksFileErrorsAreNamed() async throws {
            let keys = try JWTTestKeys.get()
            func write(_ name: String, _ text: String) throws -> String {
                let path = "\(keys.directory)/\(name)"
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            let broken = try write("broken.json", "{\"keys\": [")
            let bad = try write("bad.json", """
                {"keys": [{"kty": "RSA", "e": "AQAB"}, {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
                 {"kty": "OKP", "crv": "Ed25519", "x": "\(b64url([UInt8](repeating: 1, count: 32)))", "d": "AAAA"}, "x",
                 {"kty": "EC", "crv": "P-256", "x": "\(b64url([UInt8](repeating: 0, count: 32)))", "y": "\(b64url([UInt8](repeating: 0, count: 32)))"}]}
                """)
            let useless = try write("useless.json", #"{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}"#)
            let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "auth", config: """
                jwt: {algorithms: [ES256], jwks_file: \(broken)}
                """)
            BuiltinPluginConfigTests.expectMessages(issue, ["jwt.jwks_file: \(broken): invalid JSON"])
            let issue2 = try await BuiltinPluginConfigTests.configIssue(plugin: "auth", config: """
                jwt: {algorithms: [ES256, RS256, EdDSA], jwks_file: \(bad)}
                """)
            BuiltinPluginConfigTests.expectMessages(issue2, [
                "jwt.jwks_file: \(bad): keys[0].n: missing",
                "jwt.jwks_file: \(bad): keys[1].x: 3 bytes, expected 32",
                "jwt.jwks_file: \(bad): keys[2]: holds private or secret key material",
                "jwt.jwks_file: \(bad): keys[3]: expected an object, got a string",
                "jwt.jwks_file: \(bad): keys[4]: ",
            ])
            let issue3 = try await BuiltinPluginConfigTests.configIssue(plugin: "auth", config: """
                jwt: {algorithms: [RS256], jwks_file: \(useless)}
                """)
            BuiltinPluginConfigTests.expectMessages(issue3, ["jwt.jwks_file: \(useless): no usable key (1 in the file, 1 skipped"])
        }
    }
}
