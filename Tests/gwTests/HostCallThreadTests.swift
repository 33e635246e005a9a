import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// Stream calls count only from the stream's loop: a plugin thread that calls
    /// while a hook of the stream is running (so the run is in a hook) is refused.
    @Suite struct HostCallThread {
        @Test func callsFromAnotherThreadAreRefusedAndChangeNothing() async throws {
            let plugin = try FixturePlugins.fixture("other_thread")
            try await withProxy(.fixed(200, body: "ok"), yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: "[{plugin: \(plugin)}]"))
            }) { upstream, gw in
                for _ in 0..<3 {
                    let response = try await gw.send(.GET, "/a/b")
                    #expect(response.status == .ok)
                    let seen = try #require(upstream.lastRequest)
                    #expect(seen.header("x-other-thread") == "wwww")
                    #expect(seen.header("x-loop-thread") == "oooo")
                    #expect(seen.header("x-set-by-thread") == nil)
                }
            }
        }
    }
}
