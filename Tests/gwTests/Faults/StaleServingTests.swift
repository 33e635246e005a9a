import GatewayTestSupport
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// Every host down: a route with the cache's stale_if_error answers with the stale
    /// entry (gw's own 503 passes through the response filters); without one, the
    /// client gets 503 no_healthy_upstream.
    @Suite struct StaleServing {
        static let route = """
            filters:
              - plugin: cache
                config: {default_ttl: 1, stale_if_error: 60}
            """

        @Test func everyHostDownServesTheStaleEntryAndOtherwiseAClear503() async throws {
            try await Faults.withUpstreams(2) { ups in
                try await withGateway(yaml: Faults.yaml(ups, upstream: "connect_timeout: 200ms\nmax_idle_per_loop: 0", route: Self.route)) { gw in
                    let fresh = try await gw.send(.GET, "/cached")
                    #expect(fresh.status == .ok && fresh.header("x-cache") == "MISS")
                    try await Task.sleep(for: .milliseconds(1100))
                    for up in ups { await up.set(.refuse) }

                    let stale = try await gw.send(.GET, "/cached")
                    #expect(stale.status == .ok, "the stale entry instead of 503")
                    #expect(stale.header("x-cache") == "STALE")
                    #expect(stale.text == fresh.text)

                    let uncached = try await gw.send(.GET, "/never-cached")
                    #expect(uncached.status == .serviceUnavailable)
                    #expect(uncached.header("x-gw-error") == "no_healthy_upstream")
                    #expect(uncached.header("retry-after") != nil)
                    #expect(uncached.text.contains("\"type\":\"no_healthy_upstream\""))

                    for up in ups { await up.set(.healthy) }
                    let recovered = try await Faults.eventually { try await gw.send(.GET, "/cached").header("x-cache") != "STALE" }
                    #expect(recovered != nil, "fresh answers again once a host is back")
                }
            }
        }
    }
}
