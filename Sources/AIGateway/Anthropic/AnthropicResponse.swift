/// Anthropic Messages responses: decoded from the provider, encoded for `/v1/messages` clients.
public enum AnthropicResponse {
    public static func finishReason(_ text: String?) -> FinishReason {
        switch text {
        case "end_turn"?, "stop_sequence"?, nil: return .stop
        case "max_tokens"?: return .length
        case "tool_use"?: return .toolCalls
        case "refusal"?: return .contentFilter
        case let other?: return .other(other)
        }
    }

    public static func stopReason(_ reason: FinishReason) -> String {
        switch reason {
        case .stop: return "end_turn"
        case .length: return "max_tokens"
        case .toolCalls: return "tool_use"
        case .contentFilter: return "refusal"
        case .other(let s): return s == "pause_turn" ? s : "end_turn"
        }
    }

    /// Anthropic's `input_tokens` excludes cache reads and writes; gw's `input` includes them.
    public static func decodeUsage(_ json: JSON?) -> Usage? {
        guard let json, case .object = json else { return nil }
        let read = json["cache_read_input_tokens"]?.int ?? 0
        let write = json["cache_creation_input_tokens"]?.int ?? 0
        let input = json["input_tokens"]?.int
        return Usage(
            input: input.map { $0 + read + write } ?? 0, output: json["output_tokens"]?.int ?? 0, cachedInput: read,
            cacheWrite: write, reasoning: 0)
    }

    public static func encodeUsage(_ usage: Usage) -> JSON {
        .obj([
            "input_tokens": .int(max(0, usage.input - usage.cachedInput - usage.cacheWrite)),
            "cache_creation_input_tokens": .int(usage.cacheWrite), "cache_read_input_tokens": .int(usage.cachedInput),
            "output_tokens": .int(usage.output),
        ])
    }

    public static func decode(_ body: JSON) throws(AIError) -> ChatResponse {
        guard let content = body["content"]?.array else {
            throw AIError(.upstream, status: 502, "the provider's answer has no content")
        }
        var text = ""
        var calls: [ToolCall] = []
        for block in content {
            switch block["type"]?.string {
            case "text": text += block["text"]?.string ?? ""
            case "tool_use":
                calls.append(
                    ToolCall(
                        id: block["id"]?.string ?? "toolu_\(calls.count)", name: block["name"]?.string ?? "",
                        arguments: (block["input"] ?? .obj([:])).serialized))
            default: continue
            }
        }
        return ChatResponse(
            id: body["id"]?.string ?? "", model: body["model"]?.string ?? "", text: text, toolCalls: calls,
            finish: finishReason(body["stop_reason"]?.string), usage: decodeUsage(body["usage"]), created: 0)
    }

    public static func encode(_ response: ChatResponse) -> JSON {
        var blocks: [JSON] = []
        if !response.text.isEmpty || response.toolCalls.isEmpty {
            blocks.append(.obj(["type": .string("text"), "text": .string(response.text)]))
        }
        for call in response.toolCalls {
            let input = (try? JSON.parse(call.arguments)) ?? .obj([:])
            blocks.append(.obj(["type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name), "input": input]))
        }
        return .obj([
            "id": .string(response.id), "type": .string("message"), "role": .string("assistant"), "model": .string(response.model),
            "content": .array(blocks), "stop_reason": .string(stopReason(response.finish)), "stop_sequence": .null,
            "usage": encodeUsage(response.usage ?? Usage()),
        ])
    }
}
