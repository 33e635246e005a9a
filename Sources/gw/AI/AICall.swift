import AIGateway
import NIOCore
import NIOHTTP1
import PluginHost

/// One call on an AI route: reads the client's request in its format, tries the
/// model's deployments in order (fallback, backoff, cooldown), translates the answer
/// (streamed event by event) into the client's format, and accounts usage and cost.
/// Lives on the exchange's event loop, like the exchange.
final class AICall {
    enum Endpoint {
        case chat
        case messages
        case embeddings
        case models
    }

    enum ClientFormat {
        case openai
        case anthropic
    }

    /// Why an attempt failed, for the retry policy.
    enum FailureCause {
        case connect
        case timeout
        case reset
        case status(Int)
    }

    weak var exchange: Exchange?
    let runtime: AIRuntime
    let route: GatewayConfig.AIRoute
    let endpoint: Endpoint
    let format: ClientFormat
    let loop: any EventLoop
    let requestID: String
    let consumer: String

    var body = ByteBuffer()
    var chat: ChatRequest?
    var embeddings: EmbeddingRequest?
    var alias = ""
    var plan: [AIRuntime.Deployment] = []
    var attempts = 0
    var current: AIRuntime.Deployment?
    var connection: UpstreamConnection?
    var timer: Scheduled<Void>?
    var lastError: AIError?
    var lastCause: FailureCause?
    var finished = false

    // The current attempt's answer.
    var status = 0
    var retryAfter: Int?
    var collected = ByteBuffer()
    var streaming = false
    var framer = SSEFramer()
    var decoder: (any StreamDecoder)?
    var encoder: (any StreamEncoder)?
    var held: [StreamEvent] = []
    var clientStarted = false
    var accumulator = StreamAccumulator()

    var quota: AIQuota?
    var reservation: AIQuota.Reservation?
    let created = AIQuota.now()

    init(exchange: Exchange, runtime: AIRuntime, route: GatewayConfig.AIRoute, endpoint: Endpoint, consumer: String) {
        self.exchange = exchange
        self.runtime = runtime
        self.route = route
        self.endpoint = endpoint
        self.format = endpoint == .messages ? .anthropic : .openai
        self.loop = exchange.loop
        self.requestID = exchange.requestID.string
        self.consumer = consumer
    }

    /// A route's fixed endpoint (`ai: {endpoint: chat}`); nil when the route names none.
    static func endpoint(named name: String?, method: HTTPMethod) -> Endpoint? {
        switch name {
        case "chat"?: return method == .POST ? .chat : nil
        case "messages"?: return method == .POST ? .messages : nil
        case "embeddings"?: return method == .POST ? .embeddings : nil
        case "models"?: return .models
        default: return nil
        }
    }

    static func endpoint(forPath path: Substring, method: HTTPMethod) -> Endpoint? {
        if path.hasSuffix("/chat/completions") && method == .POST { return .chat }
        if path.hasSuffix("/messages") && method == .POST { return .messages }
        if path.hasSuffix("/embeddings") && method == .POST { return .embeddings }
        if path.hasSuffix("/models") && (method == .GET || method == .HEAD) { return .models }
        return nil
    }

    // MARK: - Client request

    func requestBody(_ chunk: ByteBuffer, end: Bool) {
        guard !finished else { return }
        var chunk = chunk
        if body.readableBytes + chunk.readableBytes > runtime.config.maxRequestBytes {
            fail(AIError(.invalidRequest, status: 413, "the request body exceeds \(runtime.config.maxRequestBytes) bytes"), type: "body_too_large")
            return
        }
        body.writeBuffer(&chunk)
        if end { begin() }
    }

