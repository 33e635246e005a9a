import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// Bodies stream through the gateway in both directions, with backpressure.
    @Suite struct Streaming {
        static let size = 64 << 20

        @Test func a64MiBUploadReachesTheUpstreamIntact() async throws {
            try await withProxy(.echo) { upstream, gw in
                let response = try await gw.send(.PUT, "/upload", body: .pattern(length: Self.size))
                #expect(response.status == .ok)
                let echo = try response.json()
                #expect(echo["body_length"] as? Int == Self.size)
                #expect(echo["body_is_pattern"] as? Bool == true)
                #expect(upstream.lastRequest?.header("content-length") == String(Self.size))
            }
        }

        @Test func a64MiBDownloadReachesTheClientIntact() async throws {
            try await withProxy(.download(bytes: Self.size)) { _, gw in
                let response = try await gw.send(.GET, "/download", keepBody: false)
                #expect(response.status == .ok)
                #expect(response.header("content-length") == String(Self.size))
                #expect(response.bodyLength == Self.size)
                #expect(response.bodyIsPattern)
                #expect(response.bodyParts.count > 1, "the body arrived in pieces, not buffered whole")
            }
        }

        @Test func aStreamedResponsesFirstChunkReachesTheClientBeforeTheUpstreamFinishes() async throws {
            try await withProxy(.chunks(count: 5, delay: .milliseconds(250))) { _, gw in
                let response = try await gw.send(.GET, "/stream")
                #expect(response.status == .ok)
                #expect(response.text == (0..<5).map { "chunk-\($0)\n" }.joined())
                let first = try #require(response.firstBodyAt)
                // The upstream needs 5 x 250 ms to finish; the first chunk must not wait for that.
                #expect(response.endAt - first >= .milliseconds(900), "first chunk \(response.endAt - first) before the end")
                #expect(response.bodyParts.count >= 4)
            }
        }

        @Test func aChunkedRequestBodyIsStreamedToTheUpstream() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let parts = ["alpha,", "beta,", "gamma"]
                let response = try await gw.send(.POST, "/chunked", body: .chunked(parts, delay: .milliseconds(30)))
                #expect(response.status == .ok)
                #expect(try response.json()["body"] as? String == parts.joined())
                #expect(upstream.lastRequest?.bodyText == parts.joined())
            }
        }
    }
}
