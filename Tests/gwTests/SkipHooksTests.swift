import CGatewayPlugin
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import PluginHost
@testable import gw

extension EndToEnd {
    /// `config_skip_hooks` (ABI 1.2): a filter declares, per config, hooks it does
    /// without, and the host never calls them for its streams.
    @Suite struct SkipHooks {
        static func yaml(_ upstreamPort: Int, plugin: String, skip: UInt64) -> String {
            gatewayYAML(upstreamPort: upstreamPort, routes: proxyRoute(filters: "[{plugin: \(plugin), config: {skip: \(skip)}}]"))
        }

        /// One POST of "aaaa" answered "xxxx"; what the upstream and the client saw.
        static func exchange(skip: UInt64) async throws -> (upstream: TestUpstream.Request, response: TestResponse) {
            let plugin = try FixturePlugins.fixture("skip_hooks")
            var result: (TestUpstream.Request, TestResponse)?
            try await withProxy(.fixed(200, body: "xxxx"), yaml: { Self.yaml($0, plugin: plugin, skip: skip) }) { upstream, gw in
                let response = try await gw.send(.POST, "/", body: .string("aaaa"))
                result = (try #require(upstream.lastRequest), response)
            }
            return try #require(result)
        }

        @Test func everyHookRunsWhenNoneIsSkipped() async throws {
            let (seen, response) = try await Self.exchange(skip: 0)
            #expect(response.status == .ok)
            #expect(seen.header("x-skip-request-headers") == "1")
            // Called from a hook, config_skip_hooks is refused and the response hooks still run.
            #expect(seen.header("x-skip-late-call") == "wrong-context")
            #expect(seen.bodyText == "bbbb")
            #expect(response.header("x-skip-response-headers") == "1")
            #expect(response.text == "yyyy")
        }

        @Test func skippedBodyHooksLeaveBodiesUntouchedAndHeaderHooksStillRun() async throws {
            let (seen, response) = try await Self.exchange(skip: UInt64(GW_HOOK_REQUEST_BODY | GW_HOOK_RESPONSE_BODY))
            #expect(response.status == .ok)
            #expect(seen.header("x-skip-request-headers") == "1")
            #expect(seen.bodyText == "aaaa")
            #expect(response.header("x-skip-response-headers") == "1")
            #expect(response.text == "xxxx")
        }

        @Test func skippedHeaderHooksAreNotCalledAndBodyHooksStillRun() async throws {
            let (seen, response) = try await Self.exchange(skip: UInt64(GW_HOOK_REQUEST_HEADERS | GW_HOOK_RESPONSE_HEADERS))
            #expect(response.status == .ok)
            #expect(seen.header("x-skip-request-headers") == nil)
            #expect(seen.bodyText == "bbbb")
            #expect(response.header("x-skip-response-headers") == nil)
            #expect(response.text == "yyyy")
        }

        @Test func aLargeDownloadStreamsPastAFilterThatSkipsItsBodyHook() async throws {
            let plugin = try FixturePlugins.fixture("skip_hooks")
            let size = 8 << 20
            try await withProxy(.download(bytes: size), yaml: {
                Self.yaml($0, plugin: plugin, skip: UInt64(GW_HOOK_RESPONSE_BODY))
            }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .ok)
                #expect(response.header("x-skip-response-headers") == "1")
                #expect(response.bodyLength == size)
                // Unchanged: the hook would have turned every 'x' of the pattern into 'y'.
                #expect(response.bodyIsPattern)
            }
        }

        /// The built-in transform declares, per filter, the hooks its config does not use.
        @Test func transformDeclaresTheHooksItsConfigDoesNotUse() async throws {
            let path = try writeConfig(
                """
                upstreams:
                  up:
                    targets: [127.0.0.1:9]
                routes:
                  - name: headers-only
                    match: {prefix: /a}
                    upstream: up
                    filters:
                      - plugin: transform
                        config: {response: {headers: {add: {x-a: "1"}}}}
                  - name: with-body-edits
                    match: {prefix: /b}
                    upstream: up
                    filters:
                      - plugin: transform
                        config: {request: {body: {remove: ["/user"]}}, response: {body: {remove: ["/internal"]}}}
                """)
            let gateway = try Gateway.build(GatewayOptions(configFile: path, logLevel: .critical, eventLoops: 1))
            let routes = gateway.currentState().routes.routes
            let headersOnly = try #require(routes.first { $0.name == "headers-only" }?.chain.filters.first)
            #expect(headersOnly.table.on_request_headers == nil)
            #expect(headersOnly.table.on_response_headers != nil)
            #expect(!headersOnly.usesRequestBody)
            #expect(!headersOnly.usesResponseBody)
            let bodyEdits = try #require(routes.first { $0.name == "with-body-edits" }?.chain.filters.first)
            #expect(bodyEdits.table.on_request_headers != nil)
            #expect(bodyEdits.usesRequestBody)
            #expect(bodyEdits.usesResponseBody)
            await gateway.shutdown()
        }

        /// prompt_template with a raw answer (the default) skips the response body and
        /// SSE event hooks; a simplified answer needs them.
        @Test func promptTemplateSkipsResponseBodyHooksForARawAnswer() async throws {
            func route(_ name: String, _ response: String) -> String {
                """
                  - name: \(name)
                    match: {prefix: /\(name)}
                    upstream: up
                    filters:
                      - plugin: prompt_template
                        config:
                          name: \(name)
                          version: "1"
                          model: fast
                          response: \(response)
                          messages: [{role: user, content: "Summarize {{text}}"}]
                          variables: {text: {type: string, required: true}}
                """
            }
            let path = try writeConfig(
                """
                upstreams:
                  up:
                    targets: [127.0.0.1:9]
                routes:
                \(route("raw", "raw"))
                \(route("simple", "simple"))
                """)
            let gateway = try Gateway.build(GatewayOptions(configFile: path, logLevel: .critical, eventLoops: 1))
            let routes = gateway.currentState().routes.routes
            let raw = try #require(routes.first { $0.name == "raw" }?.chain.filters.first)
            #expect(!raw.usesResponseBody)
            #expect(!raw.usesSSE)
            #expect(raw.usesRequestBody)
            let simple = try #require(routes.first { $0.name == "simple" }?.chain.filters.first)
            #expect(simple.usesResponseBody)
            #expect(simple.usesSSE)
            await gateway.shutdown()
        }
    }
}
