import NIOCore
import NIOHTTP1

/// The exchange's side of an AI call: the call writes its answer through the route's
/// filters (response hooks run in reverse, as for a proxied answer).
extension Exchange {
    func startAI(runtime: AIRuntime, route spec: GatewayConfig.AIRoute) {
        let head = currentRequestHead
        let path = head.uri.firstIndex(of: "?").map { head.uri[..<$0] } ?? Substring(head.uri)
        guard let endpoint = AICall.endpoint(named: spec.endpoint, method: head.method) ?? AICall.endpoint(forPath: path, method: head.method)
        else {
            fail(
                status: .notFound, type: "no_route",
                message: "AI routes answer POST .../chat/completions, .../messages, .../embeddings and GET .../models", close: false)
            return
        }
        let consumer = run?.metadataString("auth.consumer") ?? "ip:\(downstream.clientAddress)"
        aiCall = AICall(exchange: self, runtime: runtime, route: spec, endpoint: endpoint, consumer: consumer)
        // A body that already arrived while the filters ran is waiting in pendingUpstream.
        let pending = pendingUpstream
        pendingUpstream.removeAll()
        for part in pending {
            switch part {
            case .body(.byteBuffer(let buffer)): aiCall?.requestBody(buffer, end: false)
            case .end: aiCall?.requestBody(ByteBuffer(), end: true)
            default: break
            }
        }
        continueIfExpected()
        downstream.maybeResumeReads()
    }

    func aiSendHead(_ head: HTTPResponseHead, endOfStream: Bool) {
        guard !done else { return }
        responseHeadReceived = true
        if let run {
            run.startResponse(head, endOfStream: endOfStream)
        } else {
            responseHeadReady(head)
        }
    }

    func aiSendBody(_ body: ByteBuffer, end: Bool) {
        guard !done else { return }
        if let run {
            run.responseBody(body, end: end)
        } else {
            forwardResponseBody(body, end: end)
        }
        if !inUpstreamRead && !downstream.inRead { flushDownstream() }
    }

    func aiRecord(_ values: [(String, String)]) {
        guard let run else { return }
        for (key, value) in values { run.setMetadata(key, value) }
    }
}
