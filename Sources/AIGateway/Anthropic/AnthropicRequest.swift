/// Anthropic Messages API requests: decoded from clients (`POST /v1/messages`) and
/// encoded for the Anthropic provider.
public enum AnthropicRequest {
    public static func decode(_ body: JSON) throws(AIError) -> ChatRequest {
        guard case .object = body else { throw .invalid("the request body must be a JSON object") }
        guard let model = body["model"]?.string, !model.isEmpty else { throw .invalid("model: Field required") }
        guard let maxTokens = body["max_tokens"]?.int else { throw .invalid("max_tokens: Field required") }
        var request = ChatRequest(model: model)
        request.maxTokens = maxTokens
        switch body["system"] {
        case .string(let s)?: request.system = [s]
        case .array(let blocks)?: request.system = blocks.compactMap { $0["text"]?.string }
        default: break
        }
        guard let messages = body["messages"]?.array else { throw .invalid("messages: Field required") }
        for (i, message) in messages.enumerated() {
            try decodeMessage(message, index: i, into: &request)
        }
        for (i, tool) in (body["tools"]?.array ?? []).enumerated() {
            guard let name = tool["name"]?.string else { throw .invalid("tools.\(i).name: Field required") }
            request.tools.append(
                ToolSpec(name: name, description: tool["description"]?.string, parameters: tool["input_schema"] ?? .obj([:])))
        }
        if let choice = body["tool_choice"] {
            switch choice["type"]?.string {
            case "auto": request.toolChoice = .auto
            case "any": request.toolChoice = .required
            case "none": request.toolChoice = ToolChoice.none
            case "tool": request.toolChoice = .named(choice["name"]?.string ?? "")
            default: throw .invalid("tool_choice.type is not valid")
            }
        }
        request.temperature = body["temperature"]?.double
        request.topP = body["top_p"]?.double
        request.stop = body["stop_sequences"]?.array?.compactMap(\.string) ?? []
        request.stream = body["stream"]?.bool ?? false
        request.streamUsage = true
        request.user = body["metadata"]?["user_id"]?.string
        return request
    }

