import AIGateway
import NIOCore

extension GatewayConfig {
    /// The `ai:` section: providers, the model catalogue, routing policy, prices and limits.
    struct AI: Sendable {
        struct Provider: Sendable {
            var name: String
            var kind: ProviderKind
            /// `scheme://host:port/path`; nil for mock.
            var baseURL: String?
            /// Where the key comes from: `env:NAME` or `file:/path` (never inline in logs).
            var apiKeyRef: String?
            var apiVersion: String?
            var timeout: TimeAmount = .seconds(120)
            var tlsVerify = true
            var streamUsage = true
            var line: Int
        }

        struct Deployment: Sendable {
            var provider: String
            var model: String
            var weight = 1
            var priority = 0
            /// Overrides the provider's key (key pools: one deployment per key).
            var apiKeyRef: String?
            var line: Int
        }

        struct Model: Sendable {
            var name: String
            var deployments: [Deployment]
            var fallbacks: [String] = []
            var line: Int
        }

        enum RetryCondition: String, Sendable, CaseIterable {
            case connectFailure = "connect_failure"
            case timeout
            case rateLimited = "429"
            case serverError = "5xx"
        }

        struct Routing: Sendable {
            var retryOn: Set<RetryCondition> = Set(RetryCondition.allCases)
            /// Tries in all (deployments and fallbacks) for one request.
            var maxAttempts = 4
            var backoff: TimeAmount = .milliseconds(50)
            /// Failures in a row that put a deployment on cooldown.
            var cooldownAfter = 3
            var cooldown: TimeAmount = .seconds(30)
        }

        struct Limit: Sendable {
            var tokensPerMinute: Int?
            var budgetUSD: Double?
            var budgetPeriod: BudgetPeriod = .day
        }

        enum BudgetPeriod: String, Sendable, CaseIterable {
            case hour, day, month
        }

        var providers: [String: Provider] = [:]
        var models: [Model] = []
        var routing = Routing()
        var prices: [String: Price] = [:]
        var pricesFile: String?
        var defaultLimit = Limit()
        var consumerLimits: [String: Limit] = [:]
        /// Largest chat/embeddings request body gw will read (it must parse it whole).
        var maxRequestBytes = 16 * 1024 * 1024
        /// Longest silence between two stream events before the stream counts as stalled.
        var streamIdleTimeout: TimeAmount = .seconds(60)
        /// Output tokens assumed for the quota reservation when the client sets no max_tokens.
        var defaultMaxTokens = 1024
    }

    /// A route's `ai:` action.
    struct AIRoute: Sendable {
        /// Aliases callable on this route (empty = all).
        var models: [String] = []
        /// Which API the route speaks; nil = by the path's ending (…/chat/completions, …/messages,
        /// …/embeddings, …/models). A prompt API (`POST /apis/summarize`) sets `chat`.
        var endpoint: String?
    }
}
