/// OpenAI Chat Completions responses: decoded from OpenAI-format providers, encoded for clients.
public enum OpenAIResponse {
    public static func finishReason(_ text: String?) -> FinishReason {
        switch text {
        case "stop"?: return .stop
        case "length"?: return .length
        case "tool_calls"?, "function_call"?: return .toolCalls
        case "content_filter"?: return .contentFilter
        case let other?: return .other(other)
        case nil: return .stop
        }
    }

    public static func finishText(_ reason: FinishReason) -> String {
        switch reason {
        case .stop: return "stop"
        case .length: return "length"
        case .toolCalls: return "tool_calls"
        case .contentFilter: return "content_filter"
        case .other(let s): return s
        }
    }

    public static func decodeUsage(_ json: JSON?) -> Usage? {
        guard let json, case .object = json else { return nil }
        return Usage(
            input: json["prompt_tokens"]?.int ?? 0, output: json["completion_tokens"]?.int ?? 0,
            cachedInput: json["prompt_tokens_details"]?["cached_tokens"]?.int ?? 0, cacheWrite: 0,
            reasoning: json["completion_tokens_details"]?["reasoning_tokens"]?.int ?? 0)
    }

    public static func encodeUsage(_ usage: Usage) -> JSON {
        .obj([
            "prompt_tokens": .int(usage.input), "completion_tokens": .int(usage.output), "total_tokens": .int(usage.total),
            "prompt_tokens_details": .obj(["cached_tokens": .int(usage.cachedInput)]),
            "completion_tokens_details": .obj(["reasoning_tokens": .int(usage.reasoning)]),
        ])
    }

    public static func decode(_ body: JSON) throws(AIError) -> ChatResponse {
        guard let choice = body["choices"]?[0], let message = choice["message"] else {
            throw AIError(.upstream, status: 502, "the provider's answer has no choices[0].message")
        }
        var text = message["content"]?.string ?? ""
        if text.isEmpty, let parts = message["content"]?.array {
            text = parts.compactMap { $0["text"]?.string }.joined()
        }
        var calls: [ToolCall] = []
        for call in message["tool_calls"]?.array ?? [] {
            guard let name = call["function"]?["name"]?.string else { continue }
            calls.append(
                ToolCall(id: call["id"]?.string ?? "call_\(calls.count)", name: name, arguments: call["function"]?["arguments"]?.string ?? "{}"))
        }
        return ChatResponse(
            id: body["id"]?.string ?? "", model: body["model"]?.string ?? "", text: text, toolCalls: calls,
            finish: finishReason(choice["finish_reason"]?.string), usage: decodeUsage(body["usage"]),
            created: body["created"]?.int ?? 0)
    }

    public static func encode(_ response: ChatResponse) -> JSON {
        var message: [JSON.Member] = [
            .init("role", .string("assistant")),
            .init("content", response.text.isEmpty && !response.toolCalls.isEmpty ? .null : .string(response.text)),
        ]
        if !response.toolCalls.isEmpty {
            message.append(
                .init(
                    "tool_calls",
                    .array(
                        response.toolCalls.map { call in
                            .obj([
                                "id": .string(call.id), "type": .string("function"),
                                "function": .obj(["name": .string(call.name), "arguments": .string(call.arguments)]),
                            ])
                        })))
        }
        return .obj([
            "id": .string(response.id), "object": .string("chat.completion"), "created": .int(response.created),
            "model": .string(response.model),
            "choices": .array([
                .obj(["index": .int(0), "message": .object(message), "finish_reason": .string(finishText(response.finish))])
            ]),
            "usage": response.usage.map(encodeUsage),
        ])
    }
}
