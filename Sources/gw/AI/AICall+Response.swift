import AIGateway
import NIOCore
import NIOHTTP1
import PluginHost

/// The provider's answer: status and body collected, or SSE translated event by event.
extension AICall: UpstreamResponseDelegate {
    static let maxCollectedBytes = 32 * 1024 * 1024

    func upstreamResponseHead(_ received: consuming ReceivedResponseHead) {
        guard !finished else { return }
        let head = received.makeHead()
        status = Int(head.status.code)
        retryAfter = head.headers.first(name: "retry-after").flatMap { Int($0) }
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().contains("text/event-stream") ?? false
        if (200..<300).contains(status), chat?.stream == true, isEventStream, let current {
            streaming = true
            decoder = current.settings.makeStreamDecoder()
            armIdleTimer()
        } else {
            timer?.cancel()
        }
    }

    func upstreamResponseBody(_ chunk: ByteBuffer) {
        guard !finished else { return }
        if streaming {
            armIdleTimer()
            for event in framer.feed(chunk) {
                guard !finished, streaming else { return }
                handle(sse: event)
            }
            return
        }
        var chunk = chunk
        guard collected.readableBytes + chunk.readableBytes <= Self.maxCollectedBytes else {
            attemptFailed(.status(502), AIError(.upstream, status: 502, "the provider's answer exceeds \(Self.maxCollectedBytes) bytes"))
            return
        }
        collected.writeBuffer(&chunk)
    }

    func upstreamResponseEnd() {
        guard !finished else { return }
        timer?.cancel()
        releaseConnection()
        if streaming {
            streamEnded()
        } else if (200..<300).contains(status) {
            answerCollected()
        } else {
            let error = AIError.fromProvider(status: status, body: Array(collected.readableBytesView), retryAfter: retryAfter)
            attemptFailed(.status(status), error)
        }
    }

    func upstreamReadComplete() {
        exchange?.flushDownstream()
    }

    func upstreamFailed(_ error: any Error) {
        guard !finished else { return }
        connection = nil
        let failure = AIError(.upstream, status: 502, "the connection to provider \(current?.providerName ?? "") failed: \(error)")
        if clientStarted {
            streamFailed(failure)
        } else {
            attemptFailed(.reset, failure)
        }
    }

    func upstreamWritabilityChanged() {}

    private func armIdleTimer() {
        timer?.cancel()
        let attempt = attempts
        timer = loop.assumeIsolated().scheduleTask(in: runtime.config.streamIdleTimeout) { [self] in
            guard !self.finished, self.attempts == attempt else { return }
            self.dropConnection()
            let error = AIError(.timeout, status: 504, "the provider's stream stalled for longer than the stream idle timeout")
            if self.clientStarted { self.streamFailed(error) } else { self.attemptFailed(.timeout, error) }
        }
    }

    // MARK: - Streams

    private func handle(sse: SSEFramer.Event) {
        guard var decoder else { return }
        let events: [StreamEvent]
        do {
            events = try decoder.decode(event: sse.event, data: sse.data)
        } catch {
            self.decoder = decoder
            if clientStarted { streamFailed(error) } else { attemptFailed(.status(502), error) }
            return
        }
        self.decoder = decoder
        for event in events {
            guard !finished else { return }
            if case .error(let error) = event {
                if clientStarted { streamFailed(error) } else { attemptFailed(.status(error.status), error) }
                return
            }
            accumulator.add(event)
            if clientStarted {
                write(events: [event])
            } else if event.isContent {
                startClientStream()
                write(events: held + [event])
                held = []
            } else {
                held.append(event)
            }
        }
    }

    private func startClientStream() {
        guard let current else { return }
        clientStarted = true
        switch format {
        case .openai:
            encoder = OpenAIStreamEncoder(
                id: "chatcmpl-\(requestID)", model: alias, created: created, includeUsage: chat?.streamUsage ?? false)
        case .anthropic:
            encoder = AnthropicStreamEncoder(id: "msg_\(requestID)", model: alias)
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        addServedHeaders(&headers, current)
        exchange?.aiSendHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers), endOfStream: false)
    }

    private func write(events: [StreamEvent]) {
        guard var encoder else { return }
        var out: [UInt8] = []
        for event in events { encoder.encode(event, into: &out) }
        self.encoder = encoder
        if !out.isEmpty { exchange?.aiSendBody(ByteBuffer(bytes: out), end: false) }
    }

    private func streamEnded() {
        let complete = decoder?.done == true || accumulator.finish != nil
        guard clientStarted else {
            if complete {
                // A proper stream with no content at all (an empty answer): send it.
                startClientStream()
                write(events: held)
                finishStream()
            } else {
                attemptFailed(.reset, AIError(.upstream, status: 502, "the provider's stream ended before any content"))
            }
            return
        }
        if complete {
            finishStream()
        } else {
            streamFailed(AIError(.upstream, status: 502, "the provider's stream ended before the answer was complete"))
        }
    }

    private func finishStream() {
        guard var encoder else { return }
        var out: [UInt8] = []
        encoder.finish(into: &out)
        self.encoder = encoder
        current?.health.succeeded()
        let usage = accumulator.usage ?? estimatedUsage()
        account(usage)
        finished = true
        exchange?.aiSendBody(ByteBuffer(bytes: out), end: true)
    }

    /// Content already reached the client: end with the format's error event (never a clean end).
    func streamFailed(_ error: AIError) {
        guard !finished else { return }
        timer?.cancel()
        dropConnection()
        if let deployment = current { deployment.health.failed(retryAfter: nil, routing: runtime.config.routing) }
        var out: [UInt8] = []
        if var encoder {
            encoder.fail(error, into: &out)
            self.encoder = encoder
        }
        account(accumulator.usage ?? estimatedUsage())
        finished = true
        exchange?.aiSendBody(ByteBuffer(bytes: out), end: true)
    }

    /// When a stream reported no usage: the estimate of what was sent and received.
    private func estimatedUsage() -> Usage {
        var output = TokenEstimate.tokens(in: accumulator.text)
        for call in accumulator.toolCalls { output += TokenEstimate.tokens(in: call.arguments) }
        return Usage(input: chat.map(TokenEstimate.prompt) ?? 0, output: output)
    }
}
