import NIOCore
import NIOHTTP1
import PluginHost

extension Exchange: FilterChainRunDelegate {
    func filterRunRequestHeadersDone(_ run: FilterChainRun) {
        requestHeadersReady()
        downstream.maybeResumeReads()
    }

    func filterRun(_ run: FilterChainRun, forwardRequestBody body: ByteBuffer, end: Bool) {
        forwardRequestBody(body, end: end)
        downstream.maybeResumeReads()
    }

    func filterRunResponseHeadersDone(_ run: FilterChainRun) {
        // Moved out (`take`), not copied and cleared: a copy retains its bytes.
        if let received = receivedResponse.take() {
            if let edits = run.responseBytes {
                responseHeadPassedThrough(received, edits: edits)
            } else if let head = run.responseHead {
                responseHeadReady(head)
            }
        } else if let head = run.responseHead {
            responseHeadReady(head)
        }
        // Resumed outside any read (a paused filter): nobody else will flush.
        if !inUpstreamRead && !downstream.inRead { flushDownstream() }
        connection?.handler.setHoldReads(!context.channel.isWritable)
    }

    func filterRun(_ run: FilterChainRun, forwardResponseBody body: ByteBuffer, end: Bool) {
        forwardResponseBody(body, end: end)
    }

    func filterRun(_ run: FilterChainRun, sendLocalReply reply: LocalReply) {
        guard !done else { return }
        if responseStarted {
            fail(status: .internalServerError, type: "filter_reset", message: reply.details, close: true)
            return
        }
        // The upstream exchange (if any) is abandoned: its connection cannot be reused.
        endTry(closeConnection: true)
        releaseSlots()
        connection?.close()
        connection = nil
        var head = HTTPResponseHead(version: clientVersion, status: reply.status, headers: reply.headers)
        head.headers.replaceOrAdd(name: "content-length", value: String(reply.body.readableBytes))
        head.headers.replaceOrAdd(name: "x-request-id", value: requestID.string)
        if (!requestComplete && expectsBody) || !clientKeepAlive {
            head.headers.replaceOrAdd(name: "connection", value: "close")
            closeAfterResponse = true
        }
        done = true
        responseStarted = true
        run.finish()
        downstream.writeResponseHead(head, bodiless: isHEAD)
        if !isHEAD { downstream.writeResponseBody(reply.body) }
        let lastWrite = downstream.writeResponseEnd(needsFuture: true)
        downstream.flush()
        downstream.exchangeFinished(self, keepAlive: !closeAfterResponse, lastWrite: lastWrite)
    }

    func filterRun(_ run: FilterChainRun, failed failure: FilterFailure) {
        fail(status: .internalServerError, type: "plugin_failure", message: failure.description, close: false)
    }

    func filterRun(_ run: FilterChainRun, reset reason: String, status: HTTPResponseStatus) {
        let type = status == .payloadTooLarge ? "body_too_large" : "filter_reset"
        fail(status: status, type: type, message: reason, close: true)
    }

    func filterRunCollectsRequestBody(_ run: FilterChainRun) {
        continueIfExpected()
    }

    func flushDownstream() {
        if downstreamNeedsFlush {
            downstreamNeedsFlush = false
            downstream.flush()
        }
    }
}

extension Exchange: UpstreamResponseDelegate {
    func upstreamResponseHead(_ head: consuming ReceivedResponseHead) {
        guard !done else { return }
        let status = head.status
        if let upstream, let index = targetIndex {
            if status >= 500 {
                upstream.balancer.active[index].failed("http_5xx")
                upstream.health.failed(index, kind: .serverError, cause: "http_5xx")
            }
        }
        attempt.upstreamStatus = status
        // A status the route retries: another try, if one is allowed, before anything reaches the client.
        if status >= 409, retryPolicy.statuses.contains(status),
            tryFailed(.status(status), message: "the upstream answered \(status)")
        {
            return
        }
        responseHeadReceived = true
        firstByteDeadline = nil
        tryAnswered()
        inUpstreamRead = true
        defer { inUpstreamRead = false }
        if let run {
            let endOfStream = isHEAD || status == 204 || status == 304 || head.contentLength == 0
            // A head the pass-through writer takes stays bytes through the filters.
            if clientVersion == .http1_1 && head.passesThrough && head.fitsHeadBytes {
                let bytes = head.makeHeadBytes()
                receivedResponse = consume head
                run.startResponse(bytes: bytes, endOfStream: endOfStream)
            } else {
                run.startResponse(head.makeHead(), endOfStream: endOfStream)
            }
        } else if clientVersion == .http1_1 && head.passesThrough {
            responseHeadPassedThrough(head)
        } else {
            responseHeadReady(head.makeHead())
        }
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard !done else { return }
        inUpstreamRead = true
        defer { inUpstreamRead = false }
        if let run { run.responseBody(body, end: false) } else { forwardResponseBody(body, end: false) }
    }

    func upstreamResponseEnd() {
        guard !done else { return }
        // A complete answer that is not a 5xx ends the target's failure runs.
        if attempt.upstreamStatus < 500, let upstream, let index = targetIndex { upstream.health.succeeded(index) }
        if let run { run.responseBody(ByteBuffer(), end: true) } else { forwardResponseBody(ByteBuffer(), end: true) }
    }

    func upstreamReadComplete() {
        flushDownstream()
    }

    func upstreamFailed(_ error: any Error) {
        guard !done else { return }
        connection = nil
        let protocolError = error is HTTPParserError
        let type = protocolError ? "upstream_protocol_error" : "upstream_reset"
        // A reused keep-alive connection closed before any answer is the keep-alive
        // race, not the target's fault (docs/decisions.md).
        let keepAliveRace = attempt.reusedConnection && !responseHeadReceived && !protocolError
        if let upstream, let index = targetIndex, !keepAliveRace {
            upstream.balancer.active[index].failed(type)
            upstream.health.failed(index, kind: .local, cause: type)
        }
        if responseStarted {
            abandon()
            context.close(promise: nil)
            return
        }
        let message = protocolError
            ? "the upstream sent an invalid HTTP response (\(error))"
            : "the upstream connection closed before a complete response"
        if responseHeadReceived {
            fail(status: .badGateway, type: type, message: message, close: false)
        } else {
            tryFailed(.reset(protocolError: protocolError), message: message)
        }
    }

    func upstreamWritabilityChanged() {
        downstream.maybeResumeReads()
    }
}
