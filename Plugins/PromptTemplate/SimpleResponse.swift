import GatewayPluginSDK

/// The `response: simple` shapes, made from OpenAI Chat Completions answers.
enum SimpleResponse {
    /// `{"result": "<assistant text>", "finish_reason", "usage", "model"}` from a chat
    /// completion; nil if `bytes` is not one (the answer then passes unchanged).
    static func fromCompletion(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let completion = try? JSONValue.parse(bytes), let choices = completion["choices"]?.arrayValue,
            let message = choices.first?["message"]?.objectValue
        else { return nil }
        var out: [String: JSONValue] = [
            "result": message["content"] ?? .null,
            "finish_reason": choices.first?["finish_reason"] ?? .null,
            "usage": completion["usage"] ?? .null,
        ]
        if let model = completion["model"] { out["model"] = model }
        var bytes: [UInt8] = []
        JSONValue.object(out).serialize(into: &bytes)
        return bytes
    }

    /// The events that replace one streamed chunk (`data` of an OpenAI
    /// `chat.completion.chunk` event): `data: {"delta":"..."}` for content,
    /// `data: {"finish_reason":"..."}` when a choice ends, `data: {"usage":{...}}` for
    /// usage; empty (the event is dropped) when the chunk carries none of them. Nil
    /// for anything that is not a chunk (`[DONE]`, an error event, non-JSON): it
    /// passes unchanged.
    static func fromChunk(_ data: UnsafeRawBufferPointer) -> [UInt8]? {
        guard data.first == UInt8(ascii: "{"), let chunk = try? JSONValue.parse(data), case .object(let members) = chunk,
            members["error"] == nil, members["choices"] != nil || members["usage"] != nil
        else { return nil }
        var out: [UInt8] = []
        if let choice = members["choices"]?.arrayValue?.first {
            if let text = choice["delta"]?["content"]?.stringValue, !text.isEmpty {
                event(["delta": .string(text)], into: &out)
            }
            if let reason = choice["finish_reason"]?.stringValue {
                event(["finish_reason": .string(reason)], into: &out)
            }
        }
        if let usage = members["usage"], case .object = usage {
            event(["usage": usage], into: &out)
        }
        return out
    }

    private static func event(_ members: [String: JSONValue], into out: inout [UInt8]) {
        out.append(contentsOf: "data: ".utf8)
        JSONValue.object(members).serialize(into: &out)
        out.append(contentsOf: "\n\n".utf8)
    }
}
