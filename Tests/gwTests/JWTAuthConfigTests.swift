import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

extension EndToEnd.JWTAuth {

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
