import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// `transform`'s PCRE2 path rewrite and JSON body edits, through the running gateway.
    @Suite struct TransformBodies {
        static func yaml(_ upstreamPort: Int, config: String, limits: String = "") -> String {
            gatewayYAML(
                upstreamPort: upstreamPort, limits: limits,
                routes: proxyRoute(name: "transformed-body", filters: "[{plugin: transform, config: \(config)}]"))
        }

        static let json = [("content-type", "application/json")]

        /// What the echo upstream saw: the body as text, and its headers.
        static func echoed(_ response: TestResponse) throws -> (body: String, headers: [String: String]) {
            let object = try response.json()
            return (object["body"] as? String ?? "", object["headers"] as? [String: String] ?? [:])
        }

        // MARK: - Path

        @Test func thePathIsRewrittenWithNumberedAndNamedCaptures() async throws {
            let config = #"{request: {path: {regex: "^/v1/(?<tenant>[a-z]+)/(.*)$", replace: "/api/$2/${tenant}/$$/${1}"}, query: {add: {via: gw}}}}"#
            try await withProxy(.echo, yaml: { Self.yaml($0, config: config) }) { upstream, gw in
                let rewritten = try await gw.send(.GET, "/v1/acme/users/7?x=1")
                #expect(rewritten.status == .ok)
                #expect(upstream.lastRequest?.head.uri == "/api/users/7/acme/$/acme?x=1&via=gw")
                // No match: unchanged.
                #expect(try await gw.send(.GET, "/v2/acme/users").status == .ok)
                #expect(upstream.lastRequest?.head.uri == "/v2/acme/users?via=gw")
                #expect(try await gw.send(.GET, "/v1/ACME/users").status == .ok)
                #expect(upstream.lastRequest?.head.uri == "/v1/ACME/users?via=gw")
            }
        }

        @Test func anOptionalGroupThatDidNotMatchIsEmpty() async throws {
            let config = #"{request: {path: {regex: "^/old(/v(\\d+))?(/.*)$", replace: "/new$3?v=$2"}}}"#
            // "?" is refused in the template (it rewrites the path only).
            let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "transform", config: config)
            BuiltinPluginConfigTests.expectMessages(issue, ["request.path.replace: must not contain \"?\""])
            let good = #"{request: {path: {regex: "^/old(/v(\\d+))?(/.*)$", replace: "/new$3/v$2"}}}"#
            try await withProxy(.echo, yaml: { Self.yaml($0, config: good) }) { upstream, gw in
                _ = try await gw.send(.GET, "/old/v2/x")
                #expect(upstream.lastRequest?.head.uri == "/new/x/v2")
                _ = try await gw.send(.GET, "/old/x")
                #expect(upstream.lastRequest?.head.uri == "/new/x/v")
            }
        }

        // MARK: - Request bodies

        static let editConfig = """
            {request: {body: {set: {"/model": "gpt-4o-mini", "/metadata/source": gw, "/n": 2}, remove: ["/user", "/messages/0"], \
            rename: {"/max_tokens": "/max_completion_tokens"}}}}
            """

        @Test func aJSONRequestBodyIsEditedAndItsLengthFixed() async throws {
            try await withProxy(.echo(includeBody: true), yaml: { Self.yaml($0, config: Self.editConfig) }) { upstream, gw in
                let body = #"{"model":"gpt-4o","max_tokens":10,"user":"u-1","id":12345678901234567890,"messages":[{"role":"system"},{"role":"user","content":"hé \"quoted\""}],"price":1.10}"#
                let response = try await gw.send(.POST, "/chat", headers: Self.json, body: .string(body))
                #expect(response.status == .ok)
                let seen = try Self.echoed(response)
                // Order kept, big integer and number text kept, edits applied: remove, rename, set.
                #expect(
                    seen.body
                        == #"{"model":"gpt-4o-mini","id":12345678901234567890,"messages":[{"role":"user","content":"hé \"quoted\""}],"price":1.10,"max_completion_tokens":10,"metadata":{"source":"gw"},"n":2}"#
                )
                #expect(seen.headers["content-length"] == String(seen.body.utf8.count))

                // A chunked JSON body is buffered, edited, and sent with a Content-Length.
                let chunked = try await gw.send(
                    .POST, "/chat", headers: [("content-type", "application/json; charset=utf-8")],
                    body: .chunked([#"{"model":"x","#, #""user":"u"}"#], delay: .milliseconds(10)))
                let seenChunked = try Self.echoed(chunked)
                #expect(seenChunked.body == #"{"model":"gpt-4o-mini","metadata":{"source":"gw"},"n":2}"#)
                #expect(seenChunked.headers["content-length"] == String(seenChunked.body.utf8.count))
                #expect(seenChunked.headers["transfer-encoding"] == nil)
                #expect(upstream.requestCount == 2)
            }
        }

        @Test func aBodyThatNeedsNoEditIsForwardedAsSent() async throws {
            let config = #"{request: {body: {remove: ["/absent"]}}}"#
            try await withProxy(.echo(includeBody: true), yaml: { Self.yaml($0, config: config) }) { _, gw in
                let body = "{ \"kept\" : [1, 2],\n \"spacing\": true }"
                let seen = try Self.echoed(try await gw.send(.POST, "/", headers: Self.json, body: .string(body)))
                #expect(seen.body == body, "not re-serialised when nothing changed")
            }
        }

        @Test func otherContentTypesAndEncodedBodiesStreamUntouched() async throws {
            try await withProxy(.echo(includeBody: true), yaml: { Self.yaml($0, config: Self.editConfig) }) { _, gw in
                let text = #"{"model":"gpt-4o","user":"u"}"#
                for headers in [[("content-type", "text/plain")], [], [("content-type", "application/json"), ("content-encoding", "gzip")]] {
                    let seen = try Self.echoed(try await gw.send(.POST, "/", headers: headers, body: .string(text)))
                    #expect(seen.body == text, "\(headers)")
                }
            }
            try await withProxy(.echo, yaml: { Self.yaml($0, config: Self.editConfig, limits: "{buffer_bytes: 64KiB}") }) { upstream, gw in
                // 8 MiB that is not JSON passes a 64 KiB buffer limit: it is never buffered.
                let big = try await gw.send(.POST, "/", headers: [("content-type", "application/octet-stream")], body: .pattern(length: 8 << 20))
                #expect(big.status == .ok)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.bodyLength == 8 << 20 && seen.bodyIsPattern)
            }
        }

        @Test func invalidJSONPassesUnchangedOrIsRefused() async throws {
            let invalid = [#"{"model": "x",}"#, "not json", #"{"a":1,"a":2}"#, "{\"s\":\"\u{1}\"}", "[1] [2]"]
            try await withProxy(.echo(includeBody: true), yaml: { Self.yaml($0, config: Self.editConfig) }) { _, gw in
                for body in invalid {
                    let response = try await gw.send(.POST, "/", headers: Self.json, body: .string(body))
                    #expect(response.status == .ok)
                    #expect(try Self.echoed(response).body == body)
                }
                let bytes = Array(#"{"model":""#.utf8) + [0xff, 0xfe] + Array(#""}"#.utf8)
                let binary = try await gw.send(.POST, "/", headers: Self.json, body: .bytes(bytes))
                #expect(binary.status == .ok, "invalid UTF-8 passes unchanged too")
                #expect(try binary.json()["body_length"] as? Int == bytes.count)
            }
            let reject = #"{request: {body: {on_invalid_json: reject, set: {"/a": 1}}}}"#
            try await withProxy(.echo(includeBody: true), yaml: { Self.yaml($0, config: reject) }) { upstream, gw in
                for body in invalid {
                    let response = try await gw.send(.POST, "/", headers: Self.json, body: .string(body))
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(response.errorType == "invalid_json")
                }
                let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
                #expect(try await gw.send(.POST, "/", headers: Self.json, body: .string(deep)).status == .badRequest)
                #expect(upstream.requestCount == 0)
                // Valid JSON passes.
                let ok = try await gw.send(.POST, "/", headers: Self.json, body: .string("{}"))
                #expect(try Self.echoed(ok).body == #"{"a":1}"#)
            }
        }

        @Test func aHugeJSONBodyIsEditedWhole() async throws {
            let config = #"{request: {body: {set: {"/edited": true}}}}"#
            try await withProxy(.echo, yaml: { Self.yaml($0, config: config) }) { _, gw in
                // About 2 MB: 300,000 numbers, buffered whole (under the default 10 MiB limit).
                let huge = "{\"items\":[" + (0..<300_000).map { "\($0)" }.joined(separator: ",") + "]}"
                let response = try await gw.send(.POST, "/", headers: Self.json, body: .string(huge))
                #expect(response.status == .ok)
                let length = try #require(try response.json()["body_length"] as? Int)
                #expect(length == huge.utf8.count + #","edited":true"#.utf8.count)
            }
        }

        @Test func aJSONBodyOverTheBufferLimitGets413() async throws {
            let config = #"{request: {body: {set: {"/edited": true}}}}"#
            try await withProxy(.echo, yaml: { Self.yaml($0, config: config, limits: "{buffer_bytes: 16KiB}") }) { upstream, gw in
                let over = "{\"items\":[" + (0..<10_000).map { "\($0)" }.joined(separator: ",") + "]}"  // 48 KB
                let refused = try await gw.send(.POST, "/", headers: Self.json, body: .string(over))
                #expect(refused.status == .payloadTooLarge)
                #expect(refused.errorType == "body_too_large")
                #expect(upstream.requestCount == 0)
                let under = "{\"items\":[" + (0..<1_000).map { "\($0)" }.joined(separator: ",") + "]}"  // 4 KB
                #expect(try await gw.send(.POST, "/", headers: Self.json, body: .string(under)).status == .ok)
            }
        }

        // MARK: - Response bodies

        @Test func aJSONResponseBodyIsEditedOrRefused() async throws {
            let config = #"{response: {body: {remove: ["/internal"], rename: {"/usage/total": "/usage/total_tokens"}, on_invalid_json: reject}}}"#
            try await withProxy(choosing: { head in
                switch head.uri {
                case "/bad": return .fixed(200, body: "{oops", headers: Self.json)
                case "/text": return .fixed(200, body: "{oops", headers: [("content-type", "text/plain")])
                case "/stream": return .chunks(count: 3, delay: .milliseconds(20))
                default:
                    return .fixed(200, body: #"{"id":"r-1","internal":{"node":7},"usage":{"total":42}}"#, headers: Self.json + [("x-up", "1")])
                }
            }, yaml: { Self.yaml($0, config: config) }) { _, gw in
                let edited = try await gw.send(.GET, "/")
                #expect(edited.status == .ok)
                #expect(edited.text == #"{"id":"r-1","usage":{"total_tokens":42}}"#)
                #expect(edited.header("content-length") == String(edited.text.utf8.count))
                #expect(edited.header("x-up") == "1")

                let bad = try await gw.send(.GET, "/bad")
                #expect(bad.status == .badGateway)
                #expect(bad.errorType == "invalid_upstream_json")

                // HEAD: a JSON content type but no body; nothing to edit, nothing refused.
                let client = try await gw.client()
                let head = try await client.request(.HEAD, "/")
                #expect(head.status == .ok)
                #expect(head.bodyLength == 0)
                #expect(try await client.request(.GET, "/").text == edited.text, "the connection is still in sync")
                await client.close()

                // Not JSON by its type: passed as it is, and a streamed body stays streamed.
                #expect(try await gw.send(.GET, "/text").text == "{oops")
                let streamed = try await gw.send(.GET, "/stream")
                #expect(streamed.text == "chunk-0\nchunk-1\nchunk-2\n")
                #expect(streamed.bodyParts.count >= 2)
            }
        }

        @Test func aLargeResponseThatIsNotJSONStreamsPastResponseEdits() async throws {
            let config = #"{response: {body: {remove: ["/x"]}}}"#
            let size = 16 << 20
            try await withProxy(.download(bytes: size), yaml: { Self.yaml($0, config: config, limits: "{buffer_bytes: 1MiB}") }) { _, gw in
                let response = try await gw.send(.GET, "/")
                #expect(response.status == .ok)
                #expect(response.bodyLength == size)
                #expect(response.bodyIsPattern)
                #expect(response.bodyParts.count > 1)
            }
        }

        // MARK: - Config errors

        @Test func everyPathAndBodyConfigErrorIsNamed() async throws {
            let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "transform", config: #"""
                request:
                  path: {regex: "^/v1/(.*$", replace: "/api/$1"}
                  body:
                    set: {"model": 1, "": 2}
                    remove: ["/a~2b"]
                    rename: {"/a": "/a/b", "/c": 5}
                    on_invalid_json: drop
                    colour: red
                response:
                  body: {}
                """#)
            BuiltinPluginConfigTests.expectMessages(issue, [
                "request.path.regex: invalid regex at offset",
                "request.body.colour: unknown key (expected one of: on_invalid_json, remove, rename, set)",
                "request.body.remove[0]: \"/a~2b\" is not a JSON pointer",
                "request.body.rename./a: /a and /a/b overlap",
                "request.body.rename./c: expected a string, got a number",
                "request.body.set.: the empty pointer is the whole body",
                "request.body.set.model: \"model\" is not a JSON pointer: a JSON pointer starts with \"/\"",
                "request.body.on_invalid_json: expected pass or reject, got \"drop\"",
                "response.body: nothing to do",
            ])
            let templates = try await BuiltinPluginConfigTests.configIssue(plugin: "transform", config: """
                request:
                  path: {regex: "^/v1/(?<rest>.*)$", replace: "api/$2"}
                """)
            BuiltinPluginConfigTests.expectMessages(templates, ["request.path.replace: must start with \"/\""])
            for (replace, message) in [
                ("/api/$2", "$2 refers to a group the regex does not have (it has 1)"),
                ("/api/${nope}", "${nope} names no group of the regex"),
                ("/api/${rest", "\\\"${\\\" without a closing"),
                ("/api/$x", "\\\"$\\\" must be followed by a group number"),
                ("/api/a b", "must not contain a space or control character"),
            ] {
                let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "transform", config: """
                    request:
                      path: {regex: "^/v1/(?<rest>.*)$", replace: "\(replace)"}
                    """)
                BuiltinPluginConfigTests.expectMessages(issue, ["request.path.replace: " + message.replacingOccurrences(of: "\\\"", with: "\"")])
            }
            let missing = try await BuiltinPluginConfigTests.configIssue(plugin: "transform", config: "request: {path: {regex: x}}")
            BuiltinPluginConfigTests.expectMessages(missing, ["request.path.replace: missing"])
        }
    }
}
