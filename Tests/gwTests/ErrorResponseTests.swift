import GatewayTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import gw

extension EndToEnd {
    /// What the gateway answers itself, as `{"error": {"type", "message"}}` JSON.
    @Suite struct ErrorResponses {
        /// A 127.0.0.1 port nobody listens on (bound, then closed).
        static func closedPort() async throws -> Int {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
            let port = try #require(channel.localAddress?.port)
            try await channel.close()
            return port
        }

        static func expectJSONError(_ response: TestResponse, _ status: HTTPResponseStatus, _ type: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(response.status == status, sourceLocation: sourceLocation)
            #expect(response.header("content-type") == "application/json", sourceLocation: sourceLocation)
            #expect(response.errorType == type, "body: \(response.text)", sourceLocation: sourceLocation)
            #expect(response.header("x-request-id") != nil || status == .badRequest, sourceLocation: sourceLocation)
        }

        @Test func aRequestNoRouteMatchesGets404NoRoute() async throws {
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(prefix: "/api/")) }) { upstream, gw in
                let response = try await gw.send(.GET, "/elsewhere")
                Self.expectJSONError(response, .notFound, "no_route")
                #expect(response.text.contains("/elsewhere"))
                #expect(upstream.requestCount == 0)
                // The connection survives a 404.
                let client = try await gw.client()
                _ = try await client.request(.GET, "/nope")
                #expect(try await client.request(.GET, "/api/x").status == .ok)
                await client.close()
            }
        }

        @Test func anUnreachableOnlyTargetGives503WithRetryAfter() async throws {
            let port = try await Self.closedPort()
            try await withGateway(yaml: gatewayYAML(upstreamPort: port, routes: proxyRoute())) { gw in
                let response = try await gw.send(.GET, "/")
                Self.expectJSONError(response, .serviceUnavailable, "no_healthy_upstream")
                #expect(response.header("retry-after") == "1")
            }
        }

        @Test func anUnreachableTargetIsSkippedForAReachableOne() async throws {
            let port = try await Self.closedPort()
            try await withUpstream(.echo) { upstream in
                let yaml = gatewayYAML(upstreamPort: upstream.port, upstreamExtra: "", routes: proxyRoute())
                    .replacingOccurrences(of: "targets: [\"127.0.0.1:\(upstream.port)\"]", with: "targets: [\"127.0.0.1:\(port)\", \"127.0.0.1:\(upstream.port)\"]")
                try await withGateway(yaml: yaml) { gw in
                    for _ in 0..<4 {
                        let response = try await gw.send(.GET, "/")
                        #expect(response.status == .ok)
                    }
                    #expect(upstream.requestCount == 4)
                }
            }
        }

        @Test func anUpstreamThatClosesWithoutAnsweringGives502() async throws {
            try await withProxy(.closeWithoutAnswer) { upstream, gw in
                let response = try await gw.send(.GET, "/")
                Self.expectJSONError(response, .badGateway, "upstream_reset")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func anUpstreamThatAnswersGarbageGives502() async throws {
            try await withProxy(.garbage) { _, gw in
                let response = try await gw.send(.GET, "/")
                Self.expectJSONError(response, .badGateway, "upstream_protocol_error")
            }
        }

        @Test func aSlowFirstByteGives504AfterTheFirstByteTimeout() async throws {
            try await withProxy(.delayed(.seconds(3), .echo), yaml: {
                gatewayYAML(upstreamPort: $0, upstreamExtra: "first_byte_timeout: 200ms", routes: proxyRoute())
            }) { _, gw in
                let start = NIODeadline.now()
                let response = try await gw.send(.GET, "/")
                let elapsed = NIODeadline.now() - start
                Self.expectJSONError(response, .gatewayTimeout, "upstream_timeout")
                #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(2), "answered after \(elapsed)")
            }
        }

        @Test func tooManyHeadersGive431AndNeverReachTheUpstream() async throws {
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{max_headers: 10}", routes: proxyRoute())
            }) { upstream, gw in
                let headers = (0..<15).map { ("x-extra-\($0)", "v") }
                let response = try await gw.send(.GET, "/", headers: headers)
                Self.expectJSONError(response, .requestHeaderFieldsTooLarge, "too_many_headers")
                #expect(try await gw.send(.GET, "/", headers: Array(headers.prefix(5))).status == .ok)
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func headersOverMaxHeaderBytesGive431AndNeverReachTheUpstream() async throws {
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{max_header_bytes: 2KiB}", routes: proxyRoute())
            }) { upstream, gw in
                let big = [("x-big", String(repeating: "a", count: 3000))]
                let response = try await gw.send(.GET, "/", headers: big)
                Self.expectJSONError(response, .requestHeaderFieldsTooLarge, "header_too_large")
                #expect(try await gw.send(.GET, "/", headers: [("x-small", String(repeating: "a", count: 500))]).status == .ok)
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func aContentLengthOverMaxBodyBytesGives413AtOnce() async throws {
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{max_body_bytes: 1000}", routes: proxyRoute())
            }) { upstream, gw in
                // Only the head is sent: the answer must not wait for the body.
                let response = try await gw.send(.POST, "/", headers: [("content-length", "5000")], body: .headOnly, timeout: .seconds(5))
                Self.expectJSONError(response, .payloadTooLarge, "body_too_large")
                #expect(response.header("connection") == "close")
                #expect(try await gw.send(.POST, "/", body: .bytes(Array(repeating: 65, count: 1000))).status == .ok)
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func aChunkedBodyOverMaxBodyBytesGives413() async throws {
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, limits: "{max_body_bytes: 1000}", routes: proxyRoute())
            }) { upstream, gw in
                let chunk = String(repeating: "a", count: 600)
                let response = try await gw.send(.POST, "/", body: .chunked([chunk, chunk, chunk], delay: .milliseconds(50)), timeout: .seconds(5))
                Self.expectJSONError(response, .payloadTooLarge, "body_too_large")
                #expect(upstream.requestCount == 0, "the upstream never received a complete request")
            }
        }

        @Test(arguments: [
            "GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n",
            "\u{0}\u{1}\u{2} garbage garbage\r\n\r\n",
            "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        ])
        func malformedRequestBytesGet400AndNeverReachTheUpstream(_ bytes: String) async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: bytes)
                #expect(answer.hasPrefix("HTTP/1.1 400 "), "answer: \(answer)")
                #expect(answer.contains("\"bad_request\""))
                #expect(upstream.requestCount == 0)
                #expect(upstream.connectionCount == 0)
            }
        }
    }
}
