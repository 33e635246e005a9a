/// OpenAI Chat Completions requests: decoded from clients, encoded for OpenAI-format
/// providers (OpenAI, Azure OpenAI, Mistral, and OpenAI-compatible servers).
public enum OpenAIRequest {
    /// Parameters modelled by `ChatRequest`; everything else travels in `extra`.
    static let modelled: Set<String> = [
        "model", "messages", "tools", "tool_choice", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "stream", "stream_options", "user", "functions", "function_call",
    ]

    public static func decode(_ body: JSON) throws(AIError) -> ChatRequest {
        guard case .object(let members) = body else { throw .invalid("the request body must be a JSON object") }
        guard let model = body["model"]?.string, !model.isEmpty else { throw .invalid("\"model\" is required") }
        var request = ChatRequest(model: model)
        guard let messages = body["messages"]?.array, !messages.isEmpty else {
            throw .invalid("\"messages\" must be a non-empty array")
        }
        for (i, message) in messages.enumerated() {
            try decodeMessage(message, index: i, into: &request)
        }
        if let tools = body["tools"]?.array {
            for (i, tool) in tools.enumerated() {
                guard let function = tool["function"], let name = function["name"]?.string else {
                    throw .invalid("tools[\(i)].function.name is required")
                }
                request.tools.append(
                    ToolSpec(name: name, description: function["description"]?.string, parameters: function["parameters"] ?? .obj([:])))
            }
        }
        if let choice = body["tool_choice"] {
            switch choice {
            case .string("auto"): request.toolChoice = .auto
            case .string("none"): request.toolChoice = ToolChoice.none
            case .string("required"): request.toolChoice = .required
            default:
                guard let name = choice["function"]?["name"]?.string else { throw .invalid("tool_choice is not valid") }
                request.toolChoice = .named(name)
            }
        }
        request.maxTokens = body["max_completion_tokens"]?.int ?? body["max_tokens"]?.int
        if let t = body["temperature"], !t.isNull {
            guard let v = t.double else { throw .invalid("temperature must be a number") }
            request.temperature = v
        }
        request.topP = body["top_p"]?.double
        switch body["stop"] {
        case .string(let s)?: request.stop = [s]
        case .array(let items)?: request.stop = items.compactMap(\.string)
        default: break
        }
        if let stream = body["stream"], !stream.isNull {
            guard let b = stream.bool else { throw .invalid("stream must be a boolean") }
            request.stream = b
        }
        request.streamUsage = body["stream_options"]?["include_usage"]?.bool ?? false
        request.user = body["user"]?.string
        request.extra = members.filter { !modelled.contains($0.key) }
        return request
    }

    private static func decodeMessage(_ message: JSON, index i: Int, into request: inout ChatRequest) throws(AIError) {
        guard let role = message["role"]?.string else { throw .invalid("messages[\(i)].role is required") }
        let parts = try decodeContent(message["content"], index: i)
        switch role {
        case "system", "developer":
            request.system.append(parts.reduce(into: "") { out, p in if case .text(let t) = p { out += t } })
        case "user":
            request.messages.append(ChatMessage(role: .user, parts: parts))
        case "assistant":
            var calls: [ToolCall] = []
            for (j, call) in (message["tool_calls"]?.array ?? []).enumerated() {
                guard let id = call["id"]?.string, let name = call["function"]?["name"]?.string else {
                    throw .invalid("messages[\(i)].tool_calls[\(j)] needs an id and function.name")
                }
                calls.append(ToolCall(id: id, name: name, arguments: call["function"]?["arguments"]?.string ?? "{}"))
            }
            request.messages.append(ChatMessage(role: .assistant, parts: parts, toolCalls: calls))
        case "tool":
            guard let id = message["tool_call_id"]?.string else { throw .invalid("messages[\(i)].tool_call_id is required") }
            request.messages.append(ChatMessage(role: .tool, parts: parts, toolCallID: id))
        default:
            throw .invalid("messages[\(i)].role \"\(role)\" is not one of system, developer, user, assistant, tool")
        }
    }

