import GatewayTestSupport
import NIOCore
import NIOHTTP1
import PluginHost
import Testing

@testable import gw

extension EndToEnd {
    /// A route without filters writes the upstream head from the received bytes
    /// (`ReceivedRequestHead.writeUpstreamHead`); a route with filters builds it with
    /// NIO's header type (`Exchange.prepareUpstreamHead`). The upstream must see the
    /// same request from both.
    @Suite struct UpstreamHead {
        static func yaml(_ upstreamPort: Int, hostHeader: String) -> String {
            gatewayYAML(
                upstreamPort: upstreamPort, upstreamExtra: "host_header: \(hostHeader)",
                routes: proxyRoutes(
                    ("plain", "/plain/", "[]"),
                    ("filtered", "/filtered/", "[{plugin: transform, config: {request: {headers: {set: {x-via-filter: yes}}}}}]")))
        }

        /// The upstream's view of a request: its fields without the per-request id and
        /// the filter's mark, names lowercased, in order within each name.
        static func view(_ request: TestUpstream.Request) -> [String: [String]] {
            var fields: [String: [String]] = [:]
            for (name, value) in request.head.headers where name.lowercased() != "x-request-id" && name.lowercased() != "x-via-filter" {
                fields[name.lowercased(), default: []].append(value)
            }
            return fields
        }

        struct Case: Sendable {
            var method: HTTPMethod = .GET
            var path: String
            var headers: [(String, String)]
            var body: RequestBody = .none
        }

        static let cases: [Case] = [
            Case(path: "a?x=1", headers: [("host", "shop.example.test:8443"), ("x-custom", "1"), ("X-Custom", "2"), ("accept", "*/*")]),
            Case(path: "b", headers: [
                ("host", "h.test"), ("x-forwarded-for", "203.0.113.9"), ("X-Forwarded-For", "198.51.100.7, 10.0.0.1"),
                ("x-forwarded-proto", "https"), ("x-forwarded-host", "orig.test"), ("x-request-id", "trace-1"),
            ]),
            Case(path: "c", headers: [
                ("host", "h.test"), ("connection", "keep-alive, upgrade"), ("keep-alive", "timeout=5"), ("te", "trailers"),
                ("proxy-connection", "keep-alive"), ("trailer", "x-sum"), ("upgrade", "websocket"), ("proxy-authenticate", "x"),
                ("x-end-to-end", "kept"),
            ]),
            // `Connection` names another field: both routes take NIO's type here.
            Case(path: "d", headers: [("host", "h.test"), ("connection", "x-drop"), ("x-drop", "1"), ("x-keep", "1")]),
            Case(method: .POST, path: "e", headers: [("host", "h.test"), ("content-type", "application/json")], body: .bytes(Array("{\"a\":1}".utf8))),
            Case(method: .POST, path: "f", headers: [("host", "h.test")], body: .chunked(["one", "two"], delay: .milliseconds(1))),
            Case(method: .PUT, path: "g", headers: [("host", "h.test"), ("expect", "100-continue")], body: .bytes(Array("put body".utf8))),
            Case(method: .DELETE, path: "h", headers: [("host", "h.test"), ("expect", "something-else")]),
            Case(path: "i", headers: [("x-no-host", "1")]),
            // Long values and a method without a name of its own in the writers: heads
            // are written into memory reserved once from a bound (`HeadWriter`).
            Case(method: .RAW(value: "PURGE"), path: "j/" + String(repeating: "p", count: 2000), headers: [
                ("host", String(repeating: "h", count: 900) + ".test"), ("x-forwarded-for", String(repeating: "1.2.3.4, ", count: 400) + "5.6.7.8"),
                ("x-request-id", String(repeating: "r", count: 128)), ("x-long", String(repeating: "v", count: 3000)),
            ]),
        ]

