import Testing

@testable import AIGateway

@Suite struct TranslationTests {
    static let openAIBody = #"""
        {"model":"gpt-4o","messages":[
          {"role":"system","content":"Be brief."},
          {"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21}"}
        ],
        "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
        "tool_choice":"auto","max_tokens":100,"temperature":0.2,"stream":true,"stream_options":{"include_usage":true},"seed":7}
        """#

    @Test func anOpenAIRequestDecodesIntoTheCanonicalModel() throws {
        let request = try OpenAIRequest.decode(try JSON.parse(Self.openAIBody))
        #expect(request.system == ["Be brief."])
        #expect(request.messages.count == 3)
        #expect(request.messages[1].toolCalls == [ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        #expect(request.messages[2].toolCallID == "call_1")
        #expect(request.tools.first?.name == "get_weather")
        #expect(request.maxTokens == 100 && request.stream && request.streamUsage)
        #expect(request.extra == [JSON.Member("seed", .number("7"))])
    }

    @Test func anOpenAIRequestBecomesAnAnthropicRequestWithToolResultsInTheUserTurn() throws {
        let request = try OpenAIRequest.decode(try JSON.parse(Self.openAIBody))
        let body = AnthropicRequest.encode(request, model: "claude-sonnet-4-5", defaultMaxTokens: 1024)
        #expect(body["system"]?.string == "Be brief.")
        #expect(body["max_tokens"]?.int == 100)
        let messages = try #require(body["messages"]?.array)
        #expect(messages.map { $0["role"]?.string } == ["user", "assistant", "user"])
        #expect(messages[1]["content"]?[0]?["type"]?.string == "tool_use")
        #expect(messages[1]["content"]?[0]?["input"]?["city"]?.string == "Paris")
        #expect(messages[2]["content"]?[0]?["type"]?.string == "tool_result")
        #expect(messages[2]["content"]?[0]?["tool_use_id"]?.string == "call_1")
        #expect(body["tools"]?[0]?["input_schema"]?["type"]?.string == "object")
        #expect(body["tool_choice"]?["type"]?.string == "auto")
        #expect(body["seed"] == nil, "OpenAI-only parameters do not reach Anthropic")
    }

    @Test func anOpenAIRequestBecomesAGeminiRequestWithFunctionResponsesByName() throws {
        let request = try OpenAIRequest.decode(try JSON.parse(Self.openAIBody))
        let body = Gemini.encode(request)
        #expect(body["systemInstruction"]?["parts"]?[0]?["text"]?.string == "Be brief.")
        let contents = try #require(body["contents"]?.array)
        #expect(contents.map { $0["role"]?.string } == ["user", "model", "user"])
        #expect(contents[1]["parts"]?[0]?["functionCall"]?["args"]?["city"]?.string == "Paris")
        #expect(contents[2]["parts"]?[0]?["functionResponse"]?["name"]?.string == "get_weather")
        #expect(contents[2]["parts"]?[0]?["functionResponse"]?["response"]?["temp"]?.int == 21)
        #expect(body["generationConfig"]?["maxOutputTokens"]?.int == 100)
    }

    @Test func anAnthropicRequestDecodesAndReEncodesForOpenAI() throws {
        let body = try JSON.parse(#"""
            {"model":"m","max_tokens":50,"system":[{"type":"text","text":"S"}],"messages":[
              {"role":"user","content":"hi"},
              {"role":"assistant","content":[{"type":"text","text":"calling"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"x":1}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"},{"type":"text","text":"thanks"}]}
            ],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"stop_sequences":["END"]}
            """#)
        let request = try AnthropicRequest.decode(body)
        let out = OpenAIRequest.encode(request, model: "gpt-4o", includeUsage: true)
        let messages = try #require(out["messages"]?.array)
        #expect(messages.map { $0["role"]?.string } == ["system", "user", "assistant", "tool", "user"])
        #expect(messages[2]["tool_calls"]?[0]?["function"]?["arguments"]?.string == #"{"x":1}"#)
        #expect(messages[3]["tool_call_id"]?.string == "toolu_1")
        #expect(out["tool_choice"]?.string == "required")
        #expect(out["stop"]?[0]?.string == "END")
    }

    @Test func usageKeepsCachedAndReasoningTokensApart() throws {
        let openAI = OpenAIResponse.decodeUsage(
            try JSON.parse(#"{"prompt_tokens":100,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":20}}"#))
        #expect(openAI == Usage(input: 100, output: 50, cachedInput: 40, cacheWrite: 0, reasoning: 20))
        let anthropic = AnthropicResponse.decodeUsage(
            try JSON.parse(#"{"input_tokens":10,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":7}"#))
        #expect(anthropic == Usage(input: 45, output: 7, cachedInput: 30, cacheWrite: 5, reasoning: 0))
        #expect(AnthropicResponse.encodeUsage(anthropic!)["input_tokens"]?.int == 10)
        let gemini = Gemini.decodeUsage(
            try JSON.parse(#"{"promptTokenCount":12,"candidatesTokenCount":8,"thoughtsTokenCount":4,"cachedContentTokenCount":2}"#))
        #expect(gemini == Usage(input: 12, output: 12, cachedInput: 2, cacheWrite: 0, reasoning: 4))
    }

    @Test func costUsesTheCachedAndCacheWritePrices() {
        let price = Price(input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75)
        let cost = price.cost(Usage(input: 1_000_000, output: 1_000_000, cachedInput: 500_000, cacheWrite: 100_000))
        #expect(abs(cost - (0.4 * 3 + 0.5 * 0.3 + 0.1 * 3.75 + 15)) < 1e-9)
    }

    @Test func datedModelNamesArePricedByTheirFamily() throws {
        let table = PriceTable.builtin
        #expect(table.price(for: "gpt-4o-2024-08-06") == table.price(for: "gpt-4o"))
        #expect(table.price(for: "gpt-4o-mini-2024-07-18") == table.price(for: "gpt-4o-mini"))
        #expect(table.price(for: "openai/gpt-4o") != nil)
        #expect(table.price(for: "unknown-model") == nil)
        #expect(table.prices.count > 20)
    }
}
