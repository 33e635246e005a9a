import NIOCore
import NIOHTTP1

/// gw's own answers to upstream failures (no healthy upstream, timeouts, resets,
/// circuit open) go through the route's response filters like an upstream answer,
/// so a filter can replace them: the cache serves a stale entry (stale-if-error),
/// transform maps the status, the call log sees them.
extension Exchange {
    func failUpstream(status: HTTPResponseStatus, type: String, message: String, extraHeaders: [(String, String)] = []) {
        guard !done else { return }
        guard let run, headersReady, !responseStarted else {
            fail(status: status, type: type, message: message, close: false, extraHeaders: extraHeaders)
            return
        }
        // The upstream side is over; the filters stay for the answer.
        cancelTimers()
        endTry(closeConnection: false)
        releaseSlots()
        connection?.close()
        connection = nil
        let body = JSON.error(type: type, message: message)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-gw-error", value: type)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !requestComplete && expectsBody { closeAfterResponse = true }
        run.startResponse(HTTPResponseHead(version: .http1_1, status: status, headers: headers), endOfStream: isHEAD)
        run.responseBody(isHEAD ? ByteBuffer() : ByteBuffer(string: body), end: true)
        if !downstream.inRead { flushDownstream() }
    }
}
