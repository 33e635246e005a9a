import GatewayTestSupport
import Testing

@testable import gw

/// Every config problem names the file, the line and the key path; problems are
/// collected and reported together.
@Suite struct ConfigErrorTests {
    static let file = "/etc/gw/test.yaml"

    /// The issues `ConfigLoader.parse` reports for `yaml` (none: a test failure).
    static func parseIssues(_ yaml: String) -> [ConfigIssue] {
        do {
            _ = try ConfigLoader.parse(yaml, file: file)
            Issue.record("expected the config to be refused")
            return []
        } catch {
            return error.issues
        }
    }

    /// The issues `Gateway.build` (what `gw run` and `gw check` call) reports for a file.
    static func buildIssues(_ yaml: String) async throws -> (path: String, issues: [ConfigIssue]) {
        let path = try writeConfig(yaml)
        do {
            let gateway = try Gateway.build(GatewayOptions(configFile: path, logLevel: .critical, eventLoops: 1))
            await gateway.shutdown()
            Issue.record("expected the config to be refused")
            return (path, [])
        } catch let error as ConfigError {
            return (path, error.issues)
        }
    }

    /// Assert one issue at `line` with `keyPath` whose message contains `message`,
    /// and that its description reads "file:line: keyPath: message".
    static func expectIssue(
        _ issues: [ConfigIssue], file: String = file, line: Int, keyPath: String, message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let issue = issues.first(where: { $0.keyPath == keyPath }) else {
            Issue.record("no issue for \(keyPath) in \(issues.map(\.description))", sourceLocation: sourceLocation)
            return
        }
        #expect(issue.file == file, sourceLocation: sourceLocation)
        #expect(issue.line == line, "\(issue)", sourceLocation: sourceLocation)
        #expect(issue.message.contains(message), "\(issue)", sourceLocation: sourceLocation)
        #expect(issue.description.hasPrefix("\(file):\(line): \(keyPath): "), "\(issue)", sourceLocation: sourceLocation)
    }

    @Test func anUnknownKeyIsReportedWithItsLineAndPath() {
        let issues = Self.parseIssues("""
            version: 1
            listeners:
              - name: main
                address: 127.0.0.1:0
                protocol: http
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, line: 5, keyPath: "listeners[0].protocol", message: "unknown key (expected one of: address, name, tls, trusted_proxies)")
    }

    @Test func aTrustedProxyThatIsNoAddressRangeIsReportedWithItsLine() {
        let issues = Self.parseIssues("""
            version: 1
            listeners:
              - name: main
                address: 127.0.0.1:0
                trusted_proxies:
                  - 10.0.0.0/8
                  - lb.internal
                  - 10.0.0.1/8
                  - 192.168.0.0/33
                  - "::1/129"
                  - 2001:db8::/32
            """)
        #expect(issues.count == 4, "\(issues)")
        Self.expectIssue(
            issues, line: 7, keyPath: "listeners[0].trusted_proxies[1]",
            message: "expected an IP address or a CIDR block (10.0.0.0/8, 2001:db8::/32), got \"lb.internal\"")
        Self.expectIssue(
            issues, line: 8, keyPath: "listeners[0].trusted_proxies[2]",
            message: "\"10.0.0.1/8\" has bits set past its prefix; did you mean 10.0.0.0/8?")
        Self.expectIssue(issues, line: 9, keyPath: "listeners[0].trusted_proxies[3]", message: "the prefix after / must be 0–32")
        Self.expectIssue(issues, line: 10, keyPath: "listeners[0].trusted_proxies[4]", message: "the prefix after / must be 0–32")
    }

    @Test func aValueOfTheWrongTypeIsReported() {
        let issues = Self.parseIssues("""
            version: 1
            limits:
              max_headers: lots
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, line: 3, keyPath: "limits.max_headers", message: "expected an integer")
    }

    @Test func aBadDurationIsReported() {
        let issues = Self.parseIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
                first_byte_timeout: 5 parsecs
            routes:
              - name: r
                upstream: up
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, line: 4, keyPath: "upstreams.up.first_byte_timeout", message: "expected a duration")
    }

    @Test func aRouteToAnUnknownUpstreamIsReportedAtTheRoute() {
        let issues = Self.parseIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: good
                upstream: up
              - name: lost
                match: {prefix: /lost}
                upstream: nowhere
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, line: 7, keyPath: "routes.lost.upstream", message: "unknown upstream \"nowhere\"")
    }

    @Test func severalProblemsAreReportedTogether() {
        let issues = Self.parseIssues("""
            version: 1
            listners: []
            limits:
              max_body_bytes: huge
            upstreams:
              up:
                targets: [127.0.0.1:9]
                connect_timeout: soon
            routes:
              - name: r
                upstream: missing
            """)
        #expect(issues.count == 4, "\(issues.map(\.description))")
        Self.expectIssue(issues, line: 2, keyPath: "listners", message: "unknown key")
        Self.expectIssue(issues, line: 4, keyPath: "limits.max_body_bytes", message: "expected a size")
        Self.expectIssue(issues, line: 8, keyPath: "upstreams.up.connect_timeout", message: "expected a duration")
        Self.expectIssue(issues, line: 10, keyPath: "routes.r.upstream", message: "unknown upstream \"missing\"")
    }

    @Test func aBadRegexIsReportedWithThePCRE2Message() async throws {
        let (path, issues) = try await Self.buildIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: broken
                match: {regex: "^/(unclosed"}
                upstream: up
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, file: path, line: 5, keyPath: "routes[0].match.regex", message: "invalid regex at offset")
    }

    @Test func aPluginConfigRejectedByThePluginIsReportedWithThePluginsMessage() async throws {
        let plugin = try FixturePlugins.fixture("reject_config")
        let (path, issues) = try await Self.buildIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: limited
                upstream: up
                filters:
                  - plugin: \(plugin)
                    config: {limit: 0}
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, file: path, line: 8, keyPath: "routes[0].filters[0].config", message: "limit must be a positive integer")
        #expect(issues.first?.message.contains(plugin) == true, "the message names the plugin file")
    }

    @Test func aMissingPluginIsReportedAtItsFilter() async throws {
        let (path, issues) = try await Self.buildIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: r
                upstream: up
                filters:
                  - name: first
                    plugin: no_such_plugin_anywhere
            """)
        #expect(issues.count == 1)
        Self.expectIssue(issues, file: path, line: 8, keyPath: "routes[0].filters[0].plugin", message: "no libgw_no_such_plugin_anywhere.so on the plugin path")
    }

    @Test func pluginAndRegexProblemsAreReportedTogether() async throws {
        let reject = try FixturePlugins.fixture("reject_config")
        let (path, issues) = try await Self.buildIssues("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: a
                match: {regex: "(["}
                upstream: up
              - name: b
                upstream: up
                filters:
                  - plugin: \(reject)
                    config: {limit: -3}
                  - plugin: ./missing.so
            """)
        #expect(issues.count == 3, "\(issues.map(\.description))")
        Self.expectIssue(issues, file: path, line: 5, keyPath: "routes[0].match.regex", message: "invalid regex")
        Self.expectIssue(issues, file: path, line: 11, keyPath: "routes[1].filters[0].config", message: "limit must be a positive integer")
        Self.expectIssue(issues, file: path, line: 13, keyPath: "routes[1].filters[1].plugin", message: "file not found")
    }
}
