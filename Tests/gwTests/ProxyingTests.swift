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

                // A client that is no trusted proxy extends x-forwarded-for but cannot choose the
                // host or scheme the upstream is told about.
                _ = try await gw.send(.GET, "/", headers: [
                    ("host", "shop.example.test"), ("x-forwarded-for", "203.0.113.9"), ("x-forwarded-host", "evil.test"),
                    ("x-forwarded-proto", "https"),
                ])
                seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"])
                #expect(seen.head.headers["x-forwarded-host"] == ["shop.example.test"])
                #expect(seen.head.headers["x-forwarded-proto"] == ["http"])
            }
        }

        /// The gateway config with one listener trusting `trusted` (a YAML flow list).
        static func trustingYAML(_ port: Int, trusted: String) -> String {
            """
            version: 1
            listeners:
              - name: main
                address: 127.0.0.1:0
                trusted_proxies: \(trusted)
            admin:
              address: 127.0.0.1:0
            upstreams:
              up:
                targets: ["127.0.0.1:\(port)"]
            routes:
            \(proxyRoutes(
                ("filtered", "/filtered/", "[{plugin: transform, config: {request: {headers: {add: {x-added: a}}}}}]"),
                ("plain", "/", "[]")))
            """
        }

        /// `trusted_proxies` is read when a connection opens: a reload applies it to the
        /// connections that open after it.
        @Test func aReloadChangesWhoIsTrustedForNewConnections() async throws {
            let sent = [("host", "gw.internal"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "shop.example.test")]
            try await withProxy(.echo, yaml: { Self.trustingYAML($0, trusted: "[10.0.0.0/8]") }) { upstream, gw in
                let kept = try await gw.client()
                #expect(try await kept.request(.GET, "/plain", headers: sent).status == .ok)
                #expect(upstream.lastRequest?.header("x-forwarded-host") == "gw.internal")

                try gw.rewriteConfig(Self.trustingYAML(upstream.port, trusted: "[127.0.0.0/8]"))
                #expect(try gw.gateway.reload() == 2)
                #expect(try await gw.send(.GET, "/plain", headers: sent).status == .ok)
                #expect(upstream.lastRequest?.header("x-forwarded-host") == "shop.example.test")
                #expect(upstream.lastRequest?.header("x-forwarded-proto") == "https")
                // The connection opened before the reload keeps what it was told.
                #expect(try await kept.request(.GET, "/plain", headers: sent).status == .ok)
                #expect(upstream.lastRequest?.header("x-forwarded-host") == "gw.internal")
                await kept.close()
            }
        }

        /// From a trusted proxy (a load balancer that terminated TLS) x-forwarded-proto and
        /// x-forwarded-host pass as sent, on every path a head takes: bytes only, lines
        /// for filters, and NIO's type when `Connection` names a field.
        @Test(arguments: [
            ("/plain", [] as [(String, String)]), ("/filtered/x", []), ("/plain", [("connection", "x-drop"), ("x-drop", "1")]),
        ])
        func aTrustedProxysForwardingHeadersAreKept(_ path: String, _ extra: [(String, String)]) async throws {
            let sent = [
                ("host", "gw.internal"), ("x-forwarded-for", "198.51.100.4"), ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "shop.example.test"), ("forwarded", "for=198.51.100.4;host=shop.example.test;proto=https"),
                ("x-forwarded-port", "443"), ("x-forwarded-prefix", "/shop"),
            ] + extra
            try await withProxy(.echo, yaml: { Self.trustingYAML($0, trusted: "[10.0.0.0/8, 127.0.0.1]") }) { upstream, gw in
                #expect(try await gw.send(.GET, path, headers: sent).status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-forwarded-proto"] == ["https"])
                #expect(seen.head.headers["x-forwarded-host"] == ["shop.example.test"])
                #expect(seen.head.headers["x-forwarded-for"] == ["198.51.100.4, 127.0.0.1"])
                #expect(seen.head.headers["forwarded"] == ["for=198.51.100.4;host=shop.example.test;proto=https"])
                #expect(seen.head.headers["x-forwarded-port"] == ["443"])
                #expect(seen.head.headers["x-forwarded-prefix"] == ["/shop"])
                #expect(seen.head.headers["x-drop"].isEmpty)

                // A trusted proxy that sends none gets gw's own.
                #expect(try await gw.send(.GET, path, headers: [("host", "gw.internal")] + extra).status == .ok)
                let own = try #require(upstream.lastRequest)
                #expect(own.head.headers["x-forwarded-proto"] == ["http"])
                #expect(own.head.headers["x-forwarded-host"] == ["gw.internal"])
            }
            // The same requests from a peer outside the list: gw's values replace the client's.
            try await withProxy(.echo, yaml: { Self.trustingYAML($0, trusted: "[10.0.0.0/8, \"::1\"]") }) { upstream, gw in
                #expect(try await gw.send(.GET, path, headers: sent).status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-forwarded-proto"] == ["http"])
                #expect(seen.head.headers["x-forwarded-host"] == ["gw.internal"])
                #expect(seen.head.headers["x-forwarded-for"] == ["198.51.100.4, 127.0.0.1"])
                // Nor does anything else that speaks for the client's scheme, host, port or prefix.
                #expect(seen.head.headers["forwarded"].isEmpty)
                #expect(seen.head.headers["x-forwarded-port"].isEmpty)
                #expect(seen.head.headers["x-forwarded-prefix"].isEmpty)
            }
        }

        /// A connection finds its listener's `trusted_proxies` by the listener's address:
        /// names may repeat (or be positional), so two listeners named alike keep their own lists.
        @Test func eachListenerKeepsItsOwnTrustedProxies() async throws {
            try await withUpstream(choosing: { _ in .echo }) { upstream in
                let yaml = """
                    version: 1
                    listeners:
                      - name: main
                        address: 127.0.0.1:0
                        trusted_proxies: [10.0.0.0/8]
                      - name: main
                        address: 127.0.0.2:0
                        trusted_proxies: ["::ffff:127.0.0.0/104"]
                    admin:
                      address: 127.0.0.1:0
                    upstreams:
                      up:
                        targets: ["127.0.0.1:\(upstream.port)"]
                    routes:
                      - name: all
                        match: {prefix: "/"}
                        upstream: up
                    """
                try await withGateway(yaml: yaml) { gw in
                    let sent = [("host", "gw.internal"), ("x-forwarded-host", "shop.example.test")]
                    let bound = gw.gateway.boundListenerAddresses()
                    #expect(bound.count == 2, "\(bound)")
                    let first = try await TestClient.connect(port: try #require(bound.first?.port), host: "127.0.0.1")
                    #expect(try await first.request(.GET, "/", headers: sent).status == .ok)
                    await first.close()
                    #expect(upstream.lastRequest?.header("x-forwarded-host") == "gw.internal")
                    let second = try await TestClient.connect(port: try #require(bound.last?.port), host: "127.0.0.2")
                    #expect(try await second.request(.GET, "/", headers: sent).status == .ok)
                    await second.close()
                    // The IPv4-mapped entry is the IPv4 range 127.0.0.0/8.
                    #expect(upstream.lastRequest?.header("x-forwarded-host") == "shop.example.test")
                }
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
