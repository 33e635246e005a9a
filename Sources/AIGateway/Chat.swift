/// The gateway's own chat model: every inbound format decodes into it and every
/// provider format encodes from it, so N formats need 2N translations, not N².

public struct ChatRequest: Sendable, Equatable {
    public var model: String
    /// System instructions, in order (OpenAI `system`/`developer` messages, Anthropic `system`).
    public var system: [String] = []
    public var messages: [ChatMessage] = []
    public var tools: [ToolSpec] = []
    public var toolChoice: ToolChoice?
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var stop: [String] = []
    public var stream = false
    /// The client asked for a usage chunk at the end of the stream (OpenAI `stream_options`).
    public var streamUsage = false
    public var user: String?
    /// OpenAI parameters gw does not model (seed, response_format, ...): passed on to
    /// OpenAI-format providers only.
    public var extra: [JSON.Member] = []

    public init(model: String) {
        self.model = model
    }
}

public enum ChatRole: String, Sendable, Equatable {
    case user
    case assistant
    case tool
}

public enum ContentPart: Sendable, Equatable {
    case text(String)
    /// An image by URL (`https:` or `data:<mime>;base64,...`).
    case image(url: String)
}

public struct ChatMessage: Sendable, Equatable {
    public var role: ChatRole
    public var parts: [ContentPart]
    /// Assistant messages: the tools it called.
    public var toolCalls: [ToolCall] = []
    /// Tool messages: the call answered.
    public var toolCallID: String?
    public var isError = false

    public init(role: ChatRole, parts: [ContentPart], toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.parts = parts
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    public var text: String {
        parts.reduce(into: "") { out, part in if case .text(let t) = part { out += t } }
    }
}

public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments as JSON text (OpenAI carries text; others carry an object).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

public struct ToolSpec: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// JSON Schema of the arguments.
    public var parameters: JSON

    public init(name: String, description: String?, parameters: JSON) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

public enum ToolChoice: Sendable, Equatable {
    case auto
    case none
    case required
    case named(String)
}

public enum FinishReason: Sendable, Equatable {
    case stop
    case length
    case toolCalls
    case contentFilter
    case other(String)
}

/// Token counts. `input` includes cached and cache-write tokens; `output` includes
/// reasoning tokens (the subsets are kept apart for pricing and the call log).
public struct Usage: Sendable, Equatable {
    public var input = 0
    public var output = 0
    public var cachedInput = 0
    public var cacheWrite = 0
    public var reasoning = 0

    public init(input: Int = 0, output: Int = 0, cachedInput: Int = 0, cacheWrite: Int = 0, reasoning: Int = 0) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
    }

    public var total: Int { input + output }
}

public struct ChatResponse: Sendable, Equatable {
    public var id: String
    public var model: String
    public var text: String
    public var toolCalls: [ToolCall]
    public var finish: FinishReason
    public var usage: Usage?
    public var created: Int

    public init(id: String, model: String, text: String, toolCalls: [ToolCall], finish: FinishReason, usage: Usage?, created: Int) {
        self.id = id
        self.model = model
        self.text = text
        self.toolCalls = toolCalls
        self.finish = finish
        self.usage = usage
        self.created = created
    }
}

/// One step of a streamed answer, whatever the provider's wire format.
public enum StreamEvent: Sendable, Equatable {
    case text(String)
    /// A tool call begins (`index` counts tool calls from 0 in this answer).
    case toolStart(index: Int, id: String, name: String)
    case toolArguments(index: Int, String)
    case finish(FinishReason)
    /// Usage so far; later events replace earlier ones field by field where non-zero.
    case usage(Usage)
    /// The provider reported an error inside the stream.
    case error(AIError)

    /// Content the client sees (as opposed to bookkeeping): headers are held until the first.
    public var isContent: Bool {
        switch self {
        case .text, .toolStart, .toolArguments: return true
        default: return false
        }
    }
}

public struct EmbeddingRequest: Sendable, Equatable {
    public var model: String
    public var inputs: [String]
    public var dimensions: Int?
    /// The client's `encoding_format` (float or base64).
    public var encodingFormat: String?

    public init(model: String, inputs: [String]) {
        self.model = model
        self.inputs = inputs
    }
}

public struct EmbeddingResponse: Sendable, Equatable {
    public var model: String
    public var vectors: [[Double]]
    public var usage: Usage

    public init(model: String, vectors: [[Double]], usage: Usage) {
        self.model = model
        self.vectors = vectors
        self.usage = usage
    }
}