        @Test(arguments: ["preserve", "target", "fixed.example:9000"])
        func aPlainRouteSendsTheSameHeadAsAFilteredOne(hostHeader: String) async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, hostHeader: hostHeader) }) { upstream, gw in
                for item in Self.cases {
                    let plain = try await gw.send(item.method, "/plain/" + item.path, headers: item.headers, body: item.body)
                    #expect(plain.status == .ok, "\(item.path)")
                    let viaPlain = try #require(upstream.lastRequest)
                    let filtered = try await gw.send(item.method, "/filtered/" + item.path, headers: item.headers, body: item.body)
                    #expect(filtered.status == .ok, "\(item.path)")
                    let viaFilter = try #require(upstream.lastRequest)
                    #expect(viaFilter.header("x-via-filter") == "yes", "the filtered route ran its filter")
                    #expect(Self.view(viaPlain) == Self.view(viaFilter), "\(item.method) \(item.path)")
                    #expect(viaPlain.head.method == item.method)
                    #expect(viaPlain.head.uri == "/plain/" + item.path)
                    #expect(viaPlain.bodyText == viaFilter.bodyText)
                    #expect(viaPlain.header("x-request-id") == plain.header("x-request-id"))
                }
            }
        }

        /// Header rules read the received bytes (`ReceivedRequestHead.values`), names in any case.
        @Test func headerRulesMatchOnTheReceivedHead() async throws {
            let yaml = #"""
                version: 1
                listeners:
                  - name: main
                    address: 127.0.0.1:0
                admin:
                  address: 127.0.0.1:0
                routes:
                  - name: tenant
                    match: {prefix: /, headers: {X-Tenant: acme}}
                    direct_response: {status: 200, body: tenant}
                  - name: agent
                    match:
                      prefix: /
                      headers:
                        user-agent: {regex: '^curl/\d+'}
                    direct_response: {status: 200, body: agent}
                  - name: other
                    match: {prefix: /}
                    direct_response: {status: 404, body: other}
                """#
            try await withGateway(yaml: yaml) { gw in
                let cases: [([(String, String)], String)] = [
                    ([("x-tenant", "other"), ("X-TENANT", "acme")], "tenant"),
                    ([("x-tenant", "acme-corp")], "other"),
                    ([("User-Agent", "curl/8.5.0")], "agent"),
                    ([("user-agent", "Mozilla/5.0 curl/8")], "other"),
                    ([("x-tenant-id", "acme")], "other"),
                ]
                for (headers, route) in cases {
                    let response = try await gw.send(.GET, "/", headers: headers)
                    #expect(response.text == route, "\(headers)")
                }
            }
        }

        @Test func thePlainHeadCarriesWhatAProxyAdds() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, hostHeader: "target") }) { upstream, gw in
                _ = try await gw.send(.GET, "/plain/x", headers: [
                    ("host", "client.test"), ("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.0.0.1"),
                    ("x-request-id", "trace-7"), ("connection", "keep-alive"), ("te", "trailers"),
                ])
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["host"] == ["127.0.0.1:\(upstream.port)"], "policy target")
                #expect(seen.head.headers["x-forwarded-for"] == ["203.0.113.9, 10.0.0.1, 127.0.0.1"], "every line kept, in order")
                #expect(seen.head.headers["x-forwarded-host"] == ["client.test"])
                #expect(seen.head.headers["x-forwarded-proto"] == ["http"])
                #expect(seen.head.headers["x-request-id"] == ["trace-7"])
                #expect(seen.head.headers["te"].isEmpty)
                #expect(seen.head.headers["connection"].isEmpty)
                // Host is the first field (RFC 9112 §3.2).
                #expect(seen.head.headers.first?.name.lowercased() == "host")

                _ = try await gw.send(.POST, "/plain/y", headers: [("host", "client.test")], body: .chunked(["ab", "cd"], delay: .milliseconds(1)))
                let chunked = try #require(upstream.lastRequest)
                #expect(chunked.head.headers["transfer-encoding"] == ["chunked"])
                #expect(chunked.bodyText == "abcd")
            }
        }

        /// A connection writes each filtered request's lines into the buffer the last one
        /// used (`DownstreamHandler.linesBuffer`): requests on one connection must each
        /// reach the upstream with their own fields, long or short.
        @Test func requestsOnOneConnectionKeepTheirOwnLines() async throws {
            try await withProxy(.echo, yaml: { Self.yaml($0, hostHeader: "preserve") }) { upstream, gw in
                let client = try await TestClient.connect(port: gw.port)
                // Plain and filtered routes alternate, heads of changing sizes and field
                // counts: the connection's reused field storage (`RequestDecoder.recycle`)
                // and the loop's reused added-lines arrays must carry no field over.
                for i in 0..<12 {
                    let filtered = i % 4 < 2
                    let path = (filtered ? "/filtered/" : "/plain/") + "\(i)"
                    let padding = String(repeating: "v", count: i % 2 == 0 ? 3000 : 5)
                    var headers = [("host", "h\(i).test"), ("x-seq", "\(i)"), ("x-pad", padding)]
                    if i % 3 == 0 { headers += (0..<8).map { ("x-extra-\($0)", "e\(i)") } }
                    let response = try await client.request(.GET, path, headers: headers, body: .none, keepBody: true, timeout: .seconds(10))
                    #expect(response.status == .ok)
                    let seen = try #require(upstream.lastRequest)
                    #expect(seen.head.headers["x-seq"] == ["\(i)"])
                    #expect(seen.head.headers["host"] == ["h\(i).test"])
                    #expect(seen.head.headers["x-pad"] == [padding])
                    #expect(seen.head.headers["x-via-filter"] == (filtered ? ["yes"] : []))
                    #expect(seen.head.headers["x-extra-7"] == (i % 3 == 0 ? ["e\(i)"] : []))
                    #expect(seen.head.uri == path)
                }
                await client.close()
            }
        }

        /// A filtered route writes its lines in runs between the ones filters removed:
        /// the first, a middle and a forwarding line removed, the rest in order, and the
        /// Host policy's line instead of the client's.
        @Test func linesRemovedAnywhereLeaveTheRestInOrder() async throws {
            let remove = "[{plugin: transform, config: {request: {headers: {remove: [x-one, x-three, x-forwarded-proto]}}}}]"
            let yaml = { (port: Int) in
                gatewayYAML(upstreamPort: port, upstreamExtra: "host_header: target", routes: proxyRoute(name: "runs", filters: remove))
            }
            try await withProxy(.echo, yaml: yaml) { upstream, gw in
                let headers = [("x-one", "1"), ("host", "client.test"), ("x-two", "2"), ("x-three", "3"), ("x-four", "4")]
                #expect(try await gw.send(.GET, "/r", headers: headers).status == .ok)
                let seen = try #require(upstream.lastRequest)
                let names = seen.head.headers.map { $0.name.lowercased() }
                #expect(names.filter { ["x-one", "x-two", "x-three", "x-four"].contains($0) } == ["x-two", "x-four"])
                #expect(seen.head.headers["host"].count == 1 && seen.head.headers["host"] != ["client.test"])
                #expect(seen.head.headers["x-forwarded-proto"].isEmpty)
                #expect(seen.head.headers["x-forwarded-host"] == ["client.test"])
                #expect(seen.head.headers["x-forwarded-for"].count == 1)
            }
        }

        /// A filtered route keeps the request head as lines (`RequestHeadBytes`): the
        /// filters' removals and additions reach the upstream, the Host policy and the
        /// re-framing apply to it, and a change to Host makes it NIO's type first.
        @Test func filtersChangeTheLinesTheUpstreamGets() async throws {
            let edits = "[{plugin: transform, config: {request: {headers: {remove: [x-custom, accept], add: {x-added: a}, set: {x-set: s}}}}}]"
            let hostSet = "[{plugin: transform, config: {request: {headers: {set: {host: set-by-filter.test}}}}}]"
            let yaml = { (port: Int) in
                gatewayYAML(
                    upstreamPort: port,
                    routes: proxyRoutes(("edits", "/edits/", edits), ("host", "/host/", hostSet)))
            }
            try await withProxy(.echo, yaml: yaml) { upstream, gw in
                _ = try await gw.send(.POST, "/edits/x", headers: [
                    ("host", "client.test"), ("x-custom", "1"), ("X-Custom", "2"), ("accept", "*/*"), ("x-set", "old"), ("x-kept", "k"),
                    ("transfer-encoding", "chunked"),
                ], body: .chunked(["ab", "cd"], delay: .milliseconds(1)))
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-custom"].isEmpty && seen.head.headers["accept"].isEmpty)
                #expect(seen.head.headers["x-added"] == ["a"])
                #expect(seen.head.headers["x-set"] == ["s"])
                #expect(seen.head.headers["x-kept"] == ["k"])
                #expect(seen.head.headers["host"] == ["client.test"], "policy preserve")
                #expect(seen.head.headers["transfer-encoding"] == ["chunked"], "re-framed once")
                #expect(seen.head.headers["x-forwarded-host"] == ["client.test"])
                #expect(seen.bodyText == "abcd")

                _ = try await gw.send(.GET, "/host/y", headers: [("host", "client.test"), ("x-kept", "k")])
                let hosted = try #require(upstream.lastRequest)
                #expect(hosted.head.headers["host"] == ["set-by-filter.test"])
                #expect(hosted.head.headers["x-forwarded-host"] == ["client.test"])
                #expect(hosted.head.headers["x-kept"] == ["k"])
            }
        }
    }
}

@Suite struct ResolvedTargetHostTests {
    @Test func theHostAGatewayWritesBracketsAnIPv6LiteralAndDropsADefaultPort() throws {
        let v4 = UpstreamSet.ResolvedTarget(host: "10.0.0.2", port: 8080, address: try .init(ipAddress: "10.0.0.2", port: 8080), poolKey: "k")
        #expect(v4.authority == "10.0.0.2:8080")
        #expect(v4.hostHeader == "10.0.0.2:8080")
        let v6 = UpstreamSet.ResolvedTarget(host: "::1", port: 443, address: try .init(ipAddress: "::1", port: 443), poolKey: "k")
        #expect(v6.authority == "[::1]:443")
        #expect(v6.hostHeader == "[::1]")
        let name = UpstreamSet.ResolvedTarget(host: "api.test", port: 80, address: try .init(ipAddress: "127.0.0.1", port: 80), poolKey: "k")
        #expect(name.hostHeader == "api.test")
    }
}

@Suite struct HopByHopNameTests {
    @Test func everyHopByHopNameIsFoundAtItsIndexInAnyCaseAndNothingElseIs() {
        for (index, name) in HopByHop.names.enumerated() {
            #expect(HopByHop.hopByHopIndex(name) == index, "\(name)")
            #expect(HopByHop.hopByHopIndex(name.uppercased()) == index, "\(name)")
            var copy = name
            let fixed = copy.withUTF8 { isFixedHopByHopName(UnsafeRawBufferPointer($0)) }
            #expect(fixed == (name != "connection"), "\(name)")
        }
        for other in ["host", "tee", "trailers", "upgrades", "connections", "keep-alive2", "x-request-id", "", "t"] {
            #expect(HopByHop.hopByHopIndex(other) == nil, "\(other)")
        }
    }
}

@Suite struct RequestIDTests {
    @Test func aRandomIDIs32HexDigitsWrittenAndMadeAlike() {
        let id = RequestID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        #expect(id.string == "0123456789abcdeffedcba9876543210")
        var buffer = ByteBuffer(string: "x:")
        id.write(into: &buffer)
        #expect(String(buffer: buffer) == "x:0123456789abcdeffedcba9876543210")
        #expect("\(RequestID(high: 0, low: 1))" == "00000000000000000000000000000001")
    }

    @Test func aGivenIDIsKeptAsItCame() {
        let id = RequestID(given: "trace-7")
        var buffer = ByteBuffer()
        id.write(into: &buffer)
        #expect(String(buffer: buffer) == "trace-7")
        #expect(id.string == "trace-7")
    }
}