    private func begin() {
        if endpoint == .models {
            answerModels()
            return
        }
        let json: AIGateway.JSON
        do {
            json = try body.withUnsafeReadableBytes { try AIGateway.JSON.parse($0) }
        } catch {
            fail(.invalid("the request body is not valid AIGateway.JSON: \(error)"), type: "invalid_request")
            return
        }
        body = ByteBuffer()
        do {
            switch endpoint {
            case .chat: chat = try OpenAIRequest.decode(json)
            case .messages: chat = try AnthropicRequest.decode(json)
            case .embeddings: embeddings = try OpenAIEmbeddings.decode(json)
            case .models: return
            }
        } catch {
            fail(error, type: "invalid_request")
            return
        }
        alias = chat?.model ?? embeddings?.model ?? ""
        guard runtime.models[alias] != nil, route.models.isEmpty || route.models.contains(alias) else {
            fail(AIError(.notFound, status: 404, "The model `\(alias)` does not exist or you do not have access to it."), type: "model_not_found")
            return
        }
        let planned = runtime.plan(alias: alias)
        plan = planned.attempts
        if plan.isEmpty {
            let wait = max(1, Int((planned.coolingFor?.nanoseconds ?? 1_000_000_000) / 1_000_000_000))
            fail(
                AIError(.overloaded, status: 503, "no healthy upstream: every deployment of model \(alias) is cooling down", retryAfter: wait),
                type: "no_healthy_upstream")
            return
        }
        if endpoint == .embeddings, !plan.contains(where: { $0.settings.kind.supportsEmbeddings }) {
            fail(.invalid("model \(alias) has no deployment that supports embeddings"), type: "invalid_request")
            return
        }
        reserveQuotaThenTry()
    }

