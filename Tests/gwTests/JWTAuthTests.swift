import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

extension EndToEnd {
    /// JWTs in the built-in `auth` filter: every algorithm, keys from files, the
    /// environment, inline PEM and a JWKS file, every claim check, and hostile tokens.
    @Suite struct JWTAuth {
        static let secretEnv = "GW_TEST_JWT_SECRET"
        static let now = Int(Date().timeIntervalSince1970)

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
            let more = echo
                ? ", {plugin: \(try FixturePlugins.fixture("metadata_echo")), config: {ns: auth, keys: \"consumer,tenant,method\"}}" : ""
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
    }
}
