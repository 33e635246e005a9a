import Foundation
import GatewayTestSupport
import NIOHTTP1
import Testing

@testable import gw

/// The cache filter's `backend: shared` (libgw_cache.so on the host's shared store):
/// two gateways on one real redis-server share entries; the in-process shared store
/// serves a single instance. Every test uses its own zone.
@Suite(.serialized) struct CacheSharedBackendTests {
    static func yaml(_ upstreamPort: Int, zone: String, config: String, redisPort: Int?) -> String {
        let store = redisPort.map { "shared_store: {url: \"redis://127.0.0.1:\($0)\", timeout: 200ms}\n" } ?? ""
        return gatewayYAML(
            upstreamPort: upstreamPort,
            routes: proxyRoute(name: zone, filters: "[{plugin: cache, config: {zone: \(zone), backend: shared, \(config)}}]"))
            + "\n" + store
    }

    /// A redis-server, an upstream and two gateways A and B on both.
    static func withCluster(
        zone: String, config: String = "max_ttl: 1h",
        choosing: @escaping @Sendable (HTTPRequestHead) -> TestUpstream.Behaviour = { _ in
            .fixed(200, body: "shared body", headers: [("content-type", "text/plain"), ("cache-control", "max-age=60")])
        },
        _ body: (Redis, TestUpstream, RunningGateway, RunningGateway) async throws -> Void
    ) async throws {
        let port = try await RunCommandTests.freePort()
        let server = try RedisServer(port: port)
        defer { server.stop() }
        try await server.ready()
        let redis = Redis(port: port, zone: zone)
        try await withUpstream(choosing: choosing) { upstream async throws in
            let yaml = Self.yaml(upstream.port, zone: zone, config: config, redisPort: port)
            try await withGateway(yaml: yaml) { a in
                try await withGateway(yaml: yaml) { b in try await body(redis, upstream, a, b) }
            }
        }
    }

    /// redis-cli against the test's server, for what the gateways wrote.
    struct Redis {
        let port: Int
        let zone: String

