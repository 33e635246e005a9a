import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

extension EndToEnd {
    /// Rewriting the config file and reloading swaps routes, chains and upstreams whole.
    @Suite struct Reload {
        static func yaml(upstreamPort: Int, version: String, prefix: String = "/") -> String {
            gatewayYAML(upstreamPort: upstreamPort, routes: """
                  - name: versioned
                    match: {path: /version}
                    direct_response: {status: 200, body: "\(version)"}
                  - name: proxied
                    match: {prefix: "\(prefix)"}
                    upstream: up
                """)
        }

        @Test func aReloadThroughTheAdminEndpointChangesRouting() async throws {
            try await withProxy(.echo, yaml: { Self.yaml(upstreamPort: $0, version: "one", prefix: "/old/") }) { upstream, gw in
                #expect(try await gw.send(.GET, "/version").text == "one")
                #expect(try await gw.send(.GET, "/old/a").status == .ok)
                #expect(try await gw.send(.GET, "/new/a").status == .notFound)

                try gw.rewriteConfig(Self.yaml(upstreamPort: upstream.port, version: "two", prefix: "/new/"))
                let reload = try await gw.admin(.POST, "/admin/reload")
                #expect(reload.status == .ok)
                #expect(try reload.json()["version"] as? Int == 2)

                #expect(try await gw.send(.GET, "/version").text == "two")
                #expect(try await gw.send(.GET, "/new/a").status == .ok)
                #expect(try await gw.send(.GET, "/old/a").status == .notFound)
                let config = try await gw.admin(.GET, "/admin/config")
                #expect(try config.json()["version"] as? Int == 2)
            }
        }

        @Test func aKeepAliveConnectionSeesTheNewConfigOnItsNextRequest() async throws {
            try await withProxy(.echo, yaml: { Self.yaml(upstreamPort: $0, version: "one") }) { upstream, gw in
                let client = try await gw.client()
                #expect(try await client.request(.GET, "/version").text == "one")
                try gw.rewriteConfig(Self.yaml(upstreamPort: upstream.port, version: "two"))
                #expect(try gw.gateway.reload() == 2)
                #expect(try await client.request(.GET, "/version").text == "two")
                await client.close()
            }
        }

        @Test func aBadConfigIsRefusedWith400AndTheOldConfigKeepsServing() async throws {
            try await withProxy(.echo, yaml: { Self.yaml(upstreamPort: $0, version: "one") }) { _, gw in
                try gw.rewriteConfig("""
                    version: 1
                    listeners:
                      - name: main
                        address: 127.0.0.1:0
                    routes:
                      - name: broken
                        upstream: nowhere
                        colour: blue
                    """)
                let reload = try await gw.admin(.POST, "/admin/reload")
                #expect(reload.status == .badRequest)
                #expect(reload.errorType == "invalid_config")
                let message = ((try reload.json()["error"] as? [String: Any])?["message"] as? String) ?? ""
                #expect(message.contains("\(gw.configPath):8: routes[0].colour: unknown key"), "message: \(message)")
                #expect(message.contains("unknown upstream \"nowhere\""), "every problem is reported: \(message)")

                #expect(try await gw.send(.GET, "/version").text == "one")
                #expect(try await gw.send(.GET, "/anything").status == .ok)
                let config = try await gw.admin(.GET, "/admin/config")
                #expect(try config.json()["version"] as? Int == 1)
            }
        }

        @Test func aPluginConfigRejectedOnReloadIsRefusedAndTheOldChainKeepsServing() async throws {
            let c = try FixturePlugins.cSample()
            let reject = try FixturePlugins.fixture("reject_config")
            let good = { (port: Int) in
                gatewayYAML(upstreamPort: port, routes: proxyRoute(filters: "[{plugin: \(c), config: {response_value: v1}}]"))
            }
            try await withProxy(.echo, yaml: good) { upstream, gw in
                #expect(try await gw.send(.GET, "/").header("x-sample-c") == "v1")
                try gw.rewriteConfig(gatewayYAML(upstreamPort: upstream.port, routes: proxyRoute(
                    filters: "[{plugin: \(c), config: {response_value: v2}}, {plugin: \(reject), config: {limit: 0}}]")))
                let reload = try await gw.admin(.POST, "/admin/reload")
                #expect(reload.status == .badRequest)
                #expect(reload.text.contains("limit must be a positive integer"))
                #expect(try await gw.send(.GET, "/").header("x-sample-c") == "v1")
            }
        }

