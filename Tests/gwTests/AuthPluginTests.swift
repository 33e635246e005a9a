import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// The built-in `auth` filter (libgw_auth.so, found by name beside the executable).
    @Suite struct AuthPlugin {
        /// `printf 'sk-carol-hashed' | sha256sum`
        static let carolDigest = "7ec683f6fc68db859ec74d613228d46dec569b2435a9cb5e8039e3597d374eb8"

        static func keys(_ extra: String = "") -> String {
            """
            {keys: [{key: sk-alice, consumer: alice, tenant: acme}, {key: sk-bob, consumer: bob}, \
            {key: "sha256:\(carolDigest.uppercased())", consumer: carol}]\(extra.isEmpty ? "" : ", " + extra)}
            """
        }

        static func lastURI(_ upstream: TestUpstream) -> String? {
            upstream.lastRequest?.head.uri
        }

        static func yaml(_ upstreamPort: Int, config: String = keys(), more: String = "") -> String {
            gatewayYAML(upstreamPort: upstreamPort, routes: proxyRoute(name: "authed", filters: "[{plugin: auth, config: \(config)}\(more)]"))
        }

        @Test func aBearerKeyIsAcceptedAndNeverReachesTheUpstream() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
                let response = try await gw.send(.GET, "/a", headers: [("authorization", "Bearer sk-alice"), ("x-other", "kept")])
                #expect(response.status == .ok, "\(response.text)")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("authorization") == nil)
                #expect(seen.header("x-other") == "kept")

                // The scheme is case-insensitive; spaces around the token do not matter.
                #expect(try await gw.send(.GET, "/a", headers: [("authorization", "bearer   sk-bob ")]).status == .ok)
            }
        }

        @Test func aKeyInACustomHeaderIsAcceptedAndStripped() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, config: Self.keys("header: X-Api-Key")) }) { upstream, gw in
                #expect(try await gw.send(.GET, "/", headers: [("x-api-key", "sk-alice")]).status == .ok)
                #expect(upstream.lastRequest?.header("x-api-key") == nil)

                let missing = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-alice")])
                #expect(missing.status == .unauthorized)
                #expect(missing.header("www-authenticate") == "ApiKey realm=\"gw\", header=\"x-api-key\"")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func aKeyInTheQueryIsAcceptedAndRemovedFromTheURI() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, config: Self.keys("query_param: api_key")) }) { upstream, gw in
                let inTheMiddle = try await gw.send(.GET, "/q?a=1&api_key=sk-bob&b=2")
                #expect(inTheMiddle.status == .ok)
                #expect(Self.lastURI(upstream) == "/q?a=1&b=2")
                let alone = try await gw.send(.GET, "/q?api_key=sk-bob")
                #expect(alone.status == .ok)
                #expect(Self.lastURI(upstream) == "/q")
                // The header wins over the query, and both credentials are stripped.
                let both = try await gw.send(.GET, "/q?api_key=wrong", headers: [("authorization", "Bearer sk-alice")])
                #expect(both.status == .ok)
                #expect(Self.lastURI(upstream) == "/q")
                #expect(upstream.lastRequest?.header("authorization") == nil)
                let wrong = try await gw.send(.GET, "/q?api_key=wrong")
                #expect(wrong.status == .unauthorized)
            }
        }

        struct BadCredential: Sendable, CustomTestStringConvertible {
            var name: String
            var headers: [(String, String)]
            var challenge: String
            var message: String
            var testDescription: String { name }
        }

        static let badCredentials = [
            BadCredential(name: "missing", headers: [], challenge: "Bearer realm=\"gw\"", message: "missing API key"),
            BadCredential(
                name: "wrong", headers: [("authorization", "Bearer sk-mallory")], challenge: "Bearer realm=\"gw\", error=\"invalid_token\"",
                message: "invalid API key"),
            BadCredential(
                name: "oversized", headers: [("authorization", "Bearer " + String(repeating: "k", count: 5000))],
                challenge: "Bearer realm=\"gw\", error=\"invalid_token\"", message: "longer than 4096 bytes"),
            BadCredential(
                name: "another scheme", headers: [("authorization", "Basic c2stYWxpY2U6")], challenge: "Bearer realm=\"gw\", error=\"invalid_token\"",
                message: "expected \\\"Authorization: Bearer <key>\\\""),
            BadCredential(
                name: "a token with a space", headers: [("authorization", "Bearer sk-alice sk-bob")],
                challenge: "Bearer realm=\"gw\", error=\"invalid_token\"", message: "expected \\\"Authorization: Bearer <key>\\\""),
            BadCredential(
                name: "a scheme without a token", headers: [("authorization", "Bearer  \t ")],
                challenge: "Bearer realm=\"gw\", error=\"invalid_token\"", message: "expected \\\"Authorization: Bearer <key>\\\""),
            BadCredential(
                name: "two headers", headers: [("authorization", "Bearer sk-alice"), ("authorization", "Bearer sk-bob")],
                challenge: "Bearer realm=\"gw\", error=\"invalid_token\"", message: "more than one credential header"),
            BadCredential(
                name: "the digest of a sha256 key", headers: [("authorization", "Bearer " + carolDigest)],
                challenge: "Bearer realm=\"gw\", error=\"invalid_token\"", message: "invalid API key"),
        ]

        @Test(arguments: badCredentials)
        func aBadCredentialGets401WithAChallengeAndNeverReachesTheUpstream(_ bad: BadCredential) async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: bad.headers)
                #expect(response.status == .unauthorized)
                #expect(response.header("www-authenticate") == bad.challenge)
                #expect(response.errorType == "unauthorized")
                #expect(response.text.contains(bad.message), "\(response.text)")
                #expect(response.header("content-type") == "application/json")
                #expect(upstream.requestCount == 0)
            }
        }

        @Test func aSHA256KeyMatchesThePlainKeyItHashes() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-carol-hashed")])
                #expect(response.status == .ok)
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func aKnownConsumerThatIsNotAllowedGets403() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, config: Self.keys("allowed_consumers: [alice, carol]")) }) { upstream, gw in
                let refused = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-bob")])
                #expect(refused.status == .forbidden)
                #expect(refused.errorType == "forbidden")
                #expect(refused.text.contains("consumer \\\"bob\\\" is not allowed"), "\(refused.text)")
                #expect(refused.header("www-authenticate") == nil)
                #expect(upstream.requestCount == 0)

                #expect(try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-alice")]).status == .ok)
                #expect(try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-nobody")]).status == .unauthorized)
            }
        }

        @Test func theConsumerAndTenantAreRecordedInRequestMetadata() async throws {
            let echo = try FixturePlugins.fixture("metadata_echo")
            try await withProxy(.echo, yaml: { Self.yaml($0, more: ", {plugin: \(echo), config: {ns: auth, keys: \"consumer,tenant\"}}") }) { upstream, gw in
                let alice = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-alice"), ("x-auth-tenant", "forged")])
                #expect(alice.status == .ok)
                #expect(upstream.lastRequest?.header("x-auth-consumer") == "alice")
                #expect(upstream.lastRequest?.header("x-auth-tenant") == "acme")

                let bob = try await gw.send(.GET, "/", headers: [("authorization", "Bearer sk-bob"), ("x-auth-tenant", "forged")])
                #expect(bob.status == .ok)
                #expect(upstream.lastRequest?.header("x-auth-consumer") == "bob")
                #expect(upstream.lastRequest?.header("x-auth-tenant") == "forged", "bob's key has no tenant: nothing recorded")
            }
        }

        /// Plain keys are found by a seeded hash and compared in constant time; with no
        /// `sha256:` key in the config, no SHA-256 fallback runs. Every key finds its own
        /// consumer; near misses (one byte off, a prefix, one byte more) are refused.
        @Test func plainKeysFindTheirOwnConsumerAndNearMissesAreRefused() async throws {
            let echo = try FixturePlugins.fixture("metadata_echo")
            let names = (0..<40).map { "consumer\($0)" }
            let keys = names.enumerated().map { "{key: sk-live-\(String(repeating: "x", count: $0.offset))-k, consumer: \($0.element)}" }
            let config = "{keys: [\(keys.joined(separator: ", "))]}"
            let more = ", {plugin: \(echo), config: {ns: auth, keys: consumer}}"
            try await withProxy(.echo, yaml: { Self.yaml($0, config: config, more: more) }) { upstream, gw in
                for (i, name) in names.enumerated() {
                    let key = "sk-live-\(String(repeating: "x", count: i))-k"
                    let response = try await gw.send(.GET, "/", headers: [("authorization", "Bearer \(key)")])
                    #expect(response.status == .ok, "\(key): \(response.text)")
                    #expect(upstream.lastRequest?.header("x-auth-consumer") == name)
                }
                let served = upstream.requestCount
                for wrong in ["sk-live--j", "sk-live--", "sk-live--kk", "SK-live--k", "sk-live-x-k2", "sk-live-xx"] {
                    let response = try await gw.send(.GET, "/", headers: [("authorization", "Bearer \(wrong)")])
                    #expect(response.status == .unauthorized, "\(wrong)")
                    #expect(response.text.contains("invalid API key"), "\(response.text)")
                }
                #expect(upstream.requestCount == served)
            }
        }

        @Test func theConsumerIsRecordedForLaterFiltersSoEachConsumerHasItsOwnBudget() async throws {
            let limit = ", {plugin: rate_limit, config: {key: consumer, limits: [{requests: 2, per: minute}]}}"
            try await withProxy(.echo, yaml: { Self.yaml($0, more: limit) }) { upstream, gw in
                for key in ["sk-alice", "sk-bob"] {
                    for _ in 0..<2 {
                        #expect(try await gw.send(.GET, "/", headers: [("authorization", "Bearer \(key)")]).status == .ok)
                    }
                    let over = try await gw.send(.GET, "/", headers: [("authorization", "Bearer \(key)")])
                    #expect(over.status == .tooManyRequests, "\(key): \(over.text)")
                }
                #expect(upstream.requestCount == 4)
                // Unauthenticated requests are refused by auth before they count anywhere.
                #expect(try await gw.send(.GET, "/").status == .unauthorized)
            }
        }
    }
}
