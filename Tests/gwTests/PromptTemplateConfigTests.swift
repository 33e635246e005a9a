import GatewayTestSupport
import Testing

@testable import gw

/// The prompt_template filter refuses a bad template at load (`gw check`, start,
/// reload), naming every problem by its key path.
@Suite struct PromptTemplateConfigTests {
    @Test func everyProblemOfATemplateIsNamedByItsKeyPath() async throws {
        let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "prompt_template", config: """
            name: "sum marize"
            model: fast
            response: fancy
            allow_stream: "yes"
            max_body_bytes: 0
            colour: red
            params: {temperature: 3, max_tokens: 0, temprature: 1, stream: true, stop: [a, b, c, d, e]}
            messages:
              - {role: narrator, content: "Hello {{name}}"}
              - {role: user, content: "Unclosed {{text"}
              - {role: user, content: "Bad {{ first-name }}"}
              - {role: user, content: "{{text}} and {{undeclared}}", extra: 1}
              - {content: ""}
            variables:
              text: {type: string, max_length: 0}
              name: {type: text}
              unused: {type: string}
              level: {type: integer, values: [a], max_length: 3}
              mood: {type: enum}
              colour: {type: enum, values: [red, green], default: blue}
              shade: {type: enum, values: [dark, dark]}
              count: {type: integer, default: 1.5}
              flag: {type: boolean, required: true, default: true}
              stream: {type: boolean}
              2fast: {type: string}
            """)
        BuiltinPluginConfigTests.expectMessages(issue, [
            "colour: unknown key (expected one of: allow_stream, description, max_body_bytes, messages, model, name, params, path, response, variables, version)",
            "name: \"sum marize\" is not a valid prompt name",
            "version: missing",
            "response: expected raw or simple, got \"fancy\"",
            "allow_stream: expected true or false, got a string",
            "max_body_bytes: must be between 2 and 10485760, got 0",
            "params.max_tokens: must be between 1 and 1000000, got 0",
            "params.stop: at most 4 stop sequences, got 5",
            "params.stream: set by the template (use model:, messages: and allow_stream:), not by params",
            "params.temperature: must be between 0 and 2, got 3",
            "params.temprature: unknown parameter (expected one of: frequency_penalty, max_completion_tokens, max_tokens",
            "messages[0].role: expected system, user or assistant, got \"narrator\"",
            "messages[1].content: unclosed placeholder at byte 9",
            "messages[2].content: invalid placeholder \"{{ first-name }}\"",
            "messages[3].extra: unknown key (expected one of: content, role)",
            "messages[4].role: missing",
            "messages[4].content: must not be empty",
            "variables.2fast: \"2fast\" is not a valid variable name",
            "variables.shade.values[1]: duplicate value \"dark\"",
            "variables.colour.default: expected one of: \"red\", \"green\"",
            "variables.count.default: expected an integer, got 1.5",
            "variables.flag.default: a required variable never uses its default",
            "variables.level.values: only for type enum",
            "variables.level.max_length: only for type string",
            "variables.mood.values: missing (the allowed values of an enum)",
            "variables.name.type: expected one of string, number, integer, boolean, enum, got \"text\"",
            "variables.stream: \"stream\" is reserved",
            "variables.text.max_length: must be between 1 and 1000000, got 0",
            "messages[3].content: {{undeclared}} is not a declared variable (declared: 2fast, colour, count, flag, level, mood, name, shade, stream, text, unused)",
            "variables.colour: declared but not used in any message",
            "variables.count: declared but not used in any message",
            "variables.flag: declared but not used in any message",
            "variables.level: declared but not used in any message",
            "variables.mood: declared but not used in any message",
            "variables.shade: declared but not used in any message",
            "variables.unused: declared but not used in any message",
        ])
    }

    @Test func aTemplateNeedsANameAVersionAModelAndMessages() async throws {
        let issue = try await BuiltinPluginConfigTests.configIssue(plugin: "prompt_template", config: "{path: relative}")
        BuiltinPluginConfigTests.expectMessages(issue, [
            "name: missing", "version: missing", "model: missing", "messages: missing (a list of {role, content})",
            "path: expected an absolute path such as /apis/summarize",
        ])
    }

    @Test func gwCheckPrintsTheTemplateErrorsWithFileLineAndKeyPath() throws {
        let path = try writeConfig("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: summarize
                upstream: up
                filters:
                  - plugin: prompt_template
                    config:
                      name: summarize
                      version: "1"
                      model: fast
                      messages: [{role: user, content: "Summarize {{txet}}"}]
                      variables: {text: {type: string, required: true}}
            """)
        let output = try CheckCommandTests.run(["check", "--config", path])
        #expect(output.status == 1)
        #expect(output.stderr.contains("\(path):8: routes[0].filters[0].config: "), "stderr: \(output.stderr)")
        #expect(output.stderr.contains("messages[0].content: {{txet}} is not a declared variable (declared: text)"), "stderr: \(output.stderr)")
        #expect(output.stderr.contains("variables.text: declared but not used in any message"), "stderr: \(output.stderr)")

        let good = try writeConfig("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: summarize
                upstream: up
                filters:
                  - plugin: prompt_template
                    config:
                      name: summarize
                      version: "1"
                      model: fast
                      messages: [{role: user, content: "Summarize {{text}}"}]
                      variables: {text: {type: string, required: true}}
            """)
        let ok = try CheckCommandTests.run(["check", "--config", good])
        #expect(ok.status == 0, "stderr: \(ok.stderr)")
        #expect(ok.stdout.contains("OK"), "stdout: \(ok.stdout)")
    }
}
