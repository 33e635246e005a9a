import GatewayTestSupport
import Testing

@testable import gw

/// Each built-in plugin refuses a bad config at load (`gw check`, start, reload) with
/// every problem named by its key path, collected into the filter's config issue.
@Suite struct BuiltinPluginConfigTests {
    /// The one issue `Gateway.build` reports for a route whose only filter is `plugin`
    /// with `config` (YAML, indented for the `config:` block).
    static func configIssue(plugin: String, config: String) async throws -> ConfigIssue {
        let (path, issues) = try await ConfigErrorTests.buildIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: r
                upstream: up
                filters:
                  - plugin: \(plugin)
                    config:
            \(config.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n"))
            """)
        #expect(issues.count == 1, "\(issues.map(\.description))")
        let issue = try #require(issues.first)
        #expect(issue.file == path)
        #expect(issue.line == 8)
        #expect(issue.keyPath == "routes[0].filters[0].config")
        #expect(issue.message.contains("plugin \(plugin) rejected its config"), "\(issue.message)")
        return issue
    }

    static func expectMessages(_ issue: ConfigIssue, _ messages: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for message in messages {
            #expect(issue.message.contains(message), "missing \"\(message)\" in: \(issue.message)", sourceLocation: sourceLocation)
        }
        #expect(issue.message.components(separatedBy: "; ").count == messages.count, "\(issue.message)", sourceLocation: sourceLocation)
    }

    @Test func authNamesEveryBadKey() async throws {
        let issue = try await Self.configIssue(plugin: "auth", config: """
            keys:
              - {key: sk-a, consumer: alice}
              - {key: "", consumer: bob}
              - {key: "sha256:abc", consumer: carol}
              - {key: sk-a, consumer: dave}
              - {consumer: erin, secret: x}
              - {key: "has space", consumer: ""}
            header: "bad header"
            allowed_consumers: [alice, zed]
            colour: red
            """)
        Self.expectMessages(issue, [
            "colour: unknown key (expected one of: allowed_consumers, header, jwt, keys, query_param)",
            "header: \"bad header\" is not a valid header name",
            "keys[1].key: must not be empty",
            "keys[2].key: a sha256: key needs exactly 64 hex digits",
            "keys[3].key: the same key as keys[0].key",
            "keys[4].secret: unknown key (expected one of: consumer, key, tenant)",
            "keys[4].key: missing",
            "keys[5].key: must not contain spaces or control characters",
            "keys[5].consumer: must not be empty",
            "allowed_consumers[1]: unknown consumer \"zed\"",
        ])
    }

    @Test func authNeedsKeys() async throws {
        let issue = try await Self.configIssue(plugin: "auth", config: "{query_param: 5}")
        Self.expectMessages(issue, ["query_param: expected a string, got a number", "keys: missing"])
    }

    @Test func rateLimitNamesEveryBadLimit() async throws {
        let issue = try await Self.configIssue(plugin: "rate_limit", config: """
            limits:
              - {requests: 0, per: minute}
              - {requests: 5, per: fortnight}
              - {per: second}
              - {requests: 2.5, per: hour, burst: 3, colour: red}
            key: "header:"
            """)
        Self.expectMessages(issue, [
            "limits[0].requests: must be between 1 and 1000000, got 0",
            "limits[1].per: expected second, minute, hour or day, got \"fortnight\"",
            "limits[2].requests: missing",
            "limits[3].colour: unknown key (expected one of: burst, per, requests)",
            "limits[3].requests: expected an integer, got a number",
            "key: \"\" is not a valid header name",
        ])
    }

    @Test func rateLimitNeedsLimitsAndAKnownKey() async throws {
        let issue = try await Self.configIssue(plugin: "rate_limit", config: "{key: user}")
        Self.expectMessages(issue, [
            "limits: missing", "key: expected consumer, client_ip, route or header:<name>, got \"user\"",
        ])
    }

    @Test func transformNamesEveryBadOperation() async throws {
        let issue = try await Self.configIssue(plugin: "transform", config: """
            request:
              headers:
                set: {"bad name": v, x-ok: "a\\r\\nx-injected: 1"}
                remove: [Content-Length]
                rename: {x-same: X-Same}
              query: {add: notamap}
              colour: red
            response:
              headers: {add: {x-n: [1]}}
              status_map: {"abc": 410, "404": 1000}
            """)
        Self.expectMessages(issue, [
            "request.colour: unknown key (expected one of: body, headers, path, query)",
            "request.headers.set.bad name: \"bad name\" is not a valid header name",
            "request.headers.set.x-ok: the value must not contain CR, LF or NUL",
            "request.headers.remove[0]: content-length cannot be changed",
            "request.headers.rename.x-same: renames a header to itself",
            "request.query.add: expected an object, got a string",
            "response.headers.add.x-n: expected a string, got a list",
            "response.status_map.404: must be between 200 and 599, got 1000",
            "response.status_map.abc: \"abc\" is not a status code between 200 and 599",
        ])
    }
}