        func run(_ args: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            process.arguments = ["-p", String(port)] + args
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            var status: Int32 = 0
            waitpid(process.processIdentifier, &status, 0)
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// The zone's keys (the host prefixes "gw:value:" and the plugin's name).
        func keys() throws -> Set<String> {
            Set(try run(["--scan", "--pattern", "gw:value:cache:\(zone):*"]).split(separator: "\n").map(String.init))
        }

        /// Wait until the zone holds a key not in `known` (the writes are fire-and-forget).
        func newKey(besides known: Set<String>) async throws -> String {
            for _ in 0..<100 {
                if let key = try keys().subtracting(known).first { return key }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("no new key in zone \(zone)")
            return ""
        }

        /// Rewrite the value under `key` on the server (Lua), keeping its TTL.
        @discardableResult
        func corrupt(_ key: String, _ mode: String, _ argument: Int = 0) throws -> String {
            let script = """
                local v = redis.call('GET', KEYS[1])
                local m = ARGV[1]
                if m == 'garbage' then v = 'garbage'
                elseif m == 'truncate' then v = string.sub(v, 1, tonumber(ARGV[2]))
                elseif m == 'append' then v = v .. 'x'
                elseif m == 'version' then v = string.sub(v, 1, 3) .. '\\002' .. string.sub(v, 5)
                elseif m == 'kind' then v = string.sub(v, 1, 4) .. '\\009' .. string.sub(v, 6)
                elseif m == 'headers' then v = string.sub(v, 1, 39) .. '\\255\\255' .. string.sub(v, 42)
                elseif m == 'status' then v = string.sub(v, 1, 5) .. '\\000\\000' .. string.sub(v, 8)
                end
                redis.call('SET', KEYS[1], v, 'KEEPTTL')
                return #v
                """
            return try run(["EVAL", script, "1", key, mode, String(argument)])
        }
    }

    @Test func aResponseCachedThroughOneGatewayIsAHitOnTheOther() async throws {
        try await Self.withCluster(zone: "cs-hit") { redis, upstream, a, b in
            let first = try await a.send(.GET, "/item?x=1")
            #expect(first.header("x-cache") == "MISS")
            #expect(first.text == "shared body")
            let key = try await redis.newKey(besides: [])
            #expect(key.count == "gw:value:cache:cs-hit:".count + 64)
            let ttl = Int(try redis.run(["PTTL", key])) ?? 0
            #expect((58_000...60_000).contains(ttl), "TTL = freshness: \(ttl)")

            let second = try await b.send(.GET, "/item?x=1")
            #expect(second.header("x-cache") == "HIT")
            #expect(second.text == "shared body")
            #expect(second.header("content-type") == "text/plain")
            #expect(second.header("content-length") == "11")
            #expect(second.header("age").flatMap { Int($0) }.map { (0...1).contains($0) } == true)
            #expect(try await a.send(.GET, "/item?x=1").header("x-cache") == "HIT")
            #expect(try await b.send(.HEAD, "/item?x=1").header("x-cache") == "HIT")
            #expect(upstream.requestCount == 1)

            // Another query, another entry.
            #expect(try await b.send(.GET, "/item?x=2").header("x-cache") == "MISS")
            #expect(upstream.requestCount == 2)
        }
    }

    @Test func entriesExpireInRedisAfterTheirLifetime() async throws {
        try await Self.withCluster(zone: "cs-ttl", config: "default_ttl: 300ms", choosing: { _ in .echo }) { redis, upstream, a, b in
            #expect(try await a.send(.GET, "/t").header("x-cache") == "MISS")
            _ = try await redis.newKey(besides: [])
            #expect(try await b.send(.GET, "/t").header("x-cache") == "HIT")
            try await Task.sleep(for: .milliseconds(400))
            #expect(try redis.keys().isEmpty, "Redis dropped it (PX)")
            #expect(try await b.send(.GET, "/t").header("x-cache") == "MISS")
            #expect(upstream.requestCount == 2)
        }
    }

    @Test func varyVariantsAreSharedPerVariant() async throws {
        let choose: @Sendable (HTTPRequestHead) -> TestUpstream.Behaviour = { head in
            let language = head.headers["accept-language"].first ?? "none"
            return .fixed(200, body: "lang=\(language)", headers: [("cache-control", "max-age=60"), ("vary", "Accept-Language")])
        }
        try await Self.withCluster(zone: "cs-vary", choosing: choose) { redis, upstream, a, b in
            let en = [("accept-language", "en")]
            let fr = [("accept-language", "fr")]
            #expect(try await a.send(.GET, "/v", headers: en).header("x-cache") == "MISS")
            let first = try await redis.newKey(besides: [])
            _ = try await redis.newKey(besides: [first])  // marker and variant
            let hit = try await b.send(.GET, "/v", headers: en)
            #expect(hit.header("x-cache") == "HIT")
            #expect(hit.text == "lang=en")
            let miss = try await b.send(.GET, "/v", headers: fr)
            #expect(miss.header("x-cache") == "MISS")
            #expect(miss.text == "lang=fr")
            var known = try redis.keys()
            for _ in 0..<100 where known.count < 3 {
                try await Task.sleep(for: .milliseconds(10))
                known = try redis.keys()
            }
            #expect(known.count == 3, "one marker, two variants")
            let frHit = try await a.send(.GET, "/v", headers: fr)
            #expect(frHit.header("x-cache") == "HIT")
            #expect(frHit.text == "lang=fr")
            #expect(try await a.send(.GET, "/v", headers: en).text == "lang=en")
            #expect(try await a.send(.GET, "/v").header("x-cache") == "MISS", "no Accept-Language is a third variant")
            #expect(upstream.requestCount == 3)
        }
    }

    @Test func anExpiredEntryStoredByOneGatewayAnswersTheOthersUpstreamError() async throws {
        let choose: @Sendable (HTTPRequestHead) -> TestUpstream.Behaviour = { head in
            head.headers["x-fail"].isEmpty
                ? .fixed(200, body: "good", headers: [("cache-control", "max-age=1")]) : .fixed(503, body: "down")
        }
        try await Self.withCluster(zone: "cs-stale", config: "stale_if_error: 60", choosing: choose) { redis, upstream, a, b in
            #expect(try await a.send(.GET, "/s").header("x-cache") == "MISS")
            let key = try await redis.newKey(besides: [])
            let ttl = Int(try redis.run(["PTTL", key])) ?? 0
            #expect((59_000...61_000).contains(ttl), "TTL = freshness + stale_if_error: \(ttl)")
            try await Task.sleep(for: .milliseconds(1100))
            let stale = try await b.send(.GET, "/s", headers: [("x-fail", "1")])
            #expect(stale.status == .ok)
            #expect(stale.header("x-cache") == "STALE")
            #expect(stale.text == "good")
            #expect(upstream.requestCount == 2)
        }
    }

    @Test func anUnsafeMethodOnOneGatewayInvalidatesTheEntryForTheOther() async throws {
        try await Self.withCluster(zone: "cs-inval") { redis, upstream, a, b in
            #expect(try await a.send(.GET, "/doc").header("x-cache") == "MISS")
            let key = try await redis.newKey(besides: [])
            #expect(try await b.send(.GET, "/doc").header("x-cache") == "HIT")
            #expect(try await b.send(.DELETE, "/doc").header("x-cache") == "BYPASS")
            for _ in 0..<100 where try redis.run(["EXISTS", key]) == "1" { try await Task.sleep(for: .milliseconds(10)) }
            #expect(try await a.send(.GET, "/doc").header("x-cache") == "MISS")
            #expect(upstream.requestCount == 3)
        }
    }

    /// Values that are not a well-formed version-1 record are misses; the response is
    /// fetched and stored again.
    @Test func corruptOrForeignValuesInRedisAreMisses() async throws {
        try await Self.withCluster(zone: "cs-corrupt") { redis, upstream, a, b in
            let cases: [(String, Int)] = [
                ("garbage", 0), ("truncate", 0), ("truncate", 3), ("truncate", 5), ("truncate", 30), ("truncate", 45), ("truncate", -2),
                ("append", 0), ("version", 0), ("kind", 0), ("headers", 0), ("status", 0),
            ]
            var known: Set<String> = []
            var garbageKey = ""
            for (i, (mode, argument)) in cases.enumerated() {
                #expect(try await a.send(.GET, "/c\(i)").header("x-cache") == "MISS")
                let key = try await redis.newKey(besides: known)
                known.insert(key)
                if i == 0 { garbageKey = key }
                try redis.corrupt(key, mode, argument)
                let response = try await b.send(.GET, "/c\(i)")
                #expect(response.status == .ok, "\(mode) \(argument)")
                #expect(response.header("x-cache") == "MISS", "\(mode) \(argument)")
                #expect(response.text == "shared body")
            }
            #expect(upstream.requestCount == 2 * cases.count)
            // The miss stored a good record again.
            var label = ""
            for _ in 0..<50 where label != "HIT" {
                try await Task.sleep(for: .milliseconds(10))
                if try redis.run(["STRLEN", garbageKey]) != "7" { label = try await a.send(.GET, "/c0").header("x-cache") ?? "" }
            }
            #expect(label == "HIT")
        }
    }

    @Test func whenRedisIsDownRequestsGoUpstreamWithoutWaitingLong() async throws {
        let port = try await RunCommandTests.freePort()  // nothing listens there
        try await withUpstream(.fixed(200, body: "up", headers: [("cache-control", "max-age=60")])) { upstream async throws in
            try await withGateway(yaml: Self.yaml(upstream.port, zone: "cs-down", config: "max_ttl: 1h", redisPort: port)) { gw async throws in
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<3 {
                    let response = try await gw.send(.GET, "/d")
                    #expect(response.status == .ok)
                    #expect(response.text == "up")
                    #expect(response.header("x-cache") == "MISS")
                }
                let post = try await gw.send(.POST, "/d", body: .bytes(Array("x".utf8)))
                #expect(post.header("x-cache") == "BYPASS")
                #expect(upstream.requestCount == 4)
                #expect(clock.now - start < .seconds(3), "each lookup waits at most the store's timeout")
            }
        }
    }

    @Test func withoutSharedStoreTheInProcessStoreServesOneInstance() async throws {
        try await withUpstream(.fixed(200, body: "local", headers: [("cache-control", "max-age=60"), ("vary", "x-v")])) { upstream async throws in
            try await withGateway(yaml: Self.yaml(upstream.port, zone: "cs-local", config: "max_ttl: 1h", redisPort: nil)) { gw async throws in
                #expect(try await gw.send(.GET, "/l", headers: [("x-v", "1")]).header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/l", headers: [("x-v", "1")]).header("x-cache") == "HIT")
                #expect(try await gw.send(.GET, "/l", headers: [("x-v", "2")]).header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/l", headers: [("x-v", "2")]).text == "local")
                #expect(try await gw.send(.PUT, "/l", body: .bytes(Array("x".utf8))).header("x-cache") == "BYPASS")
                #expect(try await gw.send(.GET, "/l", headers: [("x-v", "1")]).header("x-cache") == "MISS")
                #expect(upstream.requestCount == 4)
            }
        }
    }

    @Test func concurrentMissesOnOneInstanceAreCollapsed() async throws {
        let slow = TestUpstream.Behaviour.delayed(
            .milliseconds(200), .fixed(200, body: "slow", headers: [("cache-control", "max-age=60")]))
        try await Self.withCluster(zone: "cs-collapse", choosing: { _ in slow }) { _, upstream, a, _ in
            let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<5 { group.addTask { try await a.send(.GET, "/slow") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(responses.allSatisfy { $0.text == "slow" })
            #expect(responses.filter { $0.header("x-cache") == "MISS" }.count == 1)
            #expect(responses.filter { $0.header("x-cache") == "HIT" }.count == 4)
            #expect(upstream.requestCount == 1)
        }
    }

    @Test func configErrors() async throws {
        let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "cache", config: """
            backend: redis
            """)
        BuiltinPluginConfigTests.expectMessages(issue, ["backend: expected memory or shared, got \"redis\""])
        let big = try await BuiltinPluginConfigTests.configIssue(plugin: "cache", config: """
            backend: shared
            max_bytes: 1GiB
            max_object_bytes: 64MiB
            """)
        BuiltinPluginConfigTests.expectMessages(big, ["max_object_bytes: must not exceed 32MiB with backend: shared"])
    }
}
