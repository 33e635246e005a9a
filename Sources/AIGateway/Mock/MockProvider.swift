/// The built-in `mock` provider: answers at once, deterministically, with no network
/// and no key, so a newcomer can call `/v1/chat/completions` on the embedded default.
/// The answer depends only on the request: the same request gives the same answer.
public enum MockProvider {
    public static func reply(to request: ChatRequest, model: String, id: String, created: Int) -> ChatResponse {
        let lastUser = request.messages.last(where: { $0.role == .user })?.text ?? ""
        let prompt = TokenEstimate.prompt(request)
        var calls: [ToolCall] = []
        var text: String
        let wantsTool: Bool
        switch request.toolChoice {
        case .required?, .named?: wantsTool = true
        default: wantsTool = false
        }
        if wantsTool, let tool = toolToCall(request) {
            calls.append(ToolCall(id: "call_mock_0", name: tool.name, arguments: "{}"))
            text = ""
        } else {
            let quoted = lastUser.count > 200 ? String(lastUser.prefix(200)) + "..." : lastUser
            text = "This is a mock answer from gw (model \(model)). You said: \(quoted)"
        }
        var finish: FinishReason = calls.isEmpty ? .stop : .toolCalls
        if let limit = request.maxTokens, TokenEstimate.tokens(in: text) > limit {
            text = String(decoding: Array(text.utf8.prefix(max(0, limit * 4))), as: UTF8.self)
            finish = .length
        }
        let usage = Usage(input: prompt, output: TokenEstimate.tokens(in: text) + calls.count * 4)
        return ChatResponse(id: id, model: model, text: text, toolCalls: calls, finish: finish, usage: usage, created: created)
    }

    private static func toolToCall(_ request: ChatRequest) -> ToolSpec? {
        if case .named(let name)? = request.toolChoice { return request.tools.first { $0.name == name } }
        return request.tools.first
    }

    /// The same answer as a stream of events: words, then finish and usage.
    public static func events(for response: ChatResponse) -> [StreamEvent] {
        var events: [StreamEvent] = []
        var word = ""
        for c in response.text {
            word.append(c)
            if c == " " {
                events.append(.text(word))
                word = ""
            }
        }
        if !word.isEmpty { events.append(.text(word)) }
        for (i, call) in response.toolCalls.enumerated() {
            events.append(.toolStart(index: i, id: call.id, name: call.name))
            events.append(.toolArguments(index: i, call.arguments))
        }
        events.append(.finish(response.finish))
        if let usage = response.usage { events.append(.usage(usage)) }
        return events
    }

    /// Deterministic unit vectors derived from the text (FNV-1a seeded), `dimensions` long.
    public static func embedding(of text: String, dimensions: Int) -> [Double] {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            state ^= UInt64(byte)
            state &*= 0x100_0000_01b3
        }
        var values: [Double] = []
        values.reserveCapacity(dimensions)
        var norm = 0.0
        for _ in 0..<dimensions {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            let v = Double(state % 2001) / 1000.0 - 1.0
            values.append(v)
            norm += v * v
        }
        let scale = norm > 0 ? 1 / norm.squareRoot() : 0
        return values.map { ($0 * scale * 1e6).rounded() / 1e6 }
    }
}
