import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

extension EndToEnd {
    /// The cache filter's bounds and concurrency: byte-bounded LRU, oversized objects
    /// streaming through, collapsed misses, stale-if-error, hostile input.
    @Suite struct CachePluginBounds {
        static func yaml(_ upstreamPort: Int, route: String, config: String) -> String {
            CachePlugin.yaml(upstreamPort, route: route, config: config)
        }

        @Test func theLeastRecentlyUsedEntryIsEvictedUnderTheByteBound() async throws {
            // Each entry costs about 1.3 KiB (1000-byte body, headers, overhead): three fit in 4 KiB.
            let body = String(repeating: "x", count: 1000)
            try await withProxy(
                CachePlugin.fixed("max-age=60", body: body),
                yaml: { Self.yaml($0, route: "c-lru", config: "max_bytes: 4096, max_object_bytes: 2000") }
            ) { (upstream, gw) async throws in
                for name in ["a", "b", "c"] { #expect(try await gw.send(.GET, "/\(name)").header("x-cache") == "MISS") }
                #expect(try await gw.send(.GET, "/a").header("x-cache") == "HIT", "a is now the most recent")
                #expect(try await gw.send(.GET, "/d").header("x-cache") == "MISS", "d evicts b, the least recent")
                for name in ["a", "c", "d"] {
                    let response = try await gw.send(.GET, "/\(name)")
                    #expect(response.header("x-cache") == "HIT", "\(name)")
                    #expect(response.text == body)
                }
                #expect(try await gw.send(.GET, "/b").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 5)
            }
        }

        @Test func aResponseLargerThanTheObjectBoundStreamsThroughUncached() async throws {
            let size = 300_000
            try await withProxy(
                .download(bytes: size), yaml: { Self.yaml($0, route: "c-big", config: "default_ttl: 60, max_object_bytes: 64KiB") }
            ) { (upstream, gw) async throws in
                for _ in 0..<2 {
                    let response = try await gw.send(.GET, "/big")
                    #expect(response.status == .ok)
                    #expect(response.header("x-cache") == "MISS")
                    #expect(response.bodyLength == size)
                    #expect(response.bodyIsPattern)
                    #expect(response.header("content-length") == "\(size)")
                }
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func aChunkedResponseIsStoredWhileSmallAndAbandonedOnceItOutgrowsTheBound() async throws {
            try await withProxy(
                choosing: { head in .chunks(count: head.uri == "/small" ? 5 : 40, delay: .milliseconds(2)) },
                yaml: { Self.yaml($0, route: "c-chunks", config: "default_ttl: 60, max_object_bytes: 100") }
            ) { (upstream, gw) async throws in
                let expected = (0..<5).map { "chunk-\($0)\n" }.joined()
                let small = try await gw.send(.GET, "/small")
                #expect(small.text == expected)
                #expect(small.bodyParts.count > 1, "forwarded as it came, not buffered")
                let hit = try await gw.send(.GET, "/small")
                #expect(hit.header("x-cache") == "HIT")
                #expect(hit.text == expected)

                let large = (0..<40).map { "chunk-\($0)\n" }.joined()
                for _ in 0..<2 {
                    let response = try await gw.send(.GET, "/large")
                    #expect(response.header("x-cache") == "MISS")
                    #expect(response.text == large)
                }
                #expect(upstream.requestCount == 3)
            }
        }

        @Test func concurrentMissesForOneKeyCollapseIntoOneUpstreamRequest() async throws {
            let clients = 12
            try await withProxy(
                .delayed(.milliseconds(300), CachePlugin.fixed("max-age=60", body: "slow answer")),
                yaml: { Self.yaml($0, route: "c-collapse", config: "max_bytes: 1MiB") }
            ) { (upstream, gw) async throws in
                let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    for _ in 0..<clients { group.addTask { try await gw.send(.GET, "/slow") } }
                    var all: [TestResponse] = []
                    for try await response in group { all.append(response) }
                    return all
                }
                #expect(upstream.requestCount == 1)
                #expect(responses.allSatisfy { $0.status == .ok && $0.text == "slow answer" })
                #expect(responses.filter { $0.header("x-cache") == "MISS" }.count == 1)
                #expect(responses.filter { $0.header("x-cache") == "HIT" }.count == clients - 1)
            }
        }

        @Test func waitersGoUpstreamThemselvesWhenTheLeadersResponseIsNotStorable() async throws {
            try await withProxy(
                .delayed(.milliseconds(200), CachePlugin.fixed("no-store", body: "private")),
                yaml: { Self.yaml($0, route: "c-collapse-nostore", config: "max_bytes: 1MiB") }
            ) { (upstream, gw) async throws in
                let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                    for _ in 0..<4 { group.addTask { try await gw.send(.GET, "/p").status } }
                    var all: [HTTPResponseStatus] = []
                    for try await status in group { all.append(status) }
                    return all
                }
                #expect(statuses == Array(repeating: .ok, count: 4))
                #expect(upstream.requestCount == 4)
            }
        }

        @Test func waitersGiveUpAfterTheCollapseTimeout() async throws {
            try await withProxy(
                .delayed(.milliseconds(500), CachePlugin.fixed("max-age=60")),
                yaml: { Self.yaml($0, route: "c-collapse-timeout", config: "collapse_timeout: 50ms") }
            ) { (upstream, gw) async throws in
                let start = NIODeadline.now()
                let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    for _ in 0..<3 { group.addTask { try await gw.send(.GET, "/t") } }
                    var all: [TestResponse] = []
                    for try await response in group { all.append(response) }
                    return all
                }
                #expect(responses.allSatisfy { $0.status == .ok && $0.header("x-cache") == "MISS" })
                #expect(upstream.requestCount == 3)
                #expect(NIODeadline.now() - start < .milliseconds(900), "the waiters did not wait for the leader")
            }
        }