        @Test func reloadsUnderLoadFailNoRequest() async throws {
            let c = try FixturePlugins.cSample()
            let config: @Sendable (Int, String) -> String = { port, value in
                gatewayYAML(upstreamPort: port, routes: proxyRoute(filters: "[{plugin: \(c), config: {response_value: \(value)}}]"))
            }
            try await withProxy(.echo, yaml: { config($0, "v0") }) { upstream, gw in
                let stop = StopFlag()
                let results = try await withThrowingTaskGroup(of: (ok: Int, failed: [String], values: Set<String>).self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            var ok = 0
                            var failed: [String] = []
                            var values = Set<String>()
                            let client = try await TestClient.connect(port: gw.port)
                            while !stop.isSet {
                                do {
                                    let response = try await client.request(.POST, "/load", body: .string("payload"), timeout: .seconds(5))
                                    if response.status == .ok, let value = response.header("x-sample-c") {
                                        ok += 1
                                        values.insert(value)
                                    } else {
                                        failed.append("\(response.status.code) \(response.text)")
                                    }
                                } catch {
                                    failed.append("\(error)")
                                    break
                                }
                            }
                            await client.close()
                            return (ok, failed, values)
                        }
                    }
                    group.addTask {
                        var refused: [String] = []
                        for i in 1...5 {
                            try await Task.sleep(for: .milliseconds(250))
                            try gw.rewriteConfig(config(upstream.port, "v\(i)"))
                            let reload = try await gw.admin(.POST, "/admin/reload")
                            if reload.status != .ok { refused.append("reload \(i): \(reload.status.code) \(reload.text)") }
                        }
                        try await Task.sleep(for: .milliseconds(250))
                        stop.set()
                        return (0, refused, [])
                    }
                    var all: [(ok: Int, failed: [String], values: Set<String>)] = []
                    for try await result in group { all.append(result) }
                    return all
                }
                let ok = results.reduce(0) { $0 + $1.ok }
                let failed = results.flatMap(\.failed)
                let values = results.reduce(into: Set<String>()) { $0.formUnion($1.values) }
                #expect(failed.isEmpty, "failed requests: \(failed.prefix(5))")
                #expect(ok > 40, "only \(ok) requests completed")
                #expect(values.count >= 3, "the chains of several configs served: \(values.sorted())")
                #expect(values.contains("v5"))
                #expect(gw.gateway.currentState().version == 6)
            }
        }
    }

    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .relaxed) }
        func set() { flag.store(true, ordering: .relaxed) }
    }

    @Suite struct Admin {
        @Test func upstreamsListEachTargetWithItsRequestsAndLastFailure() async throws {
            try await withUpstream(.fixed(500, body: "broken")) { failing in
                let closed = try await RunCommandTests.freePort()
                let yaml = { (port: Int) in
                    """
                    listeners:
                      - name: main
                        address: 127.0.0.1:0
                    admin:
                      address: 127.0.0.1:0
                    upstreams:
                      up:
                        targets: ["127.0.0.1:\(port)", "127.0.0.1:\(closed)", "127.0.0.1:\(failing.port)"]
                    routes:
                    \(proxyRoute())
                    """
                }
                try await withProxy(.echo, yaml: yaml) { live, gw in
                    for _ in 0..<6 { _ = try await gw.send(.GET, "/") }
                    let answer = try await gw.admin(.GET, "/admin/upstreams")
                    #expect(answer.status == .ok)
                    let upstream = try #require((try answer.json()["upstreams"] as? [[String: Any]])?.first)
                    #expect(upstream["name"] as? String == "up")
                    let targets = try #require(upstream["targets"] as? [[String: Any]])
                    func target(_ port: Int) throws -> [String: Any] {
                        try #require(targets.first { $0["address"] as? String == "127.0.0.1:\(port)" })
                    }
                    #expect(try target(live.port)["requests"] as? Int ?? 0 >= 2)
                    let down = try target(closed)
                    #expect(down["connect_failures"] as? Int ?? 0 >= 1)
                    #expect((down["last_failure"] as? [String: Any])?["type"] as? String == "connect_failed")
                    let erroring = try target(failing.port)
                    #expect(erroring["responses_5xx"] as? Int ?? 0 >= 1)
                    #expect((erroring["last_failure"] as? [String: Any])?["type"] as? String == "http_5xx")
                    #expect(try target(live.port)["last_failure"] is NSNull)
                }
            }
        }

        @Test func healthReadyPluginsConfigAndMetricsAnswer() async throws {
            let c = try FixturePlugins.cSample()
            let abi = try FixturePlugins.fixture("abi_v1_0")
            let routes = proxyRoute(name: "api", prefix: "/api/", filters: "[{plugin: \(c), name: greeter}, {plugin: \(abi)}]")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: routes) }) { _, gw in
                let health = try await gw.admin(.GET, "/health")
                #expect(health.status == .ok)
                #expect(try health.json()["status"] as? String == "ok")

                let ready = try await gw.admin(.GET, "/ready")
                #expect(ready.status == .ok)
                #expect(try ready.json()["status"] as? String == "ready")

                let plugins = try await gw.admin(.GET, "/admin/plugins")
                #expect(plugins.status == .ok)
                let list = try #require(try plugins.json()["plugins"] as? [[String: Any]])
                #expect(list.compactMap { $0["name"] as? String }.sorted() == ["fixture_abi_v1_0", "sample_c"])
                let sample = try #require(list.first { $0["name"] as? String == "sample_c" })
                #expect(sample["path"] as? String == c)
                #expect(sample["abi"] as? String == "1.2", "built against the current header")
                let old = try #require(list.first { $0["name"] as? String == "fixture_abi_v1_0" })
                #expect(old["abi"] as? String == "1.0", "a plugin built against ABI 1.0 still loads")
                #expect((sample["hooks"] as? [String])?.contains("on_request_headers") == true)

                let config = try await gw.admin(.GET, "/admin/config")
                let json = try config.json()
                #expect(json["version"] as? Int == 1)
                #expect(json["source"] as? String == gw.configPath)
                let route = try #require((json["routes"] as? [[String: Any]])?.first)
                #expect(route["name"] as? String == "api")
                #expect(route["filters"] as? [String] == ["greeter", "fixture_abi_v1_0"])

                let metrics = try await gw.admin(.GET, "/metrics")
                #expect(metrics.status == .ok)
                #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)

                let unknown = try await gw.admin(.GET, "/admin/nothing")
                #expect(unknown.status == .notFound)
                #expect(unknown.errorType == "not_found")
            }
        }
    }
}
