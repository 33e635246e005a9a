import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

extension EndToEnd {
    /// The built-in `cache` filter (libgw_cache.so) through a running gateway. Zones are
    /// process-wide, so every test uses its own zone and route.
    @Suite struct CachePlugin {
        static func yaml(_ upstreamPort: Int, route: String, config: String) -> String {
            gatewayYAML(
                upstreamPort: upstreamPort,
                routes: proxyRoute(name: route, filters: "[{plugin: cache, config: {zone: \(route), \(config)}}]"))
        }

        static func fixed(_ cacheControl: String, body: String = "cached body", extra: [(String, String)] = []) -> TestUpstream.Behaviour {
            .fixed(200, body: body, headers: [("content-type", "text/plain"), ("cache-control", cacheControl)] + extra)
        }

        @Test func aRepeatedGetIsAnsweredFromTheCacheWithAgeAndHit() async throws {
            try await withProxy(Self.fixed("max-age=60"), yaml: { Self.yaml($0, route: "c-hit", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                let first = try await gw.send(.GET, "/item?x=1")
                #expect(first.status == .ok)
                #expect(first.header("x-cache") == "MISS")
                #expect(first.header("age") == nil)
                let second = try await gw.send(.GET, "/item?x=1")
                #expect(second.status == .ok)
                #expect(second.header("x-cache") == "HIT")
                #expect(second.text == "cached body")
                #expect(second.header("content-type") == "text/plain")
                #expect(second.header("cache-control") == "max-age=60")
                #expect(second.header("content-length") == "11")
                #expect(second.header("age").flatMap { Int($0) }.map { (0...1).contains($0) } == true)
                #expect(second.header("x-request-id") != first.header("x-request-id"))
                #expect(upstream.requestCount == 1)

                // Another query, another entry.
                #expect(try await gw.send(.GET, "/item?x=2").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func aHeadIsAnsweredFromTheGetEntryAndAHeadMissIsNotStored() async throws {
            try await withProxy(Self.fixed("max-age=60"), yaml: { Self.yaml($0, route: "c-head", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                let client = try await gw.client()
                let headMiss = try await client.request(.HEAD, "/h")
                #expect(headMiss.header("x-cache") == "MISS")
                #expect(try await client.request(.GET, "/h").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 2, "the HEAD's answer has no body to store")
                let head = try await client.request(.HEAD, "/h")
                #expect(head.status == .ok)
                #expect(head.header("x-cache") == "HIT")
                #expect(head.header("content-length") == "11")
                #expect(head.bodyLength == 0)
                // The connection still works: the HEAD answer carried no body bytes.
                #expect(try await client.request(.GET, "/h").text == "cached body")
                #expect(upstream.requestCount == 2)
                await client.close()
            }
        }

        @Test func theDefaultTTLAppliesWhenTheResponseGivesNoneAndEntriesExpire() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "c-ttl", config: "default_ttl: 300ms") }) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/t").header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/t").header("x-cache") == "HIT")
                try await Task.sleep(for: .milliseconds(400))
                #expect(try await gw.send(.GET, "/t").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func withoutADefaultTTLAResponseWithoutFreshnessIsNotStored() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "c-nottl", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/n").header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/n").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func maxAgeExpiresAfterItsSeconds() async throws {
            try await withProxy(Self.fixed("max-age=1"), yaml: { Self.yaml($0, route: "c-maxage", config: "default_ttl: 60") }) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/m").header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/m").header("x-cache") == "HIT")
                try await Task.sleep(for: .milliseconds(1100))
                #expect(try await gw.send(.GET, "/m").header("x-cache") == "MISS", "max-age=1 wins over default_ttl 60")
                #expect(upstream.requestCount == 2)
            }
        }

        /// Cache-Control values that forbid storing (or give no positive lifetime).
        @Test(arguments: [
            "no-store", "private, max-age=60", "no-cache, max-age=60", "max-age=0", "max-age=60, s-maxage=0",
            "max-age=abc", "max-age=-5", "max-age=\"", "s-maxage=", "max-age=60, max-age=0",
        ])
        func responsesThatForbidStoringAreNotStored(cacheControl: String) async throws {
            let route = "c-forbid-\(abs(cacheControl.hashValue) % 100_000)"
            try await withProxy(Self.fixed(cacheControl), yaml: { Self.yaml($0, route: route, config: "default_ttl: 60") }) { (upstream, gw) async throws in
                for _ in 0..<2 {
                    let response = try await gw.send(.GET, "/f")
                    #expect(response.status == .ok)
                    #expect(response.header("x-cache") == "MISS")
                    #expect(response.text == "cached body")
                }
                #expect(upstream.requestCount == 2, "\(cacheControl)")
            }
        }

        /// Values that allow storing, including garbage around a valid directive.
        @Test(arguments: [
            "max-age=0, s-maxage=60", "public, max-age=60", "MAX-AGE=60", "max-age=\"60\"", ",, ,max-age=60,,=,foo=\"a,b\"",
            "max-age=99999999999999999999999",
        ])
        func responsesThatAllowStoringAreStored(cacheControl: String) async throws {
            let route = "c-allow-\(abs(cacheControl.hashValue) % 100_000)"
            try await withProxy(Self.fixed(cacheControl), yaml: { Self.yaml($0, route: route, config: "max_ttl: 1h") }) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/a").header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/a").header("x-cache") == "HIT", "\(cacheControl)")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func expiresIsHonouredWhenThereIsNoMaxAge() async throws {
            let upstreamBehaviour = TestUpstream.Behaviour.fixed(
                200, body: "e",
                headers: [("date", "Sun, 06 Nov 1994 08:49:37 GMT"), ("expires", "Sun, 06 Nov 1994 08:50:37 GMT")])
            try await withProxy(upstreamBehaviour, yaml: { Self.yaml($0, route: "c-expires", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/e").header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/e").header("x-cache") == "HIT")
                #expect(upstream.requestCount == 1)
            }
            let expired = TestUpstream.Behaviour.fixed(200, body: "e", headers: [("expires", "0")])
            try await withProxy(expired, yaml: { Self.yaml($0, route: "c-expired", config: "default_ttl: 60") }) { (upstream, gw) async throws in
                _ = try await gw.send(.GET, "/e")
                #expect(try await gw.send(.GET, "/e").header("x-cache") == "MISS", "an invalid Expires means already expired")
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func requestNoCacheBypassesAndRefreshesButNoStoreDoesNotStore() async throws {
            let counter = Atomic<Int>(0)
            try await withProxy(
                choosing: { _ in Self.fixed("max-age=60", body: "v\(counter.add(1, ordering: .relaxed).newValue)") },
                yaml: { Self.yaml($0, route: "c-reqcc", config: "max_bytes: 1MiB") }
            ) { (upstream, gw) async throws in
                #expect(try await gw.send(.GET, "/r", headers: [("cache-control", "no-store")]).header("x-cache") == "BYPASS")
                #expect(try await gw.send(.GET, "/r").header("x-cache") == "MISS", "no-store stored nothing")
                let refreshed = try await gw.send(.GET, "/r", headers: [("cache-control", "no-cache")])
                #expect(refreshed.header("x-cache") == "BYPASS")
                #expect(refreshed.text == "v3")
                let hit = try await gw.send(.GET, "/r")
                #expect(hit.header("x-cache") == "HIT")
                #expect(hit.text == "v3", "the no-cache request refreshed the entry")
                #expect(upstream.requestCount == 3)
            }
            try await withProxy(
                Self.fixed("max-age=60"), yaml: { Self.yaml($0, route: "c-reqcc-ignore", config: "request_cache_control: ignore") }
            ) { (upstream, gw) async throws in
                _ = try await gw.send(.GET, "/r")
                #expect(try await gw.send(.GET, "/r", headers: [("cache-control", "no-cache")]).header("x-cache") == "HIT")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func varyKeepsOneEntryPerValueAndVaryStarIsNeverStored() async throws {
            try await withProxy(
                choosing: { head in
                    let language = head.headers.first(name: "accept-language") ?? "none"
                    let vary = head.uri == "/star" ? "*" : "Accept-Language"
                    return Self.fixed("max-age=60", body: "lang=\(language)", extra: [("vary", vary)])
                },
                yaml: { Self.yaml($0, route: "c-vary", config: "max_bytes: 1MiB") }
            ) { (upstream, gw) async throws in
                for language in ["en", "fr"] {
                    let response = try await gw.send(.GET, "/v", headers: [("accept-language", language)])
                    #expect(response.header("x-cache") == "MISS")
                }
                for language in ["en", "fr", "en"] {
                    let response = try await gw.send(.GET, "/v", headers: [("accept-language", language)])
                    #expect(response.header("x-cache") == "HIT")
                    #expect(response.text == "lang=\(language)")
                }
                let none = try await gw.send(.GET, "/v")
                #expect(none.header("x-cache") == "MISS")
                #expect(none.text == "lang=none")
                #expect(try await gw.send(.GET, "/v").text == "lang=none")
                #expect(upstream.requestCount == 3)

                for _ in 0..<2 { #expect(try await gw.send(.GET, "/star").header("x-cache") == "MISS") }
                #expect(upstream.requestCount == 5)
            }
        }

        @Test func postIsCachedOnlyWhenEnabledAndKeyedByItsBody() async throws {
            try await withProxy(.echo(includeBody: true), yaml: { Self.yaml($0, route: "c-post", config: "default_ttl: 60, cache_post: true") }) {
                (upstream, gw) async throws in
                let a = #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
                let b = #"{"model":"m","messages":[{"role":"user","content":"bye"}]}"#
                // The echo names the request id, so a stored answer repeats the first one word for word.
                let miss = try await gw.send(.POST, "/v1/chat", body: .string(a))
                #expect(miss.header("x-cache") == "MISS")
                let hit = try await gw.send(.POST, "/v1/chat", body: .string(a))
                #expect(hit.header("x-cache") == "HIT")
                #expect(hit.text == miss.text)
                let other = try await gw.send(.POST, "/v1/chat", body: .string(b))
                #expect(other.header("x-cache") == "MISS")
                #expect(other.text.contains("bye") && other.text != miss.text)
                #expect(try await gw.send(.POST, "/v1/chat", body: .string(b)).header("x-cache") == "HIT")
                // GET on the same URI is a different entry.
                #expect(try await gw.send(.GET, "/v1/chat").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 3)
            }
            try await withProxy(.echo, yaml: { Self.yaml($0, route: "c-post-off", config: "default_ttl: 60") }) { (upstream, gw) async throws in
                for _ in 0..<2 {
                    #expect(try await gw.send(.POST, "/v1/chat", body: .string("{}")).header("x-cache") == "BYPASS")
                }
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func behindAuthOnlyAuthenticatedRequestsReachTheCache() async throws {
            let filters = "[{plugin: auth, config: {keys: [{key: sk-a, consumer: alice}]}}, {plugin: cache, config: {zone: c-auth-chain, default_ttl: 60}}]"
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(name: "c-auth-chain", filters: filters)) }) {
                (upstream, gw) async throws in
                let key = [("authorization", "Bearer sk-a")]
                #expect(try await gw.send(.GET, "/p", headers: key).header("x-cache") == "MISS")
                #expect(try await gw.send(.GET, "/p").status == .unauthorized, "a hit is never served past auth")
                // auth removed the credential before the cache ran, so the entry is shared by every consumer.
                let hit = try await gw.send(.GET, "/p", headers: key)
                #expect(hit.header("x-cache") == "HIT")
                #expect(!hit.text.contains("sk-a"))
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func aSuccessfulUnsafeMethodInvalidatesTheEntry() async throws {
            try await withProxy(Self.fixed("max-age=60"), yaml: { Self.yaml($0, route: "c-inval", config: "max_bytes: 1MiB") }) { (upstream, gw) async throws in
                _ = try await gw.send(.GET, "/doc")
                #expect(try await gw.send(.GET, "/doc").header("x-cache") == "HIT")
                #expect(try await gw.send(.DELETE, "/doc").header("x-cache") == "BYPASS")
                #expect(try await gw.send(.GET, "/doc").header("x-cache") == "MISS")
                #expect(upstream.requestCount == 3)
            }
        }
    }
}

extension BuiltinPluginConfigTests {
    @Test func cacheNamesEveryBadKey() async throws {
        let issue = try await Self.configIssue(plugin: "cache", config: """
            max_bytes: lots
            max_object_bytes: 0
            default_ttl: -1
            max_ttl: "1y"
            stale_if_error: true
            statuses: [200, 99, "x"]
            methods: [GET, PUT]
            cache_post: "yes"
            key_headers: ["bad header"]
            header: ""
            collapse_timeout: 0ms
            request_cache_control: maybe
            colour: red
            """)
        Self.expectMessages(issue, [
            "colour: unknown key (expected one of: backend, cache_authorized, cache_post, cache_set_cookie, collapse, collapse_timeout, default_ttl, expires, header, key_headers, max_bytes, max_key_bytes, max_object_bytes, max_request_body_bytes, max_ttl, methods, request_cache_control, stale_if_error, statuses, zone)",
            "max_bytes: expected a size such as 1048576 or \"1MiB\", got a string",
            "max_object_bytes: must be between 1 and 1099511627776, got 0",
            "default_ttl: expected a duration such as 30 (seconds), \"500ms\", \"5m\" or \"1h\" up to 365 days, got a number",
            "max_ttl: expected a duration such as 30 (seconds), \"500ms\", \"5m\" or \"1h\" up to 365 days, got a string",
            "stale_if_error: expected a duration such as 30 (seconds), \"500ms\", \"5m\" or \"1h\" up to 365 days, got a boolean",
            "statuses[1]: must be between 200 and 599, got 99",
            "statuses[2]: expected an integer, got a string",
            "methods[1]: expected GET, HEAD or POST, got \"PUT\"",
            "cache_post: expected true or false, got a string",
            "key_headers[0]: \"bad header\" is not a valid header name",
            "header: must not be empty",
            "collapse_timeout: must be between 1ms and 10m",
            "request_cache_control: expected honor or ignore, got \"maybe\"",
        ])
    }

    @Test func cacheRefusesAnObjectBoundAboveTheZoneBound() async throws {
        let issue = try await Self.configIssue(plugin: "cache", config: """
            max_bytes: 64KiB
            max_object_bytes: 1MiB
            default_ttl: 2d
            max_ttl: 1d
            """)
        Self.expectMessages(issue, [
            "max_object_bytes: must not exceed max_bytes (65536)", "default_ttl: must not exceed max_ttl",
        ])
    }
}
