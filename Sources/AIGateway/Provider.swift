/// The wire formats gw speaks to model providers.
public enum ProviderKind: String, Sendable, CaseIterable {
    case openai
    case azure
    case anthropic
    case gemini
    case mistral
    /// Groq, DeepSeek, OpenRouter, Together, vLLM, Ollama, ...: OpenAI's format at a base URL.
    case openaiCompatible = "openai_compatible"
    /// Answers locally and deterministically; no network, no key.
    case mock

    /// The path prefix used when the base URL has none.
    public var defaultBasePath: String {
        switch self {
        case .openai, .anthropic, .mistral, .openaiCompatible: return "/v1"
        case .gemini: return "/v1beta"
        case .azure, .mock: return ""
        }
    }

    public var defaultBaseURL: String? {
        switch self {
        case .openai: return "https://api.openai.com/v1"
        case .anthropic: return "https://api.anthropic.com/v1"
        case .gemini: return "https://generativelanguage.googleapis.com/v1beta"
        case .mistral: return "https://api.mistral.ai/v1"
        case .azure, .openaiCompatible, .mock: return nil
        }
    }

    public var supportsEmbeddings: Bool { self != .anthropic }
}

/// What a deployment needs to build provider requests (no sockets here).
public struct ProviderSettings: Sendable {
    public var kind: ProviderKind
    /// Path part of the base URL, without a trailing slash ("/v1").
    public var basePath: String
    /// The secret, already resolved from its env var or file. Never logged.
    public var apiKey: String?
    /// Azure `api-version`; Anthropic `anthropic-version`.
    public var apiVersion: String?
    /// Anthropic needs max_tokens: used when the client gave none.
    public var defaultMaxTokens: Int
    /// Ask an OpenAI-format provider for the usage chunk (`stream_options`); off for
    /// servers that refuse the parameter.
    public var streamUsage: Bool

    public init(
        kind: ProviderKind, basePath: String, apiKey: String?, apiVersion: String? = nil, defaultMaxTokens: Int = 4096,
        streamUsage: Bool = true
    ) {
        self.kind = kind
        self.basePath = basePath
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.defaultMaxTokens = defaultMaxTokens
        self.streamUsage = streamUsage
    }
}

/// One HTTP request to a provider.
public struct ProviderRequest: Sendable {
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]
}

extension ProviderSettings {
    private var authHeaders: [(String, String)] {
        guard let key = apiKey, !key.isEmpty else { return [] }
        switch kind {
        case .azure: return [("api-key", key)]
        case .anthropic: return [("x-api-key", key)]
        case .gemini: return [("x-goog-api-key", key)]
        case .openai, .mistral, .openaiCompatible: return [("authorization", "Bearer \(key)")]
        case .mock: return []
        }
    }

    private var commonHeaders: [(String, String)] {
        var headers: [(String, String)] = [("content-type", "application/json")] + authHeaders
        if kind == .anthropic { headers.append(("anthropic-version", apiVersion ?? "2023-06-01")) }
        return headers
    }

    public func chatRequest(_ request: ChatRequest, model: String) -> ProviderRequest {
        let body: JSON
        let path: String
        var headers = commonHeaders
        switch kind {
        case .openai, .openaiCompatible, .mock:
            body = OpenAIRequest.encode(request, model: model, includeUsage: streamUsage)
            path = basePath + "/chat/completions"
        case .mistral:
            var r = request
            if r.toolChoice == .required { r.extra.append(.init("tool_choice", .string("any"))) }
            if r.toolChoice == .required { r.toolChoice = nil }
            body = OpenAIRequest.encode(r, model: model, includeUsage: false)
            path = basePath + "/chat/completions"
        case .azure:
            body = OpenAIRequest.encode(request, model: model, includeUsage: streamUsage, maxTokensKey: "max_completion_tokens")
            path = basePath + "/openai/deployments/\(model)/chat/completions?api-version=\(apiVersion ?? "2024-10-21")"
        case .anthropic:
            body = AnthropicRequest.encode(request, model: model, defaultMaxTokens: defaultMaxTokens)
            path = basePath + "/messages"
        case .gemini:
            body = Gemini.encode(request)
            path = basePath + "/models/\(model)" + (request.stream ? ":streamGenerateContent?alt=sse" : ":generateContent")
        }
        if request.stream { headers.append(("accept", "text/event-stream")) }
        return ProviderRequest(path: path, headers: headers, body: body.bytes)
    }

    public func decodeChat(_ body: JSON, model: String) throws(AIError) -> ChatResponse {
        switch kind {
        case .openai, .openaiCompatible, .mistral, .azure, .mock: return try OpenAIResponse.decode(body)
        case .anthropic: return try AnthropicResponse.decode(body)
        case .gemini: return try Gemini.decode(body, model: model)
        }
    }

    public func makeStreamDecoder() -> any StreamDecoder {
        switch kind {
        case .openai, .openaiCompatible, .mistral, .azure, .mock: return OpenAIStreamDecoder()
        case .anthropic: return AnthropicStreamDecoder()
        case .gemini: return GeminiStreamDecoder()
        }
    }

    public func embeddingsRequest(_ request: EmbeddingRequest, model: String) -> ProviderRequest {
        switch kind {
        case .gemini:
            let requests: [JSON] = request.inputs.map { text in
                .obj([
                    "model": .string("models/\(model)"), "content": .obj(["parts": .array([.obj(["text": .string(text)])])]),
                    "outputDimensionality": request.dimensions.map(JSON.int),
                ])
            }
            return ProviderRequest(
                path: basePath + "/models/\(model):batchEmbedContents", headers: commonHeaders,
                body: JSON.obj(["requests": .array(requests)]).bytes)
        default:
            let body = JSON.obj([
                "model": .string(model), "input": .array(request.inputs.map(JSON.string)),
                "dimensions": request.dimensions.map(JSON.int), "encoding_format": .string("float"),
            ])
            let path = kind == .azure
                ? basePath + "/openai/deployments/\(model)/embeddings?api-version=\(apiVersion ?? "2024-10-21")"
                : basePath + "/embeddings"
            return ProviderRequest(path: path, headers: commonHeaders, body: body.bytes)
        }
    }

    public func decodeEmbeddings(_ body: JSON, request: EmbeddingRequest, model: String) throws(AIError) -> EmbeddingResponse {
        let bad = AIError(.upstream, status: 502, "the provider's embeddings answer is not in the expected shape")
        switch kind {
        case .gemini:
            guard let items = body["embeddings"]?.array else { throw bad }
            let vectors = items.map { ($0["values"]?.array ?? []).compactMap(\.double) }
            let estimate = request.inputs.reduce(0) { $0 + TokenEstimate.tokens(in: $1) }
            return EmbeddingResponse(model: model, vectors: vectors, usage: Usage(input: estimate))
        default:
            guard let items = body["data"]?.array else { throw bad }
            let sorted = items.sorted { ($0["index"]?.int ?? 0) < ($1["index"]?.int ?? 0) }
            let vectors = sorted.map { ($0["embedding"]?.array ?? []).compactMap(\.double) }
            return EmbeddingResponse(
                model: body["model"]?.string ?? model, vectors: vectors, usage: Usage(input: body["usage"]?["prompt_tokens"]?.int ?? 0))
        }
    }
}
