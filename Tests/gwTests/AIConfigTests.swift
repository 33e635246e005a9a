import Testing

@testable import gw

/// The `ai:` section's problems are named with file, line and key path, like every other.
@Suite struct AIConfigTests {
    static let base = """
        version: 1
        listeners: [{name: main, address: "127.0.0.1:0"}]
        ai:
          providers:
            good: {type: openai, base_url: "http://127.0.0.1:9/v1", api_key: "env:GW_TEST_SURELY_UNSET_KEY"}
            bad: {type: openia}
            inline: {type: anthropic, api_key: sk-ant-secret}
          models:
            - name: m
              deployments: [{provider: nowhere, model: x}]
              fallbacks: [missing]
          routing: {retry_on: [teapot]}
        routes:
          - name: r
            match: {prefix: /v1/}
            ai: {models: [ghost], endpoint: chat2}

        """

    @Test func everyAIProblemIsReportedWithItsKeyPath() {
        let issues = ConfigErrorTests.parseIssues(Self.base)
        ConfigErrorTests.expectIssue(issues, line: 6, keyPath: "ai.providers.bad.type", message: "unknown provider type \"openia\"")
        ConfigErrorTests.expectIssue(issues, line: 7, keyPath: "ai.providers.inline.api_key", message: "env:VARIABLE or file:/path")
        ConfigErrorTests.expectIssue(issues, line: 10, keyPath: "ai.models.m.deployments", message: "unknown provider \"nowhere\"")
        ConfigErrorTests.expectIssue(issues, line: 9, keyPath: "ai.models.m.fallbacks", message: "unknown model \"missing\"")
        ConfigErrorTests.expectIssue(issues, line: 12, keyPath: "ai.routing.retry_on[0]", message: "unknown condition \"teapot\"")
        ConfigErrorTests.expectIssue(issues, line: 16, keyPath: "routes[0].ai.endpoint", message: "must be chat")
        #expect(!issues.contains { $0.description.contains("sk-ant-secret") }, "a key written inline is never echoed")
    }

    @Test func aMissingKeyVariableIsAnErrorAtBuildTime() async throws {
        let yaml = """
            version: 1
            listeners: [{name: main, address: "127.0.0.1:0"}]
            admin: off
            ai:
              providers:
                p: {type: openai, base_url: "http://127.0.0.1:9/v1", api_key: "env:GW_TEST_SURELY_UNSET_KEY"}
              models:
                - name: m
                  deployments: [{provider: p, model: x}]
            routes:
              - name: r
                match: {prefix: /v1/}
                ai: {}

            """
        let (_, issues) = try await ConfigErrorTests.buildIssues(yaml)
        #expect(issues.contains { $0.keyPath.hasSuffix(".api_key") && $0.message.contains("GW_TEST_SURELY_UNSET_KEY is not set") })
    }

    @Test func anAIRouteWithoutAnAISectionIsRefused() {
        let issues = ConfigErrorTests.parseIssues("""
            version: 1
            routes:
              - name: r
                match: {prefix: /v1/}
                ai: {}

            """)
        #expect(issues.contains { $0.keyPath == "ai" && $0.message.contains("no ai: section") })
    }
}
