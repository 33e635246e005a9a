import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// The built-in `transform` filter (libgw_transform.so).
    @Suite struct TransformPlugin {
        static func yaml(_ upstreamPort: Int, config: String) -> String {
            gatewayYAML(upstreamPort: upstreamPort, routes: proxyRoute(name: "transformed", filters: "[{plugin: transform, config: \(config)}]"))
        }

        @Test func requestHeadersAreRemovedRenamedSetAndAddedAndTheQueryRewritten() async throws {
            let config = """
                {request: {headers: {remove: [X-Remove], rename: {x-old: X-New}, set: {x-set: forced}, add: {x-added: "from gw"}}, \
                query: {add: {q: "a b&c"}, remove: [drop]}}}
                """
            try await withProxy(.echo, yaml: { Self.yaml($0, config: config) }) { upstream, gw in
                let response = try await gw.send(
                    .GET, "/t?keep=1&drop=2&drop=3",
                    headers: [
                        ("x-remove", "1"), ("x-old", "v1"), ("x-old", "v2"), ("x-new", "replaced"), ("x-set", "a"), ("x-set", "b"),
                        ("x-added", "from client"),
                    ])
                #expect(response.status == .ok)
                // Response hooks are not configured: the response passes untouched.
                #expect(response.header("x-added") == nil)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.headers["x-remove"].isEmpty)
                #expect(seen.head.headers["x-old"].isEmpty)
                #expect(seen.head.headers["x-new"] == ["v1", "v2"])
                #expect(seen.head.headers["x-set"] == ["forced"])
                #expect(seen.head.headers["x-added"] == ["from client", "from gw"])
                #expect(seen.head.uri == "/t?keep=1&q=a%20b%26c")

                // Nothing to rename or remove: only what is set and added appears.
                _ = try await gw.send(.GET, "/plain")
                let plain = try #require(upstream.lastRequest)
                #expect(plain.head.headers["x-new"].isEmpty)
                #expect(plain.head.headers["x-set"] == ["forced"])
                #expect(plain.head.headers["x-added"] == ["from gw"])
                #expect(plain.head.uri == "/plain?q=a%20b%26c")
            }
        }

        @Test func responseHeadersAndStatusesAreTransformedAndTheBodyIsUntouched() async throws {
            let config = """
                {response: {headers: {remove: [x-secret], rename: {x-upstream-id: x-request-origin}, set: {cache-control: no-store}, \
                add: {x-served-by: gw}}, status_map: {"404": 410, "503": 502}}}
                """
            let headers = [("x-secret", "s3cr3t"), ("x-upstream-id", "u-1"), ("cache-control", "max-age=60")]
            try await withProxy(choosing: { head in
                switch head.uri {
                case "/gone": return .fixed(404, body: "not here", headers: headers)
                case "/stream": return .chunks(count: 3, delay: .milliseconds(20))
                default: return .fixed(200, body: "fine", headers: headers)
                }
            }, yaml: { Self.yaml($0, config: config) }) { _, gw in
                let gone = try await gw.send(.GET, "/gone")
                #expect(gone.status == .gone)
                #expect(gone.text == "not here")
                #expect(gone.header("x-secret") == nil)
                #expect(gone.header("x-upstream-id") == nil)
                #expect(gone.header("x-request-origin") == "u-1")
                #expect(gone.headers["cache-control"] == ["no-store"])
                #expect(gone.header("x-served-by") == "gw")

                let fine = try await gw.send(.GET, "/fine")
                #expect(fine.status == .ok, "unmapped statuses pass unchanged")
                #expect(fine.text == "fine")
                #expect(fine.header("x-request-origin") == "u-1")

                // No body hooks: a streamed body still arrives in parts.
                let streamed = try await gw.send(.GET, "/stream")
                #expect(streamed.text == "chunk-0\nchunk-1\nchunk-2\n")
                #expect(streamed.bodyParts.count >= 2)
                #expect(streamed.header("x-served-by") == "gw")
            }
        }

        @Test func theTransformedRequestBodyStreamsThroughUncopied() async throws {
            let config = "{request: {headers: {set: {x-via: gw}}}}"
            try await withProxy(.echo, yaml: { Self.yaml($0, config: config) }) { upstream, gw in
                let response = try await gw.send(.POST, "/upload", body: .pattern(length: 3 << 20))
                #expect(response.status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.bodyIsPattern && seen.bodyLength == 3 << 20)
                #expect(seen.header("x-via") == "gw")
            }
        }
    }
}
