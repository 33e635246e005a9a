/// Turns one provider's SSE events into gw's stream events.
public protocol StreamDecoder: Sendable {
    /// One SSE event (`event:` name, `data:` bytes). Throws when the stream is garbage.
    mutating func decode(event: String, data: [UInt8]) throws(AIError) -> [StreamEvent]
    /// The provider signalled a proper end (OpenAI `[DONE]`, Anthropic `message_stop`, ...).
    var done: Bool { get }
}

/// Writes gw's stream events in one client format.
public protocol StreamEncoder: Sendable {
    mutating func encode(_ event: StreamEvent, into out: inout [UInt8])
    /// The upstream ended properly: close the stream in this format.
    mutating func finish(into out: inout [UInt8])
    /// The upstream failed after content was sent: end with this format's error event.
    mutating func fail(_ error: AIError, into out: inout [UInt8])
}

extension Usage {
    /// Fields of `other` that are set replace this one's (providers report usage in pieces).
    public func merged(with other: Usage) -> Usage {
        Usage(
            input: other.input != 0 ? other.input : input, output: other.output != 0 ? other.output : output,
            cachedInput: other.cachedInput != 0 ? other.cachedInput : cachedInput,
            cacheWrite: other.cacheWrite != 0 ? other.cacheWrite : cacheWrite,
            reasoning: other.reasoning != 0 ? other.reasoning : reasoning)
    }
}

/// Collects a stream into one response (for a non-streaming client of a streaming provider,
/// and for the call log's usage figures).
public struct StreamAccumulator: Sendable {
    public var text = ""
    public var toolCalls: [ToolCall] = []
    public var finish: FinishReason?
    public var usage: Usage?

    public init() {}

    public mutating func add(_ event: StreamEvent) {
        switch event {
        case .text(let t): text += t
        case .toolStart(let index, let id, let name):
            while toolCalls.count <= index { toolCalls.append(ToolCall(id: "", name: "", arguments: "")) }
            toolCalls[index].id = id
            toolCalls[index].name = name
        case .toolArguments(let index, let args):
            while toolCalls.count <= index { toolCalls.append(ToolCall(id: "call_\(index)", name: "", arguments: "")) }
            toolCalls[index].arguments += args
        case .finish(let reason): finish = reason
        case .usage(let u): usage = usage.map { $0.merged(with: u) } ?? u
        case .error: break
        }
    }
}
