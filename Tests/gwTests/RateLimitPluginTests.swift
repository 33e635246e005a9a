import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// The built-in `rate_limit` filter (libgw_rate_limit.so). Buckets live in the
    /// plugin's process-wide table and are keyed by route name, so every test uses its own route.
    @Suite struct RateLimitPlugin {
        static func yaml(_ upstreamPort: Int, route: String, config: String) -> String {
            gatewayYAML(upstreamPort: upstreamPort, routes: proxyRoute(name: route, filters: "[{plugin: rate_limit, config: \(config)}]"))
        }

        @Test func concurrentClientsAgainstALimitAdmitExactlyTheLimit() async throws {
            let limit = 7
            let clients = 24
            let config = "{key: client_ip, limits: [{requests: \(limit), per: minute}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "rl-exact", config: config) }) { upstream, gw in
                let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    for _ in 0..<clients { group.addTask { try await gw.send(.GET, "/") } }
                    var all: [TestResponse] = []
                    for try await response in group { all.append(response) }
                    return all
                }
                let admitted = responses.filter { $0.status == .ok }
                let refused = responses.filter { $0.status == .tooManyRequests }
                #expect(admitted.count == limit)
                #expect(refused.count == clients - limit)
                #expect(upstream.requestCount == limit)

                // Every admitted response says how many remain: each value once.
                let remaining = admitted.compactMap { $0.header("ratelimit-remaining").flatMap { Int($0) } }.sorted()
                #expect(remaining == Array(0..<limit))
                #expect(admitted.allSatisfy { $0.header("ratelimit-limit") == "\(limit)" })
                #expect(admitted.allSatisfy { (1...60).contains($0.header("ratelimit-reset").flatMap { Int($0) } ?? 0) })

                for response in refused {
                    #expect(response.errorType == "rate_limited")
                    #expect(response.text.contains("\(limit) requests per minute"))
                    // One request comes back every 60/7 s: the first retry is due in at most 9 s.
                    let retry = try #require(response.header("retry-after").flatMap { Int($0) })
                    #expect(retry >= 1 && retry <= 9, "retry-after \(retry)")
                    #expect(response.header("ratelimit-limit") == "\(limit)")
                    #expect(response.header("ratelimit-remaining") == "0")
                    #expect((50...60).contains(response.header("ratelimit-reset").flatMap { Int($0) } ?? 0))
                }
            }
        }

        @Test func separateKeysHaveSeparateBudgets() async throws {
            let config = "{key: \"header:X-Client\", limits: [{requests: 2, per: minute}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "rl-keys", config: config) }) { upstream, gw in
                for client in ["a", "b"] {
                    let statuses = try await (0..<3).asyncMap { _ in try await gw.send(.GET, "/", headers: [("x-client", client)]).status }
                    #expect(statuses == [.ok, .ok, .tooManyRequests], "client \(client)")
                }
                // Without the header the client IP is the key: a third budget.
                #expect(try await gw.send(.GET, "/").status == .ok)
                #expect(upstream.requestCount == 5)
            }
        }

        /// The limiter reuses the last bucket key it built while route and keyed part
        /// are the same bytes: consumers taking turns, consumer names of one length, and
        /// one consumer on two routes still each spend their own budget.
        @Test func keysTakingTurnsEachSpendTheirOwnBudget() async throws {
            let filters =
                "[{plugin: auth, config: {header: x-api-key, keys: [{key: key-one, consumer: c-1}, {key: key-two, consumer: c-2}]}},"
                + " {plugin: rate_limit, config: {key: consumer, limits: [{requests: 2, per: minute}]}}]"
            let yaml = { (port: Int) in
                gatewayYAML(
                    upstreamPort: port,
                    routes: proxyRoutes(("rl-turns-a", "/a/", filters), ("rl-turns-b", "/b/", filters)))
            }
            try await withProxy(.echo, yaml: yaml) { _, gw in
                let client = try await gw.client()
                var statuses: [String: [UInt]] = [:]
                for _ in 0..<3 {
                    for (path, key) in [("/a/", "key-one"), ("/a/", "key-two"), ("/b/", "key-one")] {
                        let status = try await client.request(.GET, path, headers: [("x-api-key", key)]).status
                        statuses[path + key, default: []].append(status.code)
                    }
                }
                #expect(statuses == ["/a/key-one": [200, 200, 429], "/a/key-two": [200, 200, 429], "/b/key-one": [200, 200, 429]])
            }
        }

        /// A reload keeps the budgets of unchanged limits (a reload is no way to reset a
        /// client's budget), and a changed limit starts afresh.
        @Test func aReloadKeepsUnchangedBudgetsAndStartsChangedOnesAfresh() async throws {
            let config = { (n: Int) in "{key: route, limits: [{requests: \(n), per: minute}]}" }
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "rl-reload", config: config(2)) }) { upstream, gw in
                let client = try await gw.client()
                var statuses: [UInt] = []
                for _ in 0..<2 { statuses.append(try await client.request(.GET, "/").status.code) }
                try gw.rewriteConfig(Self.yaml(upstream.port, route: "rl-reload", config: config(2)))
                #expect(try gw.gateway.reload() == 2)
                statuses.append(try await client.request(.GET, "/").status.code)
                #expect(statuses == [200, 200, 429], "unchanged limit: the spent budget is kept")

                try gw.rewriteConfig(Self.yaml(upstream.port, route: "rl-reload", config: config(3)))
                #expect(try gw.gateway.reload() == 3)
                statuses = []
                for _ in 0..<4 { statuses.append(try await client.request(.GET, "/").status.code) }
                #expect(statuses == [200, 200, 200, 429], "changed limit: a new budget")
                await client.close()
            }
        }

        @Test func aPerSecondLimitComesBackAfterASecond() async throws {
            let config = "{key: route, limits: [{requests: 3, per: second}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "rl-second", config: config) }) { _, gw in
                let client = try await gw.client()
                var statuses: [HTTPResponseStatus] = []
                for _ in 0..<4 { statuses.append(try await client.request(.GET, "/").status) }
                #expect(statuses == [.ok, .ok, .ok, .tooManyRequests])
                try await Task.sleep(for: .milliseconds(1100))
                statuses = []
                for _ in 0..<4 { statuses.append(try await client.request(.GET, "/").status) }
                #expect(statuses == [.ok, .ok, .ok, .tooManyRequests])
                let refused = try await client.request(.GET, "/")
                #expect(refused.header("retry-after") == "1")
                await client.close()
            }
        }

        @Test func aRefusedRequestSpendsNothingAndTheTightestLimitIsReported() async throws {
            let config = "{key: route, limits: [{requests: 4, per: minute}, {requests: 2, per: second}]}"
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "rl-several", config: config) }) { _, gw in
                let first = try await gw.send(.GET, "/")
                // 4/minute leaves 3, 2/second leaves 1: the per-second limit is the tightest.
                #expect(first.header("ratelimit-limit") == "2")
                #expect(first.header("ratelimit-remaining") == "1")
                #expect(try await gw.send(.GET, "/").status == .ok)
                for _ in 0..<3 {
                    let refused = try await gw.send(.GET, "/")
                    #expect(refused.status == .tooManyRequests)
                    #expect(refused.header("ratelimit-limit") == "2")
                }
                try await Task.sleep(for: .milliseconds(1100))
                // The three refused requests did not count against 4/minute: two more pass.
                #expect(try await gw.send(.GET, "/").status == .ok)
                let last = try await gw.send(.GET, "/")
                #expect(last.status == .ok)
                #expect(last.header("ratelimit-limit") == "4", "both have 0 left; the minute resets later")
                #expect(last.header("ratelimit-remaining") == "0")
                let refused = try await gw.send(.GET, "/")
                #expect(refused.status == .tooManyRequests)
                #expect(refused.header("ratelimit-limit") == "4")
                let retry = try #require(refused.header("retry-after").flatMap { Int($0) })
                #expect(retry > 5 && retry <= 15, "one request per 15 s comes back: retry-after \(retry)")
            }
        }
    }
}

extension Sequence {
    /// `map` with an async transform, in order.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
