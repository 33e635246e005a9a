import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// On a filtered route, a response head framed by Content-Length stays bytes through
    /// the filters (`ResponseHeadBytes`: lines removed and added as a delta) and is
    /// written by the pass-through writer; a chunked one becomes NIO's type and goes
    /// through the general writer. The client must see the same headers from both.
    @Suite struct FilteredResponseHead {
        static let upstreamHeaders: [(String, String)] = [
            ("Server", "upstream/1"), ("X-Secret", "s"), ("x-upstream-id", "u-1"), ("Cache-Control", "max-age=60"),
            ("x-secret", "again"), ("keep-alive", "timeout=5"), ("x-request-id", "from-upstream"), ("content-type", "text/plain"),
        ]

        static func yaml(_ port: Int) -> String {
            let transform = """
                {plugin: transform, config: {response: {headers: {remove: [x-secret, server], rename: {x-upstream-id: x-origin}, \
                set: {cache-control: no-store, x-set: "1"}, add: {x-added: a, X-Added-2: b}}}}}
                """
            // Listed first, so its response hook runs last: it removes a line the other
            // one added and sets again one it set.
            let second = "{plugin: transform, config: {response: {headers: {remove: [x-added], set: {x-set: \"2\"}}}}}"
            return gatewayYAML(upstreamPort: port, routes: proxyRoute(filters: "[\(second), \(transform)]"))
        }

        /// The client's view: every field but the framing ones, in order, names lowercased.
        static func view(_ response: TestResponse) -> [String] {
            response.headers.compactMap { name, value in
                let lower = name.lowercased()
                return ["content-length", "transfer-encoding", "x-request-id", "connection"].contains(lower) ? nil : lower + ": " + value
            }
        }

        @Test func aHeadKeptAsBytesGetsTheSameChangesAsOneMadeIntoStrings() async throws {
            try await withProxy(choosing: { head in
                let chunked = head.uri.hasPrefix("/chunked")
                return .fixed(200, body: "same body", headers: Self.upstreamHeaders + (chunked ? [("transfer-encoding", "chunked")] : []))
            }, yaml: Self.yaml) { _, gw in
                let bytes = try await gw.send(.GET, "/length")
                let strings = try await gw.send(.GET, "/chunked")
                #expect(bytes.status == .ok && strings.status == .ok)
                #expect(bytes.text == "same body" && strings.text == "same body")
                #expect(bytes.header("content-length") == "9", "the pass-through writer kept the upstream's length")
                #expect(strings.header("transfer-encoding") == "chunked", "the other took the general writer")
                #expect(Self.view(bytes) == [
                    "content-type: text/plain", "x-origin: u-1", "cache-control: no-store", "x-added-2: b", "x-set: 2",
                ])
                #expect(Self.view(bytes) == Self.view(strings))
                // gw's request id replaces the upstream's, once; hop-by-hop lines are gone.
                #expect(bytes.headers["x-request-id"].count == 1 && bytes.header("x-request-id") != "from-upstream")
                #expect(bytes.header("keep-alive") == nil)
            }
        }

        /// A HEAD answer through the filters keeps the upstream's length and has no body.
        @Test func aHeadRequestKeepsItsLengthAndNoBody() async throws {
            try await withProxy(.fixed(200, body: "0123456789", headers: [("content-type", "text/plain")]), yaml: Self.yaml) { _, gw in
                let head = try await gw.send(.HEAD, "/h")
                #expect(head.status == .ok)
                #expect(head.header("content-length") == "10")
                #expect(head.bodyLength == 0)
                #expect(head.header("x-set") == "2")
                let get = try await gw.send(.GET, "/g")
                #expect(get.text == "0123456789")
            }
        }
        /// A filter that changes a hop-by-hop header or `x-request-id` makes the head
        /// NIO's type first (`ResponseHeadBytes.affectsFraming`): gw's rules for those
        /// then apply as on any route, so neither reaches the client.
        @Test func aChangeToAHopByHopHeaderTakesTheGeneralWriter() async throws {
            let filters = "[{plugin: transform, config: {response: {headers: {set: {keep-alive: timeout=9, x-request-id: mine, x-kept: k}}}}}]"
            try await withProxy(.fixed(200, body: "abc", headers: [("content-type", "text/plain")]), yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters))
            }) { _, gw in
                let response = try await gw.send(.GET, "/x")
                #expect(response.status == .ok)
                #expect(response.text == "abc")
                #expect(response.header("x-kept") == "k")
                #expect(response.header("keep-alive") == nil)
                #expect(response.headers["x-request-id"].count == 1)
                #expect(response.header("x-request-id") != "mine")
                #expect(response.header("content-length") == "3")
            }
        }

        /// Added lines live in arrays the loop hands from one finished run to the next
        /// (`HookArena.giveBack`): responses of two routes, alternating on one
        /// connection, must each carry their own route's additions and nothing else.
        @Test func addedLinesDoNotCarryOverBetweenRequests() async throws {
            let a = "[{plugin: transform, config: {response: {headers: {add: {x-a: one, x-a-long: \"\(String(repeating: "a", count: 300))\"}}}}}]"
            let b = "[{plugin: transform, config: {response: {headers: {set: {x-b: two}}}}}]"
            let yaml = { (port: Int) in
                gatewayYAML(upstreamPort: port, routes: proxyRoutes(("a", "/a/", a), ("b", "/b/", b)))
            }
            try await withProxy(.fixed(200, body: "ok", headers: [("content-type", "text/plain")]), yaml: yaml) { _, gw in
                let client = try await TestClient.connect(port: gw.port)
                for i in 0..<8 {
                    let onA = i % 3 != 1
                    let response = try await client.request(.GET, onA ? "/a/\(i)" : "/b/\(i)", headers: [], body: .none, keepBody: true, timeout: .seconds(10))
                    #expect(response.status == .ok && response.text == "ok")
                    #expect(Self.view(response) == (onA
                        ? ["content-type: text/plain", "x-a: one", "x-a-long: " + String(repeating: "a", count: 300)]
                        : ["content-type: text/plain", "x-b: two"]), "request \(i)")
                }
                await client.close()
            }
        }
    }
}
