import Foundation
import GatewayTestSupport
import NIOHTTP1
import NIOPosix
import Testing

@testable import gw

/// A real redis-server on 127.0.0.1, started for a test and stopped after it.
final class RedisServer: @unchecked Sendable {
    let port: Int
    private let process = Process()

    init(port: Int, arguments: [String] = []) throws {
        self.port = port
        let candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw RedisMissing()
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    struct RedisMissing: Error, CustomStringConvertible {
        var description: String { "redis-server is not installed (apt-get install redis-server; scripts/setup.sh does it)" }
    }

    /// Wait until the server accepts connections.
    func ready() async throws {
        for _ in 0..<100 {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("redis-server did not start on port \(port)")
    }

    /// SIGKILL and reap (Foundation's waitUntilExit can hang inside async tests on Linux).
    func stop() {
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        kill(pid, SIGKILL)  // the test process blocks SIGTERM, and children inherit the mask
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// The ABI 1.1 shared store (shared_gcra / shared_incr) from a plain-C plugin, in
/// process and on a real redis-server shared by two gateways.
@Suite(.serialized) struct SharedStoreTests {
    static func yaml(store: String, plugin: String) -> String {
        """
        version: 1
        listeners: [{name: main, address: "127.0.0.1:0"}]
        admin: off
        \(store)
        routes:
          - name: limited
            match: {prefix: /}
            direct_response: {status: 200, body: "not reached"}
            filters: [{plugin: \(plugin)}]

        """
    }

    static func burst(_ gateways: [RunningGateway], count: Int, key: String, op: String? = nil) async throws -> [TestResponse] {
        try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for i in 0..<count {
                let gw = gateways[i % gateways.count]
                var headers = [("x-key", key)]
                if let op { headers.append(("x-op", op)) }
                group.addTask { try await gw.send(.GET, "/", headers: headers) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func inProcessTheLimitAdmitsExactlyItsBurstUnderConcurrency() async throws {
        let plugin = try FixturePlugins.fixture("shared_gcra")
        try await withGateway(yaml: Self.yaml(store: "", plugin: plugin)) { gw in
            let responses = try await Self.burst([gw], count: 16, key: "local")
            #expect(responses.filter { $0.status == .ok }.count == 5)
            #expect(responses.filter { $0.status == .tooManyRequests }.count == 11)
            #expect(responses.contains { $0.text.hasPrefix("refused wait_ms=") })
        }
    }

    @Test func twoGatewaysOnOneRedisEnforceOneLimitTogether() async throws {
        let port = try await RunCommandTests.freePort()
        let redis = try RedisServer(port: port)
        defer { redis.stop() }
        try await redis.ready()
        let plugin = try FixturePlugins.fixture("shared_gcra")
        let yaml = Self.yaml(store: "shared_store: {url: \"redis://127.0.0.1:\(port)/0\", timeout: 500ms}", plugin: plugin)
        try await withGateway(yaml: yaml) { a in
            try await withGateway(yaml: yaml) { b in
                let responses = try await Self.burst([a, b], count: 24, key: "cluster")
                let admitted = responses.filter { $0.status == .ok }
                #expect(admitted.count == 5, "5 per minute across both instances: \(responses.map(\.text))")
                #expect(responses.filter { $0.status == .tooManyRequests }.count == 19)
                // The TATs advanced on the server: the next admitted request would be 5 intervals ahead.
                let aheads = admitted.compactMap { $0.text.split(separator: "=").last.flatMap { Int($0) } }
                #expect((59_000...60_000).contains(aheads.max() ?? 0), "\(aheads)")

                let counts = try await Self.burst([a, b], count: 10, key: "counter", op: "incr")
                let values = Set(counts.compactMap { $0.text.split(separator: "=").last.flatMap { Int($0) } })
                #expect(values == Set(1...10), "every increment counted once across both instances")

                let set = try await a.send(.GET, "/", headers: [("x-key", "v"), ("x-op", "set"), ("x-value", "written by a")])
                #expect(set.text == "set")
                var got = ""
                for _ in 0..<20 where got != "got=written by a" {
                    got = try await b.send(.GET, "/", headers: [("x-key", "v"), ("x-op", "get")]).text
                }
                #expect(got == "got=written by a", "a value set on one instance is read on the other")
                let absent = try await b.send(.GET, "/", headers: [("x-key", "nothing"), ("x-op", "get")])
                #expect(absent.status == .notFound)
            }
        }
    }

    @Test func aRedisThatIsDownAnswersUnavailableAndRecoversWhenItComesBack() async throws {
        let port = try await RunCommandTests.freePort()
        let plugin = try FixturePlugins.fixture("shared_gcra")
        let yaml = Self.yaml(store: "shared_store: {url: \"redis://127.0.0.1:\(port)\", timeout: 200ms}", plugin: plugin)
        try await withGateway(yaml: yaml) { gw in
            let down = try await gw.send(.GET, "/", headers: [("x-key", "down")])
            #expect(down.status == .serviceUnavailable)
            #expect(down.text == "unavailable")
            let redis = try RedisServer(port: port)
            defer { redis.stop() }
            try await redis.ready()
            var recovered = false
            for _ in 0..<40 where !recovered {
                try await Task.sleep(for: .milliseconds(100))
                recovered = try await gw.send(.GET, "/", headers: [("x-key", "down")]).status == .ok
            }
            #expect(recovered, "a reconnect is tried once the retry interval passed")
        }
    }

    @Test func aBadSharedStoreURLIsAConfigErrorWithItsKeyPath() {
        let issues = ConfigErrorTests.parseIssues(
            """
            version: 1
            shared_store: {url: "http://127.0.0.1:6379"}

            """)
        ConfigErrorTests.expectIssue(issues, line: 2, keyPath: "shared_store.url", message: "expected redis://")
    }

    @Test func redisURLsParse() throws {
        let e = try #require(RedisClient.Endpoint(url: "redis://:s3cret@cache.internal:6380/2"))
        #expect(e.host == "cache.internal" && e.port == 6380 && e.password == "s3cret" && e.database == 2)
        let plain = try #require(RedisClient.Endpoint(url: "redis://127.0.0.1"))
        #expect(plain.port == 6379 && plain.database == 0 && plain.password == nil)
        #expect(RedisClient.Endpoint(url: "redis://host:99999") == nil)
    }
}