    private static func decodeContent(_ content: JSON?, index i: Int) throws(AIError) -> [ContentPart] {
        switch content {
        case nil, .null?: return []
        case .string(let s)?: return [.text(s)]
        case .array(let items)?:
            var parts: [ContentPart] = []
            for item in items {
                switch item["type"]?.string {
                case "text": parts.append(.text(item["text"]?.string ?? ""))
                case "image_url":
                    guard let url = item["image_url"]?["url"]?.string ?? item["image_url"]?.string else {
                        throw .invalid("messages[\(i)].content image_url.url is required")
                    }
                    parts.append(.image(url: url))
                default: throw .invalid("messages[\(i)].content has an unsupported part type")
                }
            }
            return parts
        default: throw .invalid("messages[\(i)].content must be a string or an array")
        }
    }

    // MARK: - Encoding for providers

    /// The body for an OpenAI-format provider. `includeUsage`: ask for the usage chunk
    /// when streaming (gw always wants it, whatever the client asked).
    public static func encode(_ request: ChatRequest, model: String, includeUsage: Bool, maxTokensKey: String = "max_tokens")
        -> JSON
    {
        var messages: [JSON] = request.system.map { .obj(["role": .string("system"), "content": .string($0)]) }
        for message in request.messages {
            messages.append(encodeMessage(message))
        }
        var members: [JSON.Member] = [.init("model", .string(model)), .init("messages", .array(messages))]
        if !request.tools.isEmpty {
            members.append(
                .init(
                    "tools",
                    .array(
                        request.tools.map { tool in
                            .obj([
                                "type": .string("function"),
                                "function": .obj([
                                    "name": .string(tool.name), "description": tool.description.map(JSON.string),
                                    "parameters": tool.parameters,
                                ]),
                            ])
                        })))
        }
        if let choice = request.toolChoice {
            let value: JSON
            switch choice {
            case .auto: value = .string("auto")
            case .none: value = .string("none")
            case .required: value = .string("required")
            case .named(let name): value = .obj(["type": .string("function"), "function": .obj(["name": .string(name)])])
            }
            members.append(.init("tool_choice", value))
        }
        if let n = request.maxTokens { members.append(.init(maxTokensKey, .int(n))) }
        if let t = request.temperature { members.append(.init("temperature", .double(t))) }
        if let p = request.topP { members.append(.init("top_p", .double(p))) }
        if !request.stop.isEmpty { members.append(.init("stop", .array(request.stop.map(JSON.string)))) }
        if let user = request.user { members.append(.init("user", .string(user))) }
        members.append(contentsOf: request.extra)
        if request.stream {
            members.append(.init("stream", .bool(true)))
            if includeUsage { members.append(.init("stream_options", .obj(["include_usage": .bool(true)]))) }
        }
        return .object(members)
    }

    static func encodeMessage(_ message: ChatMessage) -> JSON {
        let content: JSON
        if message.parts.allSatisfy({ if case .text = $0 { return true } else { return false } }) {
            content = message.parts.isEmpty && !message.toolCalls.isEmpty ? .null : .string(message.text)
        } else {
            content = .array(
                message.parts.map { part in
                    switch part {
                    case .text(let t): return .obj(["type": .string("text"), "text": .string(t)])
                    case .image(let url): return .obj(["type": .string("image_url"), "image_url": .obj(["url": .string(url)])])
                    }
                })
        }
        var members: [JSON.Member] = [.init("role", .string(message.role.rawValue)), .init("content", content)]
        if !message.toolCalls.isEmpty {
            members.append(
                .init(
                    "tool_calls",
                    .array(
                        message.toolCalls.map { call in
                            .obj([
                                "id": .string(call.id), "type": .string("function"),
                                "function": .obj(["name": .string(call.name), "arguments": .string(call.arguments)]),
                            ])
                        })))
        }
        if let id = message.toolCallID { members.append(.init("tool_call_id", .string(id))) }
        return .object(members)
    }
}