    private static func decodeMessage(_ message: JSON, index i: Int, into request: inout ChatRequest) throws(AIError) {
        let role = message["role"]?.string
        guard role == "user" || role == "assistant" else { throw .invalid("messages.\(i).role: must be user or assistant") }
        let blocks: [JSON]
        switch message["content"] {
        case .string(let s)?: blocks = [.obj(["type": .string("text"), "text": .string(s)])]
        case .array(let items)?: blocks = items
        default: throw .invalid("messages.\(i).content: Field required")
        }
        var parts: [ContentPart] = []
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.string {
            case "text": parts.append(.text(block["text"]?.string ?? ""))
            case "image":
                let source = block["source"]
                if source?["type"]?.string == "url", let url = source?["url"]?.string {
                    parts.append(.image(url: url))
                } else if let data = source?["data"]?.string {
                    parts.append(.image(url: "data:\(source?["media_type"]?.string ?? "image/png");base64,\(data)"))
                }
            case "tool_use":
                guard let id = block["id"]?.string, let name = block["name"]?.string else {
                    throw .invalid("messages.\(i): tool_use needs id and name")
                }
                calls.append(ToolCall(id: id, name: name, arguments: (block["input"] ?? .obj([:])).serialized))
            case "tool_result":
                // Each result becomes its own tool message (OpenAI's shape).
                guard let id = block["tool_use_id"]?.string else { throw .invalid("messages.\(i): tool_result needs tool_use_id") }
                var text = ""
                switch block["content"] {
                case .string(let s)?: text = s
                case .array(let items)?: text = items.compactMap { $0["text"]?.string }.joined()
                default: break
                }
                var result = ChatMessage(role: .tool, parts: [.text(text)], toolCallID: id)
                result.isError = block["is_error"]?.bool ?? false
                request.messages.append(result)
            case "thinking", "redacted_thinking": continue
            default: throw .invalid("messages.\(i): unsupported content block type")
            }
        }
        if role == "assistant" {
            request.messages.append(ChatMessage(role: .assistant, parts: parts, toolCalls: calls))
        } else if !parts.isEmpty {
            request.messages.append(ChatMessage(role: .user, parts: parts))
        }
    }

    // MARK: - Encoding for the provider

    public static func encode(_ request: ChatRequest, model: String, defaultMaxTokens: Int) -> JSON {
        var messages: [JSON] = []
        // Anthropic wants alternating roles: tool results join the user turn, and turns of
        // one role are merged.
        var pendingRole: String?
        var pendingBlocks: [JSON] = []
        func flush() {
            if let role = pendingRole, !pendingBlocks.isEmpty {
                messages.append(.obj(["role": .string(role), "content": .array(pendingBlocks)]))
            }
            pendingRole = nil
            pendingBlocks = []
        }
        for message in request.messages {
            let role = message.role == .assistant ? "assistant" : "user"
            if pendingRole != role { flush() }
            pendingRole = role
            switch message.role {
            case .tool:
                var block: [JSON.Member] = [
                    .init("type", .string("tool_result")), .init("tool_use_id", .string(message.toolCallID ?? "")),
                    .init("content", .string(message.text)),
                ]
                if message.isError { block.append(.init("is_error", .bool(true))) }
                pendingBlocks.append(.object(block))
            case .user, .assistant:
                for part in message.parts {
                    switch part {
                    case .text(let t) where !t.isEmpty: pendingBlocks.append(.obj(["type": .string("text"), "text": .string(t)]))
                    case .text: break
                    case .image(let url): pendingBlocks.append(imageBlock(url))
                    }
                }
                for call in message.toolCalls {
                    let input = (try? JSON.parse(call.arguments)) ?? .obj([:])
                    pendingBlocks.append(
                        .obj(["type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name), "input": input]))
                }
            }
        }
        flush()
        var members: [JSON.Member] = [
            .init("model", .string(model)), .init("max_tokens", .int(request.maxTokens ?? defaultMaxTokens)),
            .init("messages", .array(messages)),
        ]
        if !request.system.isEmpty { members.append(.init("system", .string(request.system.joined(separator: "\n\n")))) }
        if !request.tools.isEmpty {
            members.append(
                .init(
                    "tools",
                    .array(
                        request.tools.map { tool in
                            .obj([
                                "name": .string(tool.name), "description": tool.description.map(JSON.string),
                                "input_schema": tool.parameters,
                            ])
                        })))
        }
        if let choice = request.toolChoice {
            switch choice {
            case .auto: members.append(.init("tool_choice", .obj(["type": .string("auto")])))
            case .none: members.append(.init("tool_choice", .obj(["type": .string("none")])))
            case .required: members.append(.init("tool_choice", .obj(["type": .string("any")])))
            case .named(let name): members.append(.init("tool_choice", .obj(["type": .string("tool"), "name": .string(name)])))
            }
        }
        if let t = request.temperature { members.append(.init("temperature", .double(t))) }
        if let p = request.topP { members.append(.init("top_p", .double(p))) }
        if !request.stop.isEmpty { members.append(.init("stop_sequences", .array(request.stop.map(JSON.string)))) }
        if let user = request.user { members.append(.init("metadata", .obj(["user_id": .string(user)]))) }
        if request.stream { members.append(.init("stream", .bool(true))) }
        return .object(members)
    }

    static func imageBlock(_ url: String) -> JSON {
        if url.hasPrefix("data:"), let comma = url.firstIndex(of: ","), let semi = url.firstIndex(of: ";") {
            let media = String(url[url.index(url.startIndex, offsetBy: 5)..<semi])
            return .obj([
                "type": .string("image"),
                "source": .obj([
                    "type": .string("base64"), "media_type": .string(media), "data": .string(String(url[url.index(after: comma)...])),
                ]),
            ])
        }
        return .obj(["type": .string("image"), "source": .obj(["type": .string("url"), "url": .string(url)])])
    }
}
