import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import gw

extension EndToEnd {
    /// Bodies and filters: held while paused, buffered whole, streamed through hooks.
    @Suite struct FilterBodies {
        @Test func aBodySentWhileAFilterPausesIsHeldAndForwardedAfterTheResume() async throws {
            let plugin = try FixturePlugins.fixture("async_pause")
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: "[{plugin: \(plugin), config: {delay_ms: 100}}]"))
            }) { upstream, gw in
                let response = try await gw.send(.POST, "/", body: .pattern(length: 300_000))
                #expect(response.status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.bodyLength == 300_000)
                #expect(seen.bodyIsPattern)
                #expect(seen.header("x-resumed-by") == "async-event")
            }
        }

        @Test func aBufferedBodyOverBufferBytesGives413() async throws {
            let plugin = try FixturePlugins.fixture("body_upper")
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{buffer_bytes: 4KiB}", routes: proxyRoute(filters: "[{plugin: \(plugin)}]"))
            }) { upstream, gw in
                let small = try await gw.send(.POST, "/", body: .string(String(repeating: "a", count: 4000)))
                #expect(small.status == .ok)
                let big = try await gw.send(.POST, "/", body: .string(String(repeating: "a", count: 20_000)))
                #expect(big.status == .payloadTooLarge)
                #expect(big.errorType == "body_too_large")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func a64MiBUploadStreamsThroughAChainWithoutBodyHooks() async throws {
            let c = try FixturePlugins.cSample()
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{buffer_bytes: 1MiB}", routes: proxyRoute(filters: "[{plugin: \(c)}]"))
            }) { _, gw in
                let response = try await gw.send(.POST, "/", body: .pattern(length: 64 << 20))
                #expect(response.status == .ok)
                #expect(response.header("x-sample-c") == "hello from C")
                #expect(try response.json()["body_length"] as? Int == 64 << 20)
                #expect(try response.json()["body_is_pattern"] as? Bool == true)
            }
        }

        @Test func aLargeDownloadStreamsThroughAResponseBodyHook() async throws {
            let plugin = try FixturePlugins.fixture("body_upper")
            let size = 16 << 20
            try await withProxy(.download(bytes: size), yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{buffer_bytes: 1MiB}", routes: proxyRoute(filters: "[{plugin: \(plugin)}]"))
            }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .ok)
                #expect(response.header("x-body-upper") == "1")
                #expect(response.bodyLength == size)
                #expect(response.bodyParts.count > 1)
                let counts = response.body.withUnsafeReadableBytes { bytes -> (x: Int, y: Int) in
                    var x = 0
                    var y = 0
                    var p = bytes.baseAddress!
                    let end = p + bytes.count
                    while let hit = memchr(p, 0x78, end - p) { x += 1; p = UnsafeRawPointer(hit) + 1 }
                    p = bytes.baseAddress!
                    while let hit = memchr(p, 0x79, end - p) { y += 1; p = UnsafeRawPointer(hit) + 1 }
                    return (x, y)
                }
                // In the pattern, 'x' (120) and 'y' (121) are equally frequent; every x became a y.
                #expect(counts.x == 0)
                #expect(counts.y > 2 * (size / 251) - 2)
            }
        }

        @Test func pipelinedRequestsWithBodiesStayInSync() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let text = "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                    + "POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    + "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                let answer = try await RawConnection.exchange(port: gw.port, text: text)
                #expect(answer.components(separatedBy: "HTTP/1.1 200 OK\r\n").count - 1 == 3, "answer: \(answer)")
                #expect(upstream.requests.map(\.head.uri) == ["/one", "/two", "/three"])
                #expect(upstream.requests.map(\.bodyText) == ["hello", "abc", ""])
            }
        }
    }
}
