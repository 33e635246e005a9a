import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    @Suite struct Proxying {
        @Test func aGETIsProxiedToTheUpstreamAndItsAnswerReturned() async throws {
            try await withProxy(.fixed(201, body: "made it", headers: [("x-from-upstream", "yes")])) { upstream, gw in
                let response = try await gw.send(.GET, "/things/1?color=red")
                #expect(response.status == .created)
                #expect(response.text == "made it")
                #expect(response.header("x-from-upstream") == "yes")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.method == .GET)
                #expect(seen.head.uri == "/things/1?color=red")
                #expect(seen.bodyLength == 0)
            }
        }

        @Test func aPOSTBodyReachesTheUpstreamIntact() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let payload = "{\"name\":\"gw\",\"n\":42}"
                let response = try await gw.send(.POST, "/items", headers: [("content-type", "application/json")], body: .string(payload))
                #expect(response.status == .ok)
                let echo = try response.json()
                #expect(echo["method"] as? String == "POST")
                #expect(echo["body"] as? String == payload)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.bodyText == payload)
                #expect(seen.header("content-length") == String(payload.utf8.count))
                #expect(seen.header("content-type") == "application/json")
            }
        }

        @Test func aRequestIdIsGeneratedAndSentBothWays() async throws {
            try await withProxy(.echo) { upstream, gw in
                let first = try await gw.send(.GET, "/a")
                let id = try #require(first.header("x-request-id"))
                #expect(id.count == 32 && id.allSatisfy(\.isHexDigit), "id: \(id)")
                #expect(upstream.lastRequest?.header("x-request-id") == id)
                let second = try await gw.send(.GET, "/b")
                #expect(second.header("x-request-id") != id, "each request gets its own id")
            }
        }

        @Test func aClientRequestIdIsPropagated() async throws {
            try await withProxy(.echo) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: [("x-request-id", "trace-abc-123")])
                #expect(response.header("x-request-id") == "trace-abc-123")
                #expect(upstream.lastRequest?.head.headers["x-request-id"] == ["trace-abc-123"])
                // An id with spaces or control characters is replaced, not propagated.
                let bad = try await gw.send(.GET, "/", headers: [("x-request-id", "has space")])
                #expect(bad.header("x-request-id") != "has space")
                #expect(upstream.lastRequest?.header("x-request-id") == bad.header("x-request-id"))
            }
        }

        @Test func forwardingHeadersAreSet() async throws {
            try await withProxy(.echo) { upstream, gw in
                _ = try await gw.send(.GET, "/", headers: [("host", "shop.example.test:8443")])
                var seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-forwarded-for"] == ["127.0.0.1"])
                #expect(seen.header("x-forwarded-proto") == "http")
                #expect(seen.header("x-forwarded-host") == "shop.example.test:8443")
                #expect(seen.header("host") == "shop.example.test:8443", "Host is preserved by default")

                _ = try await gw.send(.GET, "/", headers: [("x-forwarded-for", "203.0.113.9"), ("x-forwarded-host", "orig.test")])
                seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"])
                #expect(seen.head.headers["x-forwarded-host"] == ["orig.test"])
            }
        }

        @Test func hopByHopHeadersAreRemovedInBothDirections() async throws {
            try await withProxy(
                .fixed(200, body: "ok", headers: [
                    ("connection", "x-upstream-hop"), ("x-upstream-hop", "1"), ("keep-alive", "timeout=5"),
                    ("proxy-connection", "keep-alive"), ("x-upstream-end-to-end", "1"),
                ])) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: [
                    ("connection", "keep-alive, X-Drop-Me"), ("x-drop-me", "1"), ("keep-alive", "timeout=5"),
                    ("te", "trailers"), ("proxy-connection", "keep-alive"), ("trailer", "x-checksum"), ("x-keep-me", "1"),
                ])
                #expect(response.status == .ok)
                let seen = try #require(upstream.lastRequest)
                for name in ["x-drop-me", "keep-alive", "te", "proxy-connection", "trailer"] {
                    #expect(seen.header(name) == nil, "\(name) reached the upstream")
                }
                #expect(seen.header("connection") != "keep-alive, X-Drop-Me")
                #expect(seen.header("x-keep-me") == "1")
                for name in ["x-upstream-hop", "keep-alive", "proxy-connection"] {
                    #expect(response.header(name) == nil, "\(name) reached the client")
                }
                #expect(response.header("connection")?.lowercased().contains("x-upstream-hop") != true)
                #expect(response.header("x-upstream-end-to-end") == "1")
            }
        }

        @Test func aForwardingHeaderNamedInConnectionIsDroppedBeforeGwAddsItsOwn() async throws {
            try await withProxy(.echo) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: [
                    ("connection", "x-forwarded-for, x-forwarded-host"), ("x-forwarded-for", "203.0.113.9"),
                    ("x-forwarded-host", "spoofed.example"), ("host", "public.example"),
                ])
                #expect(response.status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("x-forwarded-for") == "127.0.0.1", "the hop-by-hop value is gone, only the client address is left")
                #expect(seen.head.headers["x-forwarded-host"] == ["public.example"], "gw's own value replaces the dropped one")
            }
        }

        @Test func aKeepAliveClientConnectionCarriesSeveralRequestsOverReusedUpstreamConnections() async throws {
            try await withProxy(.echo) { upstream, gw in
                let client = try await gw.client()
                for i in 0..<6 {
                    let response = try await client.request(.GET, "/n/\(i)")
                    #expect(response.status == .ok)
                    #expect(response.header("connection") != "close")
                    #expect(try response.json()["uri"] as? String == "/n/\(i)")
                }
                #expect(client.isActive, "the client connection stayed open")
                await client.close()
                #expect(upstream.requestCount == 6)
                #expect(upstream.connectionCount < upstream.requestCount)
                #expect(upstream.connectionCount == 1, "one client on one loop reuses one upstream connection")
            }
        }

        @Test func aConnectionCloseRequestGetsItsAnswerAndTheConnectionCloses() async throws {
            try await withProxy(.echo) { upstream, gw in
                let client = try await gw.client()
                let response = try await client.request(.GET, "/", headers: [("connection", "close")])
                #expect(response.status == .ok)
                #expect(response.header("connection") == "close")
                #expect(await client.waitForClose())
            }
        }

        @Test func aDirectResponseRouteAnswersWithoutAnUpstream() async throws {
            let routes = """
                  - name: hello
                    match: {path: /hello}
                    direct_response: {status: 418, body: "short and stout", content_type: text/teapot}
                """
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: routes) }) { upstream, gw in
                let response = try await gw.send(.GET, "/hello")
                #expect(response.status == .imATeapot)
                #expect(response.text == "short and stout")
                #expect(response.header("content-type") == "text/teapot")
                #expect(upstream.requestCount == 0)
            }
        }

        @Test func aRewrittenPathIsWhatTheUpstreamSees() async throws {
            let routes = #"""
                  - name: users
                    match: {regex: '^/api/users/(\d+)$'}
                    upstream: up
                    rewrite: {path: /internal/user/$1}
                """#
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: routes) }) { upstream, gw in
                let response = try await gw.send(.GET, "/api/users/77?full=1")
                #expect(response.status == .ok)
                #expect(upstream.lastRequest?.head.uri == "/internal/user/77?full=1")
            }
        }
    }
}
