/// Reads an Anthropic Messages SSE stream (message_start, content_block_*, message_delta,
/// message_stop, error) event by event.
public struct AnthropicStreamDecoder: StreamDecoder {
    /// Anthropic content block index -> gw tool-call index.
    private var toolIndex: [Int: Int] = [:]
    public private(set) var done = false
    public private(set) var model = ""
    public private(set) var id = ""

    public init() {}

    public mutating func decode(event: String, data: [UInt8]) throws(AIError) -> [StreamEvent] {
        guard !data.isEmpty else { return [] }
        let json: JSON
        do { json = try JSON.parse(data) } catch {
            throw AIError(.upstream, status: 502, "the provider sent an invalid stream event: \(error)")
        }
        let type = json["type"]?.string ?? event
        switch type {
        case "message_start":
            id = json["message"]?["id"]?.string ?? ""
            model = json["message"]?["model"]?.string ?? ""
            return AnthropicResponse.decodeUsage(json["message"]?["usage"]).map { [.usage($0)] } ?? []
        case "content_block_start":
            let block = json["content_block"]
            guard block?["type"]?.string == "tool_use", let index = json["index"]?.int else { return [] }
            let ordinal = toolIndex.count
            toolIndex[index] = ordinal
            return [.toolStart(index: ordinal, id: block?["id"]?.string ?? "toolu_\(ordinal)", name: block?["name"]?.string ?? "")]
        case "content_block_delta":
            let delta = json["delta"]
            switch delta?["type"]?.string {
            case "text_delta":
                let text = delta?["text"]?.string ?? ""
                return text.isEmpty ? [] : [.text(text)]
            case "input_json_delta":
                guard let index = json["index"]?.int, let ordinal = toolIndex[index] else { return [] }
                let partial = delta?["partial_json"]?.string ?? ""
                return partial.isEmpty ? [] : [.toolArguments(index: ordinal, partial)]
            default: return []
            }
        case "message_delta":
            var events: [StreamEvent] = []
            if let reason = json["delta"]?["stop_reason"]?.string { events.append(.finish(AnthropicResponse.finishReason(reason))) }
            if let usage = AnthropicResponse.decodeUsage(json["usage"]) { events.append(.usage(usage)) }
            return events
        case "message_stop":
            done = true
            return []
        case "error":
            let error = json["error"]
            let kind = AIError.Kind(rawValue: error?["type"]?.string ?? "") ?? .upstream
            let status = kind == .overloaded ? 529 : kind == .rateLimit ? 429 : 500
            return [.error(AIError(kind, status: status, error?["message"]?.string ?? "stream error"))]
        default:
            return []
        }
    }
}

/// Writes gw's stream events as an Anthropic Messages SSE stream.
public struct AnthropicStreamEncoder: StreamEncoder {
    let id: String
    let model: String
    private var started = false
    /// The open content block: its Anthropic index, and the gw tool index when it is a tool_use.
    private var openBlock: (index: Int, tool: Int?)?
    private var nextBlock = 0
    private var finish: FinishReason?
    private var usage = Usage()

    public init(id: String, model: String) {
        self.id = id
        self.model = model
    }

    private static func frame(_ name: String, _ json: JSON, into out: inout [UInt8]) {
        out.append(contentsOf: "event: \(name)\ndata: ".utf8)
        json.write(into: &out)
        out.append(contentsOf: "\n\n".utf8)
    }

    private mutating func start(into out: inout [UInt8]) {
        guard !started else { return }
        started = true
        Self.frame(
            "message_start",
            .obj([
                "type": .string("message_start"),
                "message": .obj([
                    "id": .string(id), "type": .string("message"), "role": .string("assistant"), "model": .string(model),
                    "content": .array([]), "stop_reason": .null, "stop_sequence": .null,
                    "usage": AnthropicResponse.encodeUsage(usage),
                ]),
            ]), into: &out)
    }

    private mutating func closeBlock(into out: inout [UInt8]) {
        guard let block = openBlock else { return }
        Self.frame("content_block_stop", .obj(["type": .string("content_block_stop"), "index": .int(block.index)]), into: &out)
        openBlock = nil
    }

    private mutating func openBlock(_ content: JSON, tool: Int?, into out: inout [UInt8]) {
        closeBlock(into: &out)
        openBlock = (nextBlock, tool)
        Self.frame(
            "content_block_start",
            .obj(["type": .string("content_block_start"), "index": .int(nextBlock), "content_block": content]), into: &out)
        nextBlock += 1
    }

    public mutating func encode(_ event: StreamEvent, into out: inout [UInt8]) {
        if case .usage(let u) = event {
            usage = usage.merged(with: u)
            return
        }
        if case .finish(let reason) = event {
            finish = reason
            return
        }
        start(into: &out)
        switch event {
        case .text(let text):
            if openBlock == nil || openBlock?.tool != nil {
                openBlock(.obj(["type": .string("text"), "text": .string("")]), tool: nil, into: &out)
            }
            Self.frame(
                "content_block_delta",
                .obj([
                    "type": .string("content_block_delta"), "index": .int(openBlock?.index ?? 0),
                    "delta": .obj(["type": .string("text_delta"), "text": .string(text)]),
                ]), into: &out)
        case .toolStart(let index, let id, let name):
            openBlock(
                .obj(["type": .string("tool_use"), "id": .string(id), "name": .string(name), "input": .obj([:])]), tool: index,
                into: &out)
        case .toolArguments(let index, let args):
            guard let block = openBlock, block.tool == index else { return }
            Self.frame(
                "content_block_delta",
                .obj([
                    "type": .string("content_block_delta"), "index": .int(block.index),
                    "delta": .obj(["type": .string("input_json_delta"), "partial_json": .string(args)]),
                ]), into: &out)
        case .error(let error):
            Self.frame("error", error.anthropicBody, into: &out)
        case .usage, .finish:
            break
        }
    }

    public mutating func finish(into out: inout [UInt8]) {
        start(into: &out)
        closeBlock(into: &out)
        Self.frame(
            "message_delta",
            .obj([
                "type": .string("message_delta"),
                "delta": .obj(["stop_reason": .string(AnthropicResponse.stopReason(finish ?? .stop)), "stop_sequence": .null]),
                "usage": AnthropicResponse.encodeUsage(usage),
            ]), into: &out)
        Self.frame("message_stop", .obj(["type": .string("message_stop")]), into: &out)
    }

    public mutating func fail(_ error: AIError, into out: inout [UInt8]) {
        start(into: &out)
        Self.frame("error", error.anthropicBody, into: &out)
    }
}
