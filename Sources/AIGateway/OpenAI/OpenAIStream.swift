/// Reads an OpenAI-format SSE stream (`data: {chunk}` ... `data: [DONE]`) event by event.
public struct OpenAIStreamDecoder: StreamDecoder {
    private var startedTools: Set<Int> = []
    public private(set) var done = false
    public private(set) var model = ""
    public private(set) var id = ""

    public init() {}

    public mutating func decode(event: String, data: [UInt8]) throws(AIError) -> [StreamEvent] {
        if data.elementsEqual("[DONE]".utf8) {
            done = true
            return []
        }
        guard !data.isEmpty else { return [] }
        let chunk: JSON
        do { chunk = try JSON.parse(data) } catch {
            throw AIError(.upstream, status: 502, "the provider sent an invalid stream chunk: \(error)")
        }
        if let error = chunk["error"] {
            let status = error["code"]?.int ?? 500
            return [.error(AIError(AIError.kind(forStatus: status), status: status, error["message"]?.string ?? "stream error"))]
        }
        if id.isEmpty, let value = chunk["id"]?.string { id = value }
        if model.isEmpty, let value = chunk["model"]?.string { model = value }
        var events: [StreamEvent] = []
        if let choice = chunk["choices"]?[0] {
            let delta = choice["delta"]
            if let text = delta?["content"]?.string, !text.isEmpty { events.append(.text(text)) }
            for call in delta?["tool_calls"]?.array ?? [] {
                let index = call["index"]?.int ?? 0
                if !startedTools.contains(index) {
                    startedTools.insert(index)
                    events.append(
                        .toolStart(index: index, id: call["id"]?.string ?? "call_\(index)", name: call["function"]?["name"]?.string ?? ""))
                }
                if let args = call["function"]?["arguments"]?.string, !args.isEmpty { events.append(.toolArguments(index: index, args)) }
            }
            if let reason = choice["finish_reason"]?.string { events.append(.finish(OpenAIResponse.finishReason(reason))) }
        }
        if let usage = OpenAIResponse.decodeUsage(chunk["usage"]) { events.append(.usage(usage)) }
        return events
    }
}

/// Writes gw's stream events as an OpenAI Chat Completions SSE stream.
public struct OpenAIStreamEncoder: StreamEncoder {
    let id: String
    let model: String
    let created: Int
    let includeUsage: Bool
    private var sentRole = false
    private var finish: FinishReason?
    private var usage: Usage?

    public init(id: String, model: String, created: Int, includeUsage: Bool) {
        self.id = id
        self.model = model
        self.created = created
        self.includeUsage = includeUsage
    }

    private func chunk(delta: JSON, finish: FinishReason? = nil) -> JSON {
        .obj([
            "id": .string(id), "object": .string("chat.completion.chunk"), "created": .int(created), "model": .string(model),
            "choices": .array([
                .obj(["index": .int(0), "delta": delta, "finish_reason": finish.map { .string(OpenAIResponse.finishText($0)) } ?? .null])
            ]),
        ])
    }

    private static func frame(_ json: JSON, into out: inout [UInt8]) {
        out.append(contentsOf: "data: ".utf8)
        json.write(into: &out)
        out.append(contentsOf: "\n\n".utf8)
    }

    public mutating func encode(_ event: StreamEvent, into out: inout [UInt8]) {
        if !sentRole {
            sentRole = true
            Self.frame(chunk(delta: .obj(["role": .string("assistant"), "content": .string("")])), into: &out)
        }
        switch event {
        case .text(let text):
            Self.frame(chunk(delta: .obj(["content": .string(text)])), into: &out)
        case .toolStart(let index, let id, let name):
            let call = JSON.obj([
                "index": .int(index), "id": .string(id), "type": .string("function"),
                "function": .obj(["name": .string(name), "arguments": .string("")]),
            ])
            Self.frame(chunk(delta: .obj(["tool_calls": .array([call])])), into: &out)
        case .toolArguments(let index, let args):
            let call = JSON.obj(["index": .int(index), "function": .obj(["arguments": .string(args)])])
            Self.frame(chunk(delta: .obj(["tool_calls": .array([call])])), into: &out)
        case .finish(let reason):
            finish = reason
        case .usage(let u):
            usage = usage.map { $0.merged(with: u) } ?? u
        case .error(let error):
            // No [DONE]: the client sees the error, never a clean end.
            Self.frame(error.openAIBody, into: &out)
        }
    }

    public mutating func finish(into out: inout [UInt8]) {
        if !sentRole {
            sentRole = true
            Self.frame(chunk(delta: .obj(["role": .string("assistant"), "content": .string("")])), into: &out)
        }
        Self.frame(chunk(delta: .obj([:]), finish: finish ?? .stop), into: &out)
        if includeUsage, let usage {
            Self.frame(
                .obj([
                    "id": .string(id), "object": .string("chat.completion.chunk"), "created": .int(created), "model": .string(model),
                    "choices": .array([]), "usage": OpenAIResponse.encodeUsage(usage),
                ]), into: &out)
        }
        out.append(contentsOf: "data: [DONE]\n\n".utf8)
    }

    public mutating func fail(_ error: AIError, into out: inout [UInt8]) {
        encode(.error(error), into: &out)
    }
}
