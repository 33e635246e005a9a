import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// `rate_limit` with `burst`, under both algorithms: a full budget of `burst`
    /// requests at once, then the sustained rate. Every test uses its own route (the
    /// budgets live in the shared store, keyed by route).
    @Suite struct RateLimitBurst {
        static func yaml(_ upstreamPort: Int, route: String, config: String) -> String {
            gatewayYAML(upstreamPort: upstreamPort, routes: proxyRoute(name: route, filters: "[{plugin: rate_limit, config: \(config)}]"))
        }

        /// Send `count` requests one after the other on one connection.
        static func burst(_ client: TestClient, _ count: Int) async throws -> [TestResponse] {
            var responses: [TestResponse] = []
            for _ in 0..<count { responses.append(try await client.request(.GET, "/")) }
            return responses
        }

        @Test(arguments: ["gcra", "token_bucket"])
        func aBurstAboveTheRateIsAdmittedAtOnceThenTheRateRefills(_ algorithm: String) async throws {
            // 2 per second (one every 500 ms), up to 5 at once.
            let config = "{algorithm: \(algorithm), key: route, limits: [{requests: 2, per: second, burst: 5}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "burst-above-\(algorithm)", config: config) }) { upstream, gw in
                let client = try await gw.client()
                let first = try await Self.burst(client, 6)
                #expect(first.map(\.status) == [.ok, .ok, .ok, .ok, .ok, .tooManyRequests])
                #expect(first.prefix(5).map { $0.header("ratelimit-remaining") } == ["4", "3", "2", "1", "0"])
                #expect(first.allSatisfy { $0.header("ratelimit-limit") == "5" }, "the limit reported is the burst")
                // Full again 2.5 s after the last admission (five tokens at 500 ms each).
                #expect(first[4].header("ratelimit-reset") == "3")
                let refused = first[5]
                #expect(refused.header("retry-after") == "1")
                #expect(refused.errorType == "rate_limited")
                #expect(refused.text.contains("2 requests per second (burst 5)"), "\(refused.text)")

                // 600 ms later one token is back: one request, not two.
                try await Task.sleep(for: .milliseconds(600))
                #expect(try await Self.burst(client, 2).map(\.status) == [.ok, .tooManyRequests])
                // 1.1 s later two more.
                try await Task.sleep(for: .milliseconds(1100))
                #expect(try await Self.burst(client, 3).map(\.status) == [.ok, .ok, .tooManyRequests])
                #expect(upstream.requestCount == 8)
                await client.close()
            }
        }

        @Test(arguments: ["gcra", "token_bucket"])
        func aBurstBelowTheRateSmoothsTraffic(_ algorithm: String) async throws {
            // 60 per minute, but never more than 3 at once: one per second after that.
            let config = "{algorithm: \(algorithm), key: route, limits: [{requests: 60, per: minute, burst: 3}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "burst-below-\(algorithm)", config: config) }) { _, gw in
                let client = try await gw.client()
                let first = try await Self.burst(client, 4)
                #expect(first.map(\.status) == [.ok, .ok, .ok, .tooManyRequests])
                #expect(first[3].header("ratelimit-limit") == "3")
                #expect(first[3].header("retry-after") == "1")
                try await Task.sleep(for: .milliseconds(1100))
                #expect(try await Self.burst(client, 2).map(\.status) == [.ok, .tooManyRequests])
                await client.close()
            }
        }

        @Test func concurrentClientsGetExactlyTheBurstFromATokenBucket() async throws {
            let burst = 7
            let config = "{algorithm: token_bucket, key: client_ip, limits: [{requests: 1, per: hour, burst: \(burst)}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "burst-concurrent", config: config) }) { upstream, gw in
                let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                    for _ in 0..<24 { group.addTask { try await gw.send(.GET, "/").status } }
                    var all: [HTTPResponseStatus] = []
                    for try await status in group { all.append(status) }
                    return all
                }
                #expect(statuses.filter { $0 == .ok }.count == burst)
                #expect(statuses.filter { $0 == .tooManyRequests }.count == 24 - burst)
                #expect(upstream.requestCount == burst)
            }
        }

        @Test func severalLimitsUnderATokenBucketSpendNothingWhenRefused() async throws {
            let config = "{algorithm: token_bucket, key: route, limits: [{requests: 4, per: minute}, {requests: 2, per: second}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "burst-several", config: config) }) { _, gw in
                let client = try await gw.client()
                let first = try await Self.burst(client, 5)
                #expect(first.map(\.status) == [.ok, .ok, .tooManyRequests, .tooManyRequests, .tooManyRequests])
                #expect(first[0].header("ratelimit-limit") == "2")
                #expect(first[2].header("ratelimit-limit") == "2")
                try await Task.sleep(for: .milliseconds(1100))
                // The refused requests did not spend the minute's tokens: two more pass.
                let second = try await Self.burst(client, 3)
                #expect(second.map(\.status) == [.ok, .ok, .tooManyRequests])
                #expect(second[1].header("ratelimit-limit") == "4")
                #expect(second[1].header("ratelimit-remaining") == "0")
                #expect(second[2].header("ratelimit-limit") == "4")
                let retry = try #require(second[2].header("retry-after").flatMap { Int($0) })
                #expect(retry > 5 && retry <= 15, "one token per 15 s: retry-after \(retry)")
                await client.close()
            }
        }

        @Test func badAlgorithmsAndBurstsAreNamed() async throws {
            let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "rate_limit", config: """
                algorithm: leaky_bucket
                limits:
                  - {requests: 5, per: second, burst: 0}
                  - {requests: 5, per: second, burst: 2.5}
                  - {requests: 5, per: second, burst: "10"}
                  - {requests: 1, per: day, burst: 1000000}
                """)
            BuiltinPluginConfigTests.expectMessages(issue, [
                "algorithm: expected gcra or token_bucket, got \"leaky_bucket\"",
                "limits[0].burst: must be between 1 and 1000000, got 0",
                "limits[1].burst: expected an integer, got a number",
                "limits[2].burst: expected an integer, got a string",
                "limits[3].burst: a burst of 1000000 at 1 per day takes more than a year to refill",
            ])
        }
    }
}
