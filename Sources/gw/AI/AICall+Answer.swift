import AIGateway
import NIOCore
import NIOHTTP1
import PluginHost

/// Whole answers: collected provider responses, the mock provider, `/v1/models`, errors.
extension AICall {
    func answerCollected() {
        guard let current else { return }
        let json: AIGateway.JSON
        do {
            json = try collected.withUnsafeReadableBytes { try AIGateway.JSON.parse($0) }
        } catch {
            attemptFailed(.status(502), AIError(.upstream, status: 502, "the provider answered with invalid JSON: \(error)"))
            return
        }
        collected = ByteBuffer()
        do {
            if let embeddings {
                let response = try current.settings.decodeEmbeddings(json, request: embeddings, model: current.model)
                current.health.succeeded()
                respondEmbeddings(response, request: embeddings, deployment: current)
            } else {
                let response = try current.settings.decodeChat(json, model: current.model)
                current.health.succeeded()
                respondChat(response, deployment: current)
            }
        } catch {
            attemptFailed(.status(error.status), error)
        }
    }

    func answerMock(_ deployment: AIRuntime.Deployment) {
        if let embeddings {
            let dimensions = embeddings.dimensions ?? 256
            let vectors = embeddings.inputs.map { MockProvider.embedding(of: $0, dimensions: dimensions) }
            let usage = Usage(input: embeddings.inputs.reduce(0) { $0 + TokenEstimate.tokens(in: $1) })
            respondEmbeddings(EmbeddingResponse(model: deployment.model, vectors: vectors, usage: usage), request: embeddings, deployment: deployment)
            return
        }
        guard let chat else { return }
        let response = MockProvider.reply(to: chat, model: deployment.model, id: requestID, created: created)
        guard chat.stream else {
            respondChat(response, deployment: deployment)
            return
        }
        // The same answer, streamed through the same encoder path as a provider's stream.
        status = 200
        streaming = true
        for event in MockProvider.events(for: response) { accumulator.add(event) }
        let events = MockProvider.events(for: response)
        mockStream(events, deployment: deployment)
    }

