import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// HTTP/1.x connection handling: pipelining, HEAD, HTTP/1.0, aborted clients.
    @Suite struct ConnectionBehaviour {
        @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
            try await withProxy(.echo) { upstream, gw in
                let requests = (0..<3).map { "GET /p/\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined()
                    + "GET /p/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                let answer = try await RawConnection.exchange(port: gw.port, text: requests)
                #expect(answer.components(separatedBy: "HTTP/1.1 ").count - 1 == 4, "answer: \(answer)")
                #expect(answer.components(separatedBy: "HTTP/1.1 200 OK\r\n").count - 1 == 4)
                let order = ["/p/0", "/p/1", "/p/2", "/p/last"].map { answer.range(of: "\"uri\":\"\($0)\"")?.lowerBound }
                #expect(order.allSatisfy { $0 != nil })
                #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "answers in request order")
                #expect(upstream.requests.map(\.head.uri) == ["/p/0", "/p/1", "/p/2", "/p/last"])
            }
        }

        @Test func aRequestHeadThatArrivesTooSlowlyGets408AndTheConnectionCloses() async throws {
            let yaml = { (port: Int) in
                gatewayYAML(upstreamPort: port, routes: proxyRoute()) + "\ntimeouts: {request_headers: 300ms}\n"
            }
            try await withProxy(.echo, yaml: yaml) { upstream, gw in
                let start = NIODeadline.now()
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ", timeout: .seconds(5))
                #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "answer: \(answer)")
                #expect(answer.contains("request_timeout"))
                #expect(NIODeadline.now() - start < .seconds(3), "closed by the server, not by the client's timeout")
                #expect(upstream.requestCount == 0)
                // A whole request, then an idle keep-alive connection: no 408.
                let client = try await gw.client()
                #expect(try await client.request(.GET, "/fast").status == .ok)
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await client.request(.GET, "/again").status == .ok)
                await client.close()
            }
        }

        @Test func anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeoutButABusyOneIsNot() async throws {
            let yaml = { (port: Int) in
                gatewayYAML(upstreamPort: port, routes: proxyRoute()) + "\ntimeouts: {idle: 400ms}\n"
            }
            try await withProxy(.delayed(.milliseconds(700), .fixed(200, body: "ok")), yaml: yaml) { _, gw in
                // A response slower than the idle timeout: the connection has a request in flight.
                let busy = try await gw.client()
                #expect(try await busy.request(.GET, "/slow").status == .ok)
                // Now idle: closed by the server within about the idle timeout.
                let start = NIODeadline.now()
                #expect(await busy.waitForClose(timeout: .seconds(3)))
                let waited = NIODeadline.now() - start
                #expect(waited >= .milliseconds(300) && waited < .milliseconds(1500), "closed after \(waited)")
                // Back-to-back requests keep a connection open well past the timeout.
                let active = try await gw.client()
                for _ in 0..<3 {
                    #expect(try await active.request(.GET, "/").status == .ok)
                }
                #expect(active.isActive, "three requests of 700 ms each span 2.1 s, above the 400 ms idle timeout")
                await active.close()
            }
        }

        @Test func aHEADRequestGetsHeadersWithoutABody() async throws {
            try await withProxy(.fixed(200, body: "twelve bytes", headers: [("content-type", "text/plain")])) { upstream, gw in
                let client = try await gw.client()
                let head = try await client.request(.HEAD, "/")
                #expect(head.status == .ok)
                #expect(head.bodyLength == 0)
                #expect(head.header("content-length") == "12")
                #expect(upstream.lastRequest?.head.method == .HEAD)
                // The connection is still in sync afterwards.
                let get = try await client.request(.GET, "/")
                #expect(get.text == "twelve bytes")
                await client.close()
            }
        }

        @Test func anHTTP10RequestIsAnsweredAsHTTP10AndClosed() async throws {
            try await withProxy(.fixed(200, body: "old school")) { _, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET /legacy HTTP/1.0\r\nHost: x\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.0 200 OK\r\n"), "answer: \(answer)")
                #expect(answer.hasSuffix("old school"))
            }
        }

        @Test(arguments: [false, true])
        func anExpect100ContinueRequestIsForwardedWithoutTheExpectation(throughAFilter: Bool) async throws {
            let filters = throughAFilter ? "[{plugin: \(try FixturePlugins.cSample())}]" : "[]"
            let yaml = { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }
            try await withProxy(.echo(includeBody: true), yaml: yaml) { upstream, gw in
                let response = try await gw.send(
                    .POST, "/", headers: [("expect", "100-continue")], body: .chunked(["part one, ", "part two"], delay: .milliseconds(20)))
                #expect(response.status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.bodyText == "part one, part two")
                #expect(seen.header("expect") == nil, "the gateway answers the expectation itself")
            }
        }

        @Test func anExpect100ContinueRequestGets100BeforeItSendsItsBody() async throws {
            try await withProxy(.echo) { _, gw in
                // Head only: a gateway that waited for the body would never answer.
                let answer = try await RawConnection.exchange(
                    port: gw.port, text: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
                    timeout: .milliseconds(500))
                #expect(answer.hasPrefix("HTTP/1.1 100 Continue\r\n"), "answer: \(answer)")
            }
        }

        /// Routes that read the body without an upstream connection: an AI route, and a
        /// filter that collects the whole body first (prompt_template). A client that
        /// waits for 100 Continue must get it there too.
        @Test(arguments: ["/v1/chat/completions", "/apis/summarize"])
        func anExpect100ContinueRequestGets100WhereGwReadsTheBodyItself(_ path: String) async throws {
            // The prompt API's config (`PromptTemplateOnAIRoute`), plus an AI route without filters.
            let yaml = PromptTemplateOnAIRoute.yaml + """

                  - name: chat
                    match: {prefix: /v1/}
                    ai: {endpoint: chat, models: [fast]}

                """
            try await withGateway(yaml: yaml) { gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port,
                    text: "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n",
                    timeout: .milliseconds(500))
                #expect(answer.hasPrefix("HTTP/1.1 100 Continue\r\n"), "answer: \(answer)")
            }
        }

        @Test func aURIOverMaxURIBytesGets414() async throws {
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, limits: "{max_uri_bytes: 64}", routes: proxyRoute()) }) { upstream, gw in
                let response = try await gw.send(.GET, "/" + String(repeating: "a", count: 100))
                #expect(response.status == .uriTooLong)
                #expect(response.errorType == "uri_too_long")
                #expect(upstream.requestCount == 0)
            }
        }

        @Test func aClientThatLeavesMidDownloadDoesNotHurtTheGateway() async throws {
            try await withProxy(choosing: { head in head.uri == "/big" ? .download(bytes: 256 << 20) : .echo }) { upstream, gw in
                for _ in 0..<3 {
                    // Read for a moment, then hang up in the middle of a 256 MiB body.
                    let bytes = try await RawConnection.exchange(port: gw.port, bytes: Array("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".utf8), timeout: .milliseconds(100))
                    #expect(bytes.count > 0 && bytes.count < 256 << 20)
                }
                let response = try await gw.send(.GET, "/after")
                #expect(response.status == .ok)
                #expect(upstream.requests.last?.head.uri == "/after")
            }
        }

        @Test func aClientThatLeavesWhileTheUpstreamIsSlowDoesNotHurtTheGateway() async throws {
            try await withProxy(choosing: { head in head.uri == "/slow" ? .delayed(.milliseconds(300), .echo) : .echo }) { _, gw in
                _ = try await RawConnection.exchange(port: gw.port, bytes: Array("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n".utf8), timeout: .milliseconds(50))
                try await Task.sleep(for: .milliseconds(400))
                #expect(try await gw.send(.GET, "/slow").status == .ok)
            }
        }

        @Test func theTotalTimeoutCutsAResponseAlreadyStreaming() async throws {
            try await withProxy(.chunks(count: 10, delay: .milliseconds(100)), yaml: {
                gatewayYAML(upstreamPort: $0, upstreamExtra: "total_timeout: 300ms", routes: proxyRoute())
            }) { _, gw in
                await #expect(throws: (any Error).self, "the client sees a truncated response") {
                    _ = try await gw.send(.GET, "/", timeout: .seconds(5))
                }
            }
        }

        @Test func theTotalTimeoutBeforeTheFirstByteGives504() async throws {
            try await withProxy(.delayed(.seconds(2), .echo), yaml: {
                gatewayYAML(upstreamPort: $0, upstreamExtra: "total_timeout: 200ms", routes: proxyRoute())
            }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .gatewayTimeout)
                #expect(response.errorType == "upstream_timeout")
            }
        }

        @Test(arguments: [("target", nil), ("upstream.internal", "upstream.internal")] as [(String, String?)])
        func theHostHeaderPolicyDecidesWhatTheUpstreamSees(_ policy: String, _ expected: String?) async throws {
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, upstreamExtra: "host_header: \(policy)", routes: proxyRoute())
            }) { upstream, gw in
                _ = try await gw.send(.GET, "/", headers: [("host", "public.example")])
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("host") == (expected ?? "127.0.0.1:\(upstream.port)"))
                #expect(seen.header("x-forwarded-host") == "public.example")
            }
        }

        @Test func aRequestWithABodyRejectedByAPluginGets403AndTheGatewayKeepsServing() async throws {
            let c = try FixturePlugins.cSample()
            try await withProxy(.echo, yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: "[{plugin: \(c), config: {reject_header: x-forbidden}}]"))
            }) { upstream, gw in
                let client = try await gw.client()
                let rejected = try await client.request(.POST, "/", headers: [("x-forbidden", "1")], body: .string(String(repeating: "z", count: 5000)))
                #expect(rejected.status == .forbidden)
                if rejected.header("connection") != "close" {
                    // Kept open: the unread body must have been consumed, not parsed as a request.
                    let next = try await client.request(.GET, "/next")
                    #expect(next.status == .ok)
                    #expect(upstream.requests.map(\.head.uri) == ["/next"])
                }
                await client.close()
                #expect(try await gw.send(.GET, "/fresh").status == .ok)
            }
        }
    }
}
