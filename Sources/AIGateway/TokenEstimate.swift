/// A tokenizer-free estimate of token counts, used to reserve quota before a call (the
/// provider's real usage reconciles it after) and for providers that report none.
/// About four bytes of English per token; rounded up, never zero for non-empty text.
public enum TokenEstimate {
    public static func tokens(in text: String) -> Int {
        let bytes = text.utf8.count
        return bytes == 0 ? 0 : (bytes + 3) / 4
    }

    /// Prompt tokens of a chat request: text, tool calls and tool schemas, plus a few per message.
    public static func prompt(_ request: ChatRequest) -> Int {
        var total = request.system.reduce(0) { $0 + tokens(in: $1) + 4 }
        for message in request.messages {
            total += 4 + tokens(in: message.text)
            for part in message.parts { if case .image = part { total += 765 } }
            for call in message.toolCalls { total += tokens(in: call.name) + tokens(in: call.arguments) }
        }
        for tool in request.tools {
            total += tokens(in: tool.name) + tokens(in: tool.description ?? "") + tokens(in: tool.parameters.serialized)
        }
        return total
    }
}