    private func mockStream(_ events: [StreamEvent], deployment: AIRuntime.Deployment) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        addServedHeaders(&headers, deployment)
        var encoder: any StreamEncoder
        switch format {
        case .openai:
            encoder = OpenAIStreamEncoder(id: "chatcmpl-\(requestID)", model: alias, created: created, includeUsage: chat?.streamUsage ?? false)
        case .anthropic:
            encoder = AnthropicStreamEncoder(id: "msg_\(requestID)", model: alias)
        }
        var out: [UInt8] = []
        for event in events { encoder.encode(event, into: &out) }
        encoder.finish(into: &out)
        clientStarted = true
        account(accumulator.usage ?? Usage())
        finished = true
        exchange?.aiSendHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers), endOfStream: false)
        exchange?.aiSendBody(ByteBuffer(bytes: out), end: true)
    }

    private func respondChat(_ response: ChatResponse, deployment: AIRuntime.Deployment) {
        var response = response
        response.id = response.id.isEmpty ? requestID : response.id
        response.model = alias
        if response.created == 0 { response.created = created }
        let usage = response.usage ?? Usage(input: chat.map(TokenEstimate.prompt) ?? 0, output: TokenEstimate.tokens(in: response.text))
        response.usage = usage
        let body: AIGateway.JSON
        switch format {
        case .openai:
            response.id = response.id.hasPrefix("chatcmpl") ? response.id : "chatcmpl-\(response.id)"
            body = OpenAIResponse.encode(response)
        case .anthropic:
            response.id = response.id.hasPrefix("msg_") ? response.id : "msg_\(response.id)"
            body = AnthropicResponse.encode(response)
        }
        let cost = account(usage)
        respond(status: 200, body: body, deployment: deployment, usage: usage, cost: cost)
    }

    private func respondEmbeddings(_ response: EmbeddingResponse, request: EmbeddingRequest, deployment: AIRuntime.Deployment) {
        let cost = account(response.usage)
        let body = OpenAIEmbeddings.encode(response, model: alias, base64: request.encodingFormat == "base64")
        respond(status: 200, body: body, deployment: deployment, usage: response.usage, cost: cost)
    }

    func answerModels() {
        let names = runtime.modelNames.filter { route.models.isEmpty || route.models.contains($0) }
        let owners = names.map { (name: $0, owner: runtime.models[$0]?.deployments.first?.providerName ?? "gw") }
        respond(status: 200, body: OpenAIEmbeddings.models(owners, created: created), deployment: nil, usage: nil, cost: nil)
    }

    func addServedHeaders(_ headers: inout HTTPHeaders, _ deployment: AIRuntime.Deployment) {
        headers.add(name: "x-gw-model", value: alias)
        headers.add(name: "x-gw-provider", value: deployment.providerName)
        headers.add(name: "x-gw-served-model", value: deployment.model)
        if attempts > 1 { headers.add(name: "x-gw-attempts", value: String(attempts)) }
    }

    private func respond(status: Int, body: AIGateway.JSON, deployment: AIRuntime.Deployment?, usage: Usage?, cost: Double?) {
        finished = true
        timer?.cancel()
        let bytes = body.bytes
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(bytes.count))
        if let deployment { addServedHeaders(&headers, deployment) }
        if let usage {
            headers.add(name: "x-gw-usage-input-tokens", value: String(usage.input))
            headers.add(name: "x-gw-usage-output-tokens", value: String(usage.output))
        }
        if let cost { headers.add(name: "x-gw-cost-usd", value: Self.money(cost)) }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        exchange?.aiSendHead(head, endOfStream: false)
        exchange?.aiSendBody(ByteBuffer(bytes: bytes), end: true)
    }

    /// An error in the client's format, with `x-gw-error` naming the cause.
    func fail(_ error: AIError, type: String) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        dropConnection()
        if let quota, let reservation { quota.release(reservation, on: loop) }
        let body = format == .anthropic ? error.anthropicBody : error.openAIBody
        let bytes = body.bytes
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(bytes.count))
        headers.add(name: "x-gw-error", value: type)
        if let wait = error.retryAfter { headers.add(name: "retry-after", value: String(wait)) }
        if let current { headers.add(name: "x-gw-provider", value: current.providerName) }
        if attempts > 0 { headers.add(name: "x-gw-attempts", value: String(attempts)) }
        exchange?.state.services.logger.debug(
            "ai call failed", metadata: ["gw.request.id": "\(requestID)", "gw.ai.model": "\(alias)", "error.message": "\(error.message)"])
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: error.status), headers: headers)
        exchange?.aiSendHead(head, endOfStream: false)
        exchange?.aiSendBody(ByteBuffer(bytes: bytes), end: true)
    }

    /// Cost of the call; usage and cost go to request metadata (the call log) and the quota.
    @discardableResult
    func account(_ usage: Usage) -> Double {
        let model = current?.model ?? alias
        let cost = runtime.prices.price(for: model)?.cost(usage) ?? 0
        if let quota, let reservation {
            quota.reconcile(reservation, tokens: usage.total, cost: cost, on: loop)
            self.reservation = nil
        }
        exchange?.aiRecord([
            ("ai.model", alias), ("ai.provider", current?.providerName ?? ""), ("ai.served_model", model),
            ("ai.input_tokens", String(usage.input)), ("ai.output_tokens", String(usage.output)),
            ("ai.cached_tokens", String(usage.cachedInput)), ("ai.cache_write_tokens", String(usage.cacheWrite)),
            ("ai.reasoning_tokens", String(usage.reasoning)), ("ai.cost_usd", Self.money(cost)), ("ai.attempts", String(attempts)),
            ("ai.consumer", consumer),
        ])
        return cost
    }

    /// Dollars with 8 decimals, no exponent ("0.00001250").
    static func money(_ value: Double) -> String {
        let scaled = Int64((value * 100_000_000).rounded())
        let whole = scaled / 100_000_000
        let frac = String(scaled % 100_000_000)
        return "\(whole)." + String(repeating: "0", count: 8 - frac.count) + frac
    }
}
