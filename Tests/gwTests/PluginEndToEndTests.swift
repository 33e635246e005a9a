import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// The sample plugins (C, Swift, Rust), loaded by a running gateway.
    @Suite struct SamplePlugins {
        struct Sample: Sendable, CustomTestStringConvertible {
            var language: String
            /// What the filter's `plugin:` says (a path, or a name on the plugin path).
            var reference: @Sendable () throws -> String?
            var header: String
            var value: String
            var testDescription: String { language }
        }

        static let samples: [Sample] = {
            var samples = [
                Sample(language: "C", reference: { try FixturePlugins.cSample() }, header: "x-sample-c", value: "hello from C"),
                // By name: found as libgw_sample_swift.so beside the executable (the build folder).
                Sample(language: "Swift", reference: { "sample_swift" }, header: "x-sample-swift", value: "hello from Swift"),
            ]
            if FixturePlugins.hasRustCompiler {
                samples.append(Sample(language: "Rust", reference: { try FixturePlugins.rustSample() }, header: "x-sample-rust", value: "hello from Rust"))
            }
            return samples
        }()

        /// Header setters refuse names that are not tokens (a crash in `HTTPHeaders.add`
        /// outside ASCII, an invalid head otherwise); set replaces every value; remove
        /// of an absent header is fine.
        @Test func headerSettersRefuseNamesThatAreNotTokens() async throws {
            let plugin = try FixturePlugins.fixture("header_names")
            let filters = "[{plugin: \(plugin)}]"
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: [("x-dup", "a"), ("x-dup", "b"), ("x-gone", "1")])
                #expect(response.status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("x-results") == "0,-2,-2,-2,-2,0,0,0")
                // Request-line values: tab, fragment, DEL, non-ASCII, a path in Host refused; a valid query set.
                #expect(seen.header("x-attr-results") == "-2,-2,-2,-2,-2,0")
                #expect(seen.head.uri == "/?ok=1")
                #expect(seen.head.headers["x-dup"] == ["z"])
                #expect(seen.header("x-new") == "1")
                #expect(seen.header("x-gone") == nil)
            }
        }

        @Test(arguments: samples)
        func aSampleAddsItsResponseHeaderAndRejectsTheConfiguredHeader(_ sample: Sample) async throws {
            let plugin = try #require(try sample.reference())
            let filters = "[{plugin: \(plugin), config: {reject_header: x-forbidden}}]"
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let passed = try await gw.send(.GET, "/hello")
                #expect(passed.status == .ok)
                #expect(passed.header(sample.header) == sample.value)
                #expect(upstream.requestCount == 1)

                let rejected = try await gw.send(.GET, "/hello", headers: [("x-forbidden", "1")])
                #expect(rejected.status == .forbidden)
                #expect(rejected.errorType == "rejected_by_plugin")
                #expect(rejected.text.contains("request carries header x-forbidden"))
                #expect(rejected.header("content-type") == "application/json")
                #expect(rejected.header("x-request-id") != nil)
                #expect(upstream.requestCount == 1, "a rejected request never reaches the upstream")

                let plugins = try await gw.admin(.GET, "/admin/plugins")
                #expect(plugins.text.contains("\"name\":\"sample_\(sample.language.lowercased())\""))
            }
        }

        @Test func aPluginBuiltForABI10RunsInTheGateway() async throws {
            let plugin = try FixturePlugins.fixture("abi_v1_0")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: "[{plugin: \(plugin)}]")) }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .ok)
                #expect(response.header("x-abi-v1-0") == "ok")
            }
        }

        @Test func filtersRunRequestHooksInOrderAndRejectBeforeLaterFilters() async throws {
            let c = try FixturePlugins.cSample()
            let kv = try FixturePlugins.fixture("kv_meta")
            // sample_c rejects first: kv_meta (second) must not count the rejected request.
            let filters = "[{plugin: \(c), config: {reject_header: x-stop}}, {plugin: \(kv)}]"
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                _ = try await gw.send(.GET, "/")
                let first = try #require(upstream.lastRequest?.header("x-hits").flatMap { Int($0) })
                #expect(try await gw.send(.GET, "/", headers: [("x-stop", "1")]).status == .forbidden)
                _ = try await gw.send(.GET, "/")
                let second = try #require(upstream.lastRequest?.header("x-hits").flatMap { Int($0) })
                #expect(second == first + 1)
            }
        }
    }

    /// The C fixture plugins, through a running gateway.
    @Suite struct FixtureFilters {
        static func filter(_ stem: String, _ extra: String = "") throws -> String {
            let path = try FixturePlugins.fixture(stem)
            return extra.isEmpty ? "[{plugin: \(path)}]" : "[{plugin: \(path), \(extra)}]"
        }

        @Test func aPausedRequestIsResumedByAnAsyncEventPostedFromThePluginsThread() async throws {
            let filters = try Self.filter("async_pause", "config: {delay_ms: 50}")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let start = NIODeadline.now()
                let response = try await gw.send(.GET, "/")
                #expect(NIODeadline.now() - start >= .milliseconds(45), "the request waited for the plugin's thread")
                #expect(response.status == .ok)
                #expect(response.header("x-async-plugin") == "1")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("x-paused") == "1")
                #expect(seen.header("x-resumed-by") == "async-event")
            }
        }

        @Test func aPausedRequestIsResumedDirectlyFromThePluginsThread() async throws {
            let filters = try Self.filter("async_pause", "config: {delay_ms: 20}")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let response = try await gw.send(.GET, "/", headers: [("x-resume-mode", "direct")])
                #expect(response.status == .ok)
                #expect(response.header("x-async-plugin") == "1")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("x-paused") == "1")
                #expect(seen.header("x-resumed-by") == nil, "resumed by async_resume, not by the event")
            }
        }

        @Test func manyPausedRequestsOnOneConnectionAndInParallelAllResume() async throws {
            let filters = try Self.filter("async_pause", "config: {delay_ms: 5}")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for c in 0..<4 {
                        group.addTask {
                            let client = try await TestClient.connect(port: gw.port)
                            var ok = 0
                            for i in 0..<10 {
                                let mode = (c + i) % 2 == 0 ? "direct" : "event"
                                if try await client.request(.GET, "/", headers: [("x-resume-mode", mode)]).status == .ok { ok += 1 }
                            }
                            await client.close()
                            return ok
                        }
                    }
                    var total = 0
                    for try await ok in group { total += ok }
                    #expect(total == 40)
                }
                #expect(upstream.requestCount == 40)
            }
        }

        static let failureModes = ["null_filter", "bad_status", "stop_without_reply", "pause_forever", "response_bad_status"]

        @Test(arguments: failureModes)
        func aFailingFilterWithFailureModeClosedGives500PluginFailure(_ mode: String) async throws {
            let filters = try Self.filter("failing", "failure_mode: closed, pause_timeout: 200ms, config: {mode: \(mode)}")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let start = NIODeadline.now()
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .internalServerError)
                #expect(response.errorType == "plugin_failure", "body: \(response.text)")
                #expect(response.text.contains("fixture_failing"))
                #expect(response.header("x-failing-plugin-ran") == nil)
                #expect(upstream.requestCount == (mode == "response_bad_status" ? 1 : 0))
                if mode == "pause_forever" {
                    let elapsed = NIODeadline.now() - start
                    #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(5), "failed after \(elapsed)")
                }
                // The gateway keeps serving.
                #expect(try await gw.send(.GET, "/").status == .internalServerError)
            }
        }

        @Test(arguments: failureModes)
        func aFailingFilterWithFailureModeOpenIsSkipped(_ mode: String) async throws {
            let filters = try Self.filter("failing", "failure_mode: open, pause_timeout: 200ms, config: {mode: \(mode)}")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .ok, "body: \(response.text)")
                #expect(response.header("x-failing-plugin-ran") == nil, "a failed filter is skipped for the rest of the stream")
                #expect(upstream.requestCount == 1)
            }
        }

        @Test func aFilterThatDoesNotFailRunsNormally() async throws {
            let filters = try Self.filter("failing", "failure_mode: closed")
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .ok)
                #expect(response.header("x-failing-plugin-ran") == "1")
            }
        }

        @Test func bodyUpperRewritesTheBufferedRequestBodyAndStreamsTheResponseBody() async throws {
            let filters = try Self.filter("body_upper")
            try await withProxy(choosing: { head in
                head.method == .POST ? .echo(includeBody: true) : .chunks(count: 3, delay: .milliseconds(20))
            }, yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters)) }) { upstream, gw in
                let payload = "hello, gateway! " + String(repeating: "abc", count: 20_000)
                _ = try await gw.send(.POST, "/upper", body: .string(payload))
                let seen = try #require(upstream.lastRequest)
                #expect(seen.bodyText == payload.uppercased())
                #expect(seen.header("content-length") == String(payload.utf8.count))

                // chunk-0\nchunk-1\n...: every 'x' would become 'y'; "chunk" has none, so send x's via the echo.
                let streamed = try await gw.send(.GET, "/stream")
                #expect(streamed.header("x-body-upper") == "1")
                #expect(streamed.text == "chunk-0\nchunk-1\nchunk-2\n")

                let echoed = try await gw.send(.POST, "/x", body: .string("xox"))
                let body = try echoed.json()["body"] as? String
                #expect(body == "XOX", "the upstream got the upper-cased body")
                #expect(echoed.text.contains("\"y-forwarded-for\""), "the response's x's became y's: \(echoed.text)")
                #expect(!echoed.text.contains("x-"))
            }
        }

        @Test func kvMetaCountsAcrossRequestsAndSharesMetadataBetweenHooks() async throws {
            let filters = try Self.filter("kv_meta")
            let routes = """
                  - name: counted
                    match: {prefix: /}
                    upstream: up
                    filters: \(filters)
                """
            try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: routes) }) { upstream, gw in
                var hits: [Int] = []
                let client = try await gw.client()
                for _ in 0..<3 {
                    let response = try await client.request(.GET, "/", headers: [("x-request-id", "req-\(hits.count)")])
                    #expect(response.header("x-meta-seen") == "yes")
                    let seen = try #require(upstream.lastRequest)
                    hits.append(try #require(seen.header("x-hits").flatMap { Int($0) }))
                    #expect(seen.header("x-route") == "counted")
                    #expect(seen.header("x-seen-request-id") == "req-\(hits.count - 1)")
                }
                await client.close()
                #expect(hits.count == 3)
                #expect(hits[1] == hits[0] + 1 && hits[2] == hits[1] + 1, "hits: \(hits)")
            }
        }

        @Test func aPluginCallsOutOverHTTPRecordsMetricsAndResumesWithTheAnswer() async throws {
            try await withUpstream(.fixed(200, body: "token-ok")) { authority in
                let filters = try Self.filter("callout_metrics", "config: {url: \"http://127.0.0.1:\(authority.port)/check\"}")
                let routes = """
                      - name: called
                        match: {prefix: /}
                        upstream: up
                        filters: \(filters)
                    """
                try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: routes) }) { upstream, gw in
                    for _ in 0..<2 {
                        let response = try await gw.send(.GET, "/resource")
                        #expect(response.status == .ok)
                        let seen = try #require(upstream.lastRequest)
                        #expect(seen.header("x-callout-status") == "200")
                        #expect(seen.header("x-callout-body") == "token-ok")
                    }
                    #expect(authority.requestCount == 2)
                    let metrics = try await gw.admin(.GET, "/metrics").text
                    #expect(metrics.contains("gw_plugin_fixture_requests_total{route=\"called\"} 2"), "\(metrics)")
                }
                // The call-out target is down: the plugin sees a connect failure and still resumes.
                await authority.stop()
                try await withProxy(.echo, yaml: { gatewayYAML(upstreamPort: $0, routes: routes) }) { upstream, gw in
                    let response = try await gw.send(.GET, "/")
                    #expect(response.status == .ok)
                    #expect(upstream.lastRequest?.header("x-callout-result") == "2")
                }
            }
        }

        @Test func sseTagRewritesAndDropsServerSentEvents() async throws {
            let events = [
                "data: hello\n\n",
                "event: note\ndata: a\ndata: b\n\n",
                "data: [DROP]\n\n",
                ": just a comment\n\n",
                "id: 5\r\ndata: last\r\n\r\n",
            ]
            let filters = try Self.filter("sse_tag")
            try await withProxy(.sse(events: events, delay: .milliseconds(40)), yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters))
            }) { _, gw in
                let response = try await gw.send(.GET, "/events")
                #expect(response.status == .ok)
                #expect(response.header("content-type") == "text/event-stream")
                #expect(response.text == "data: tagged:hello\n\nevent: note\ndata: tagged:a\ndata: b\n\n: just a comment\n\ndata: tagged:last\n\n")
                #expect(response.bodyParts.count >= 3, "events are forwarded as they come, not buffered")
            }
        }

        @Test func sseTagLeavesNonEventStreamResponsesAlone() async throws {
            let filters = try Self.filter("sse_tag")
            try await withProxy(.fixed(200, body: "data: not sse\n\n", headers: [("content-type", "text/plain")]), yaml: {
                gatewayYAML(upstreamPort: $0, routes: proxyRoute(filters: filters))
            }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.text == "data: not sse\n\n")
            }
        }
    }
}