        @Test func anUpstreamErrorIsAnsweredWithTheStaleEntryWithinStaleIfError() async throws {
            let failing = Atomic<Bool>(false)
            let choose: @Sendable (HTTPRequestHead) -> TestUpstream.Behaviour = { head in
                if failing.load(ordering: .relaxed) { return .fixed(503, body: "down") }
                let cacheControl = head.uri == "/strict" ? "max-age=1, must-revalidate" : "max-age=1"
                return CachePlugin.fixed(cacheControl, body: "good")
            }
            try await withProxy(choosing: choose, yaml: { Self.yaml($0, route: "c-stale", config: "stale_if_error: 60") }) { (upstream, gw) async throws in
                for path in ["/s", "/strict"] { #expect(try await gw.send(.GET, path).header("x-cache") == "MISS") }
                try await Task.sleep(for: .milliseconds(1100))
                failing.store(true, ordering: .relaxed)
                let stale = try await gw.send(.GET, "/s")
                #expect(stale.status == .ok)
                #expect(stale.text == "good")
                #expect(stale.header("x-cache") == "STALE")
                #expect(stale.header("age").flatMap { Int($0) }.map { $0 >= 1 } == true)
                let strict = try await gw.send(.GET, "/strict")
                #expect(strict.status == .serviceUnavailable, "must-revalidate forbids a stale answer")
                #expect(strict.header("x-cache") == "MISS")
                #expect(upstream.requestCount == 4)
            }
            // Without stale_if_error the error goes through.
            failing.store(false, ordering: .relaxed)
            try await withProxy(choosing: choose, yaml: { Self.yaml($0, route: "c-nostale", config: "max_bytes: 1MiB") }) { (_, gw) async throws in
                _ = try await gw.send(.GET, "/s")
                try await Task.sleep(for: .milliseconds(1100))
                failing.store(true, ordering: .relaxed)
                #expect(try await gw.send(.GET, "/s").status == .serviceUnavailable)
            }
        }

        @Test func authorizationAndSetCookieAreNotCachedUnlessConfigured() async throws {
            let behaviour = CachePlugin.fixed("max-age=60", extra: [("set-cookie", "session=abc")])
            try await withProxy(CachePlugin.fixed("max-age=60"), yaml: { Self.yaml($0, route: "c-auth", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                for _ in 0..<2 {
                    #expect(try await gw.send(.GET, "/u", headers: [("authorization", "Bearer x")]).header("x-cache") == "BYPASS")
                }
                #expect(upstream.requestCount == 2)
            }
            try await withProxy(CachePlugin.fixed("max-age=60"), yaml: { Self.yaml($0, route: "c-auth-on", config: "cache_authorized: true, key_headers: [authorization]") }) {
                (upstream, gw) async throws in
                _ = try await gw.send(.GET, "/u", headers: [("authorization", "Bearer x")])
                #expect(try await gw.send(.GET, "/u", headers: [("authorization", "Bearer x")]).header("x-cache") == "HIT")
                #expect(try await gw.send(.GET, "/u", headers: [("authorization", "Bearer y")]).header("x-cache") == "MISS")
                #expect(upstream.requestCount == 2)
            }
            try await withProxy(behaviour, yaml: { Self.yaml($0, route: "c-cookie", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                for _ in 0..<2 { #expect(try await gw.send(.GET, "/k").header("set-cookie") == "session=abc") }
                #expect(upstream.requestCount == 2)
            }
            try await withProxy(behaviour, yaml: { Self.yaml($0, route: "c-cookie-on", config: "cache_set_cookie: true") }) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/k").header("set-cookie") == "session=abc")
                let hit = try await gw.send(.GET, "/k")
                #expect(hit.header("x-cache") == "HIT")
                #expect(hit.header("set-cookie") == nil, "one client's cookie is never handed to another")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func onlyConfiguredStatusesAreStoredAndTheHeaderNameIsConfigurable() async throws {
            try await withProxy(
                choosing: { head in .fixed(head.uri == "/gone" ? 404 : 500, body: "x", headers: [("cache-control", "max-age=60")]) },
                yaml: { Self.yaml($0, route: "c-status", config: "header: X-Edge-Cache") }
            ) { (upstream, gw) async throws in
                for _ in 0..<2 { _ = try await gw.send(.GET, "/gone") }
                for _ in 0..<2 { _ = try await gw.send(.GET, "/error") }
                let hit = try await gw.send(.GET, "/gone")
                #expect(hit.status == .notFound)
                #expect(hit.header("x-edge-cache") == "HIT")
                #expect(hit.header("x-cache") == nil)
                #expect(upstream.requestCount == 3, "404 stored by default, 500 never")
            }
            try await withProxy(.fixed(404, body: "x", headers: [("cache-control", "max-age=60")]), yaml: { Self.yaml($0, route: "c-status-200", config: "statuses: [200]") }) {
                (upstream, gw) async throws in
                for _ in 0..<2 { _ = try await gw.send(.GET, "/gone") }
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func hostileInputBypassesTheCacheOrIsIgnoredAndNeverBreaksIt() async throws {
            try await withProxy(
                choosing: { head in
                    let vary: String? =
                        switch head.uri {
                        case "/vary": "Accept"
                        case "/badvary": "accept, b@d"
                        case "/manyvary": (0..<40).map { "x-h\($0)" }.joined(separator: ", ")
                        default: nil
                        }
                    return CachePlugin.fixed("max-age=60", body: "ok", extra: vary.map { [("vary", $0)] } ?? [])
                },
                yaml: { Self.yaml($0, route: "c-hostile", config: "max_key_bytes: 1024") }
            ) { (upstream, gw) async throws in
                // A URI longer than max_key_bytes is not cached at all.
                let long = "/" + String(repeating: "a", count: 3000)
                for _ in 0..<2 { #expect(try await gw.send(.GET, long).header("x-cache") == "BYPASS") }
                #expect(upstream.requestCount == 2)

                // A Vary'd request header whose value makes the key too long bypasses; others still hit.
                #expect(try await gw.send(.GET, "/vary").header("x-cache") == "MISS")
                let huge = [("accept", String(repeating: "b", count: 2000))]
                for _ in 0..<2 { #expect(try await gw.send(.GET, "/vary", headers: huge).header("x-cache") == "BYPASS") }
                #expect(try await gw.send(.GET, "/vary").header("x-cache") == "HIT")
                #expect(upstream.requestCount == 5)

                // Vary naming a non-token, or too many headers: never stored.
                for path in ["/badvary", "/manyvary"] {
                    for _ in 0..<2 { #expect(try await gw.send(.GET, path).header("x-cache") == "MISS") }
                }
                #expect(upstream.requestCount == 9)

                // Garbage in a request's Cache-Control: an unparsable max-age counts as 0 (no-cache).
                #expect(try await gw.send(.GET, "/plain").header("x-cache") == "MISS")
                let cases: [(String, String)] = [
                    ("max-age=\"", "BYPASS"), (",,,=,", "HIT"), ("no-cache=\"unterminated", "BYPASS"),
                    (String(repeating: "max-age=1,", count: 300), "HIT"), ("max-age=99999999999999999999999", "HIT"),
                ]
                for (value, label) in cases {
                    let response = try await gw.send(.GET, "/plain", headers: [("cache-control", value)])
                    #expect(response.status == .ok)
                    #expect(response.header("x-cache") == label, "\(value.prefix(40))")
                }
                #expect(upstream.requestCount == 12)
            }
        }
    }
}
