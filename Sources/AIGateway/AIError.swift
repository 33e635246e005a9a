/// An error in the gateway's own terms; each client format renders it in its shape.
public struct AIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalidRequest = "invalid_request_error"
        case authentication = "authentication_error"
        case permission = "permission_error"
        case notFound = "not_found_error"
        case rateLimit = "rate_limit_error"
        case overloaded = "overloaded_error"
        case upstream = "api_error"
        case timeout = "timeout_error"
    }

    public var kind: Kind
    public var status: Int
    public var message: String
    /// Seconds the provider asked us to wait (`Retry-After`).
    public var retryAfter: Int?

    public init(_ kind: Kind, status: Int, _ message: String, retryAfter: Int? = nil) {
        self.kind = kind
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(kind.rawValue): \(message)" }

    public static func invalid(_ message: String) -> AIError { AIError(.invalidRequest, status: 400, message) }

    /// The kind that matches an HTTP status from a provider.
    public static func kind(forStatus status: Int) -> Kind {
        switch status {
        case 400, 413, 422: return .invalidRequest
        case 401: return .authentication
        case 403: return .permission
        case 404: return .notFound
        case 408, 504: return .timeout
        case 429: return .rateLimit
        case 503, 529: return .overloaded
        default: return .upstream
        }
    }

    /// An error from a provider's HTTP answer: the message from its JSON body when it has one.
    public static func fromProvider(status: Int, body: [UInt8], retryAfter: Int?) -> AIError {
        var message = "the provider answered HTTP \(status)"
        if let json = try? JSON.parse(body) {
            // OpenAI/Mistral {"error":{"message"}}, Anthropic {"error":{"message"}}, Gemini {"error":{"message"}}.
            if let m = json["error"]?["message"]?.string ?? json["error"]?.string ?? json["message"]?.string ?? json["detail"]?.string {
                message = m
            }
        }
        return AIError(kind(forStatus: status), status: status, message, retryAfter: retryAfter)
    }

    /// OpenAI's error shape.
    public var openAIBody: JSON {
        .obj([
            "error": .obj([
                "message": .string(message), "type": .string(kind.rawValue), "param": .null,
                "code": .string(kind == .rateLimit ? "rate_limit_exceeded" : kind.rawValue),
            ])
        ])
    }

    /// Anthropic's error shape.
    public var anthropicBody: JSON {
        .obj(["type": .string("error"), "error": .obj(["type": .string(kind.rawValue), "message": .string(message)])])
    }
}
