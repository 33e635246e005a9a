/// Google Gemini `generateContent` / `streamGenerateContent?alt=sse` (provider side).
public enum Gemini {
    public static func encode(_ request: ChatRequest) -> JSON {
        // Gemini answers a function by its name, not an id: remember which id was which name.
        var names: [String: String] = [:]
        var contents: [JSON] = []
        for message in request.messages {
            var parts: [JSON] = []
            for part in message.parts {
                switch part {
                case .text(let t) where !t.isEmpty || message.role == .user: parts.append(.obj(["text": .string(t)]))
                case .text: break
                case .image(let url):
                    if url.hasPrefix("data:"), let comma = url.firstIndex(of: ","), let semi = url.firstIndex(of: ";") {
                        let mime = String(url[url.index(url.startIndex, offsetBy: 5)..<semi])
                        parts.append(
                            .obj(["inlineData": .obj(["mimeType": .string(mime), "data": .string(String(url[url.index(after: comma)...]))])]))
                    } else {
                        parts.append(.obj(["fileData": .obj(["fileUri": .string(url)])]))
                    }
                }
            }
            switch message.role {
            case .assistant:
                for call in message.toolCalls {
                    names[call.id] = call.name
                    let args = (try? JSON.parse(call.arguments)) ?? .obj([:])
                    parts.append(.obj(["functionCall": .obj(["name": .string(call.name), "args": args])]))
                }
                contents.append(.obj(["role": .string("model"), "parts": .array(parts)]))
            case .tool:
                let name = names[message.toolCallID ?? ""] ?? message.toolCallID ?? ""
                let value = (try? JSON.parse(message.text)).flatMap { json -> JSON? in
                    if case .object = json { return json }
                    return nil
                } ?? .obj(["result": .string(message.text)])
                contents.append(
                    .obj([
                        "role": .string("user"),
                        "parts": .array([.obj(["functionResponse": .obj(["name": .string(name), "response": value])])]),
                    ]))
            case .user:
                contents.append(.obj(["role": .string("user"), "parts": .array(parts)]))
            }
        }
        var members: [JSON.Member] = [.init("contents", .array(contents))]
        if !request.system.isEmpty {
            members.append(.init("systemInstruction", .obj(["parts": .array(request.system.map { .obj(["text": .string($0)]) })])))
        }
        if !request.tools.isEmpty {
            let declarations: [JSON] = request.tools.map { tool in
                .obj(["name": .string(tool.name), "description": tool.description.map(JSON.string), "parameters": tool.parameters])
            }
            members.append(.init("tools", .array([.obj(["functionDeclarations": .array(declarations)])])))
        }
        if let choice = request.toolChoice {
            let config: JSON
            switch choice {
            case .auto: config = .obj(["mode": .string("AUTO")])
            case .none: config = .obj(["mode": .string("NONE")])
            case .required: config = .obj(["mode": .string("ANY")])
            case .named(let name): config = .obj(["mode": .string("ANY"), "allowedFunctionNames": .array([.string(name)])])
            }
            members.append(.init("toolConfig", .obj(["functionCallingConfig": config])))
        }
        var generation: [JSON.Member] = []
        if let t = request.temperature { generation.append(.init("temperature", .double(t))) }
        if let p = request.topP { generation.append(.init("topP", .double(p))) }
        if let n = request.maxTokens { generation.append(.init("maxOutputTokens", .int(n))) }
        if !request.stop.isEmpty { generation.append(.init("stopSequences", .array(request.stop.map(JSON.string)))) }
        if !generation.isEmpty { members.append(.init("generationConfig", .object(generation))) }
        return .object(members)
    }

    public static func finishReason(_ text: String?, sawToolCall: Bool) -> FinishReason? {
        switch text {
        case nil: return nil
        case "STOP"?: return sawToolCall ? .toolCalls : .stop
        case "MAX_TOKENS"?: return .length
        case "SAFETY"?, "RECITATION"?, "BLOCKLIST"?, "PROHIBITED_CONTENT"?, "SPII"?: return .contentFilter
        case let other?: return .other(other.lowercased())
        }
    }

    /// `promptTokenCount` includes cached tokens; `candidatesTokenCount` excludes thoughts.
    public static func decodeUsage(_ json: JSON?) -> Usage? {
        guard let json, case .object = json else { return nil }
        let thoughts = json["thoughtsTokenCount"]?.int ?? 0
        return Usage(
            input: json["promptTokenCount"]?.int ?? 0, output: (json["candidatesTokenCount"]?.int ?? 0) + thoughts,
            cachedInput: json["cachedContentTokenCount"]?.int ?? 0, cacheWrite: 0, reasoning: thoughts)
    }

    public static func decode(_ body: JSON, model: String) throws(AIError) -> ChatResponse {
        var decoder = GeminiStreamDecoder()
        let events = try decoder.events(from: body)
        var acc = StreamAccumulator()
        for event in events { acc.add(event) }
        if body["candidates"]?[0] == nil, let reason = body["promptFeedback"]?["blockReason"]?.string {
            throw AIError(.invalidRequest, status: 400, "the prompt was blocked by the provider (\(reason))")
        }
        return ChatResponse(
            id: body["responseId"]?.string ?? "", model: body["modelVersion"]?.string ?? model, text: acc.text,
            toolCalls: acc.toolCalls, finish: acc.finish ?? .stop, usage: acc.usage, created: 0)
    }
}

/// Reads Gemini's SSE stream: each `data:` is a whole GenerateContentResponse.
public struct GeminiStreamDecoder: StreamDecoder {
    private var tools = 0
    private var finished = false
    public var done: Bool { finished }

    public init() {}

    public mutating func decode(event: String, data: [UInt8]) throws(AIError) -> [StreamEvent] {
        guard !data.isEmpty else { return [] }
        let json: JSON
        do { json = try JSON.parse(data) } catch {
            throw AIError(.upstream, status: 502, "the provider sent an invalid stream chunk: \(error)")
        }
        if let error = json["error"] {
            let status = error["code"]?.int ?? 500
            return [.error(AIError(AIError.kind(forStatus: status), status: status, error["message"]?.string ?? "stream error"))]
        }
        return try events(from: json)
    }

    mutating func events(from json: JSON) throws(AIError) -> [StreamEvent] {
        var events: [StreamEvent] = []
        let candidate = json["candidates"]?[0]
        for part in candidate?["content"]?["parts"]?.array ?? [] {
            if part["thought"]?.bool == true { continue }
            if let text = part["text"]?.string, !text.isEmpty { events.append(.text(text)) }
            if let call = part["functionCall"] {
                let index = tools
                tools += 1
                events.append(.toolStart(index: index, id: call["id"]?.string ?? "call_\(index)", name: call["name"]?.string ?? ""))
                events.append(.toolArguments(index: index, (call["args"] ?? .obj([:])).serialized))
            }
        }
        if let reason = Gemini.finishReason(candidate?["finishReason"]?.string, sawToolCall: tools > 0) {
            finished = true
            events.append(.finish(reason))
        }
        if let usage = Gemini.decodeUsage(json["usageMetadata"]) { events.append(.usage(usage)) }
        return events
    }
}