    /// Reserve the call's estimate on the shared store (async: Redis in cluster mode),
    /// then start the first attempt; or refuse with 429.
    private func reserveQuotaThenTry() {
        let limit = runtime.limit(for: consumer)
        guard limit.tokensPerMinute != nil || limit.budgetUSD != nil, let services = exchange?.state.services else {
            tryNext()
            return
        }
        let quota = AIQuota(store: services.sharedStore.store, fallback: LocalSharedStore(kv: services.kv), limit: limit, consumer: consumer)
        let (tokens, cost) = estimate()
        quota.reserve(tokens: tokens, cost: cost, on: loop).hop(to: loop).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let r):
                guard !self.finished else {
                    quota.release(r, on: self.loop)
                    return
                }
                self.quota = quota
                self.reservation = r
                self.tryNext()
            case .failure(AIQuota.Refusal.tokens(let limit, let wait)):
                self.fail(
                    AIError(
                        .rateLimit, status: 429,
                        "token limit reached: \(limit) tokens per minute for \(self.consumer) (this request needs about \(tokens))",
                        retryAfter: wait), type: "token_limit")
            case .failure(AIQuota.Refusal.budget(let limit, let wait)):
                self.fail(
                    AIError(
                        .rateLimit, status: 429, "budget exhausted: \(limit) USD per \(quota.limit.budgetPeriod.rawValue) for \(self.consumer)",
                        retryAfter: wait), type: "budget_exhausted")
            case .failure(let error):
                self.fail(AIError(.upstream, status: 503, "the quota store failed: \(error)"), type: "quota_unavailable")
            }
        }
    }

    /// Prompt estimate plus the most the answer may use, priced at the dearest deployment.
    private func estimate() -> (Int, Double) {
        let tokens: Int
        var usage: Usage
        if let chat {
            let output = chat.maxTokens ?? runtime.config.defaultMaxTokens
            usage = Usage(input: TokenEstimate.prompt(chat), output: output)
            tokens = usage.input + output
        } else {
            let input = embeddings?.inputs.reduce(0) { $0 + TokenEstimate.tokens(in: $1) } ?? 0
            usage = Usage(input: input)
            tokens = input
        }
        let cost = plan.compactMap { runtime.prices.price(for: $0.model)?.cost(usage) }.max() ?? 0
        return (tokens, cost)
    }

    // MARK: - Attempts

    func tryNext() {
        guard !finished else { return }
        guard attempts < plan.count else {
            finalFailure()
            return
        }
        let deployment = plan[attempts]
        attempts += 1
        if endpoint == .embeddings && !deployment.settings.kind.supportsEmbeddings {
            tryNext()
            return
        }
        current = deployment
        resetAttempt()
        if deployment.settings.kind == .mock {
            answerMock(deployment)
            return
        }
        guard let upstream = deployment.upstream, let target = upstream.targets.first,
            let pool = exchange?.state.pools.pool(for: loop)
        else {
            attemptFailed(.connect, AIError(.upstream, status: 502, "provider \(deployment.providerName) is not reachable"))
            return
        }
        armTimer(deployment.timeout)
        pool.acquire(target, of: upstream).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let connection):
                guard !self.finished, self.current?.id == deployment.id else {
                    pool.release(connection, maxIdle: upstream.config.maxIdlePerLoop)
                    return
                }
                self.send(on: connection, deployment: deployment, target: target)
            case .failure(let error):
                guard !self.finished, self.current?.id == deployment.id else { return }
                self.attemptFailed(.connect, AIError(.upstream, status: 502, "cannot connect to provider \(deployment.providerName): \(error)"))
            }
        }
    }

    private func resetAttempt() {
        status = 0
        retryAfter = nil
        collected = ByteBuffer()
        streaming = false
        framer = SSEFramer()
        decoder = nil
        held = []
        accumulator = StreamAccumulator()
    }

    private func send(on connection: UpstreamConnection, deployment: AIRuntime.Deployment, target: UpstreamSet.ResolvedTarget) {
        self.connection = connection
        connection.handler.delegate = self
        let request: ProviderRequest
        if let chat {
            request = deployment.settings.chatRequest(chat, model: deployment.model)
        } else if let embeddings {
            request = deployment.settings.embeddingsRequest(embeddings, model: deployment.model)
        } else {
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "host", value: target.hostHeader)
        for (name, value) in request.headers { headers.add(name: name, value: value) }
        headers.add(name: "content-length", value: String(request.body.count))
        headers.add(name: "x-request-id", value: requestID)
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: request.path, headers: headers)
        connection.write(.head(head))
        connection.write(.body(.byteBuffer(ByteBuffer(bytes: request.body))))
        connection.write(.end(nil))
        connection.flush()
    }

    private func armTimer(_ timeout: TimeAmount) {
        timer?.cancel()
        let attempt = attempts
        timer = loop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard !self.finished, self.attempts == attempt else { return }
            self.timedOut()
        }
    }

    private func timedOut() {
        dropConnection()
        let error = AIError(.timeout, status: 504, "provider \(current?.providerName ?? "") did not answer in time")
        if clientStarted {
            streamFailed(error)
        } else {
            attemptFailed(.timeout, error)
        }
    }

    func dropConnection() {
        if let connection {
            self.connection = nil
            connection.close()
        }
    }

    func releaseConnection() {
        guard let connection else { return }
        self.connection = nil
        if let pool = exchange?.state.pools.pool(for: loop), let upstream = current?.upstream {
            pool.release(connection, maxIdle: upstream.config.maxIdlePerLoop)
        } else {
            connection.close()
        }
    }

    func attemptFailed(_ cause: FailureCause, _ error: AIError) {
        guard !finished else { return }
        timer?.cancel()
        dropConnection()
        lastError = error
        lastCause = cause
        let routing = runtime.config.routing
        let retryable: Bool
        switch cause {
        case .connect, .reset: retryable = routing.retryOn.contains(.connectFailure)
        case .timeout: retryable = routing.retryOn.contains(.timeout)
        case .status(let code):
            retryable = code == 429 ? routing.retryOn.contains(.rateLimited) : (code >= 500 && routing.retryOn.contains(.serverError))
        }
        if let deployment = current, retryable { deployment.health.failed(retryAfter: error.retryAfter, routing: routing) }
        exchange?.state.services.logger.debug(
            "ai attempt failed",
            metadata: [
                "gw.request.id": "\(requestID)", "gw.ai.model": "\(alias)", "gw.ai.provider": "\(current?.providerName ?? "")",
                "error.message": "\(error.message)",
            ])
        guard retryable, attempts < plan.count else {
            finalFailure()
            return
        }
        let base = routing.backoff.nanoseconds << min(attempts - 1, 6)
        let delay = TimeAmount.nanoseconds(min(base / 2 + Int64.random(in: 0...max(1, base / 2)), 2_000_000_000))
        let attempt = attempts
        timer = loop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard !self.finished, self.attempts == attempt else { return }
            self.tryNext()
        }
    }

    private func finalFailure() {
        var error = lastError ?? AIError(.upstream, status: 502, "no deployment could answer")
        if attempts > 1 { error.message = "all \(attempts) attempts failed; last: \(error.message)" }
        let type: String
        switch lastCause {
        case .timeout?: type = "upstream_timeout"
        case .connect?: type = "upstream_connect_failed"
        case .reset?: type = "upstream_reset"
        default: type = "upstream_error"
        }
        fail(error, type: type)
    }

    /// The client went away or the exchange was abandoned.
    func cancel() {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        dropConnection()
        if let quota, let reservation { quota.release(reservation, on: loop) }
    }
}

@available(*, unavailable)
extension AICall: Sendable {}
