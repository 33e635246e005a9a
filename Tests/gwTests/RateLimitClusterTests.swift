import GatewayTestSupport
import NIOHTTP1
import Testing

@testable import gw

/// rate_limit with `store: shared`: several gateways on one real redis-server enforce
/// one limit; when Redis is away, `on_store_unavailable` decides.
@Suite(.serialized) struct RateLimitClusterTests {
    static func yaml(upstreamPort: Int, redisPort: Int, extra: String = "") -> String {
        gatewayYAML(
            upstreamPort: upstreamPort,
            routes: proxyRoute(
                filters: "[{plugin: rate_limit, config: {store: shared, key: route, limits: [{requests: 10, per: minute}]\(extra)}}]"))
            + "\nshared_store: {url: \"redis://127.0.0.1:\(redisPort)\", timeout: 300ms}\n"
    }

    @Test func twoGatewaysAdmitNoMoreThanTheLimitTogether() async throws {
        let redisPort = try await RunCommandTests.freePort()
        let redis = try RedisServer(port: redisPort)
        defer { redis.stop() }
        try await redis.ready()
        try await withUpstream(choosing: { _ in .echo }) { upstream in
            let yaml = Self.yaml(upstreamPort: upstream.port, redisPort: redisPort)
            try await withGateway(yaml: yaml) { a in
                try await withGateway(yaml: yaml) { b in
                    let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                        for i in 0..<40 {
                            let gw = i % 2 == 0 ? a : b
                            group.addTask { try await gw.send(.GET, "/") }
                        }
                        return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
                    }
                    let admitted = responses.filter { $0.status == .ok }
                    #expect(admitted.count == 10, "tolerance 0: the script decides atomically on the server")
                    #expect(responses.filter { $0.status == .tooManyRequests }.count == 30)
                    #expect(upstream.requestCount == 10)
                    #expect(admitted.allSatisfy { $0.header("ratelimit-limit") == "10" })
                    #expect(Set(admitted.compactMap { $0.header("ratelimit-remaining") }).contains("0"))
                    let refused = try #require(responses.first { $0.status == .tooManyRequests })
                    #expect(Int(refused.header("retry-after") ?? "") ?? 0 >= 1)
                }
            }
        }
    }

    @Test(arguments: [("local", 3, HTTPResponseStatus.tooManyRequests), ("allow", 5, .ok), ("deny", 0, .serviceUnavailable)])
    func whenRedisIsDownTheConfiguredFallbackDecides(mode: String, admitted: Int, other: HTTPResponseStatus) async throws {
        let deadPort = try await RunCommandTests.freePort()
        try await withUpstream(choosing: { _ in .echo }) { upstream in
            let yaml = gatewayYAML(
                upstreamPort: upstream.port,
                routes: proxyRoute(
                    filters: "[{plugin: rate_limit, config: {store: shared, on_store_unavailable: \(mode), key: route, limits: [{requests: 3, per: minute}]}}]"))
                + "\nshared_store: {url: \"redis://127.0.0.1:\(deadPort)\", timeout: 100ms}\n"
            try await withGateway(yaml: yaml) { gw in
                var statuses: [HTTPResponseStatus] = []
                for _ in 0..<5 { statuses.append(try await gw.send(.GET, "/").status) }
                #expect(statuses.filter { $0 == .ok }.count == admitted, "\(statuses)")
                #expect(statuses.filter { $0 != .ok }.allSatisfy { $0 == other }, "\(statuses)")
            }
        }
    }

    @Test func sharedNeedsGCRA() async throws {
        let (_, issues) = try await ConfigErrorTests.buildIssues(
            gatewayYAML(
                upstreamPort: 9,
                routes: proxyRoute(filters: "[{plugin: rate_limit, config: {store: shared, algorithm: token_bucket, limits: [{requests: 1, per: second}]}}]")))
        #expect(issues.contains { $0.message.contains("store: shared needs algorithm: gcra") })
    }
}
