import CGatewayPlugin
import NIOCore
import NIOHTTP1

/// Where one direction (request or response) of a run stands.
///
/// Positions count filters in the direction's order. Body data flows through the
/// positions whose header hook has passed (`headersPos`); data that reaches the
/// first position still waiting on its header hook is held there.
struct DirectionState {
    var headersPos = 0
    var headersComplete = false
    var headersEndOfStream = false
    var isEventStream = false
    /// Position paused in its header hook (or in its whole-body hook).
    var headersPause: Int?
    /// Position that asked (GW_BUFFER from the header hook) for the whole body.
    var wholeBodyAt: Int?
    var whole: ByteBuffer?
    /// Data waiting for header hooks to pass, entering the body pipeline at `heldFrom`.
    var held: ByteBuffer?
    var heldFrom = 0
    var heldEnd = false
    /// Chunks each position kept with GW_BUFFER from its body hook (empty until the first).
    var stageBuffers: [ByteBuffer?] = []
    /// A body hook paused: resume at `position` with `chunk`.
    var bodyPause: (position: Int, chunk: ByteBuffer, end: Bool)?
    /// Chunks that arrived while a body hook was paused, in order.
    var queued: [(ByteBuffer, Bool)] = []
    var pausedFilter: Int?
    var pauseTimer: Scheduled<Void>?
    var sseFramers: [Int: SSEFramer] = [:]
    var bodyModified = false
    /// While flushing held data before the head leaves, output is collected here.
    var collecting = false
    var collected: ByteBuffer?
    var collectedEnd = false
}

extension FilterChainRun {
    // MARK: - Headers

    func runHeaders(_ direction: FlowDirection) {
        let d = direction.rawValue
        let count = chain.filters.count
        while !terminated && directions[d].headersPos < count {
            let position = directions[d].headersPos
            let index = filterIndex(direction, position)
            let table = chain.filters[index].table
            let hook = direction == .request ? table.on_request_headers : table.on_response_headers
            guard !isSkipped(index), let instance = instances[index], let hook else {
                directions[d].headersPos += 1
                continue
            }
            let endOfStream = directions[d].headersEndOfStream
            let raw = withHook(index) { hook(instance, opaque, endOfStream).rawValue }
            if deliverPendingReply() { return }
            guard let outcome = interpret(raw, filter: index) else {
                if terminated { return }
                directions[d].headersPos += 1
                continue
            }
            switch outcome {
            case .proceed:
                directions[d].headersPos += 1
            case .stop:
                return
            case .pause:
                directions[d].headersPause = position
                pause(direction, filter: index)
                flushHeld(direction)
                return
            case .buffer:
                if endOfStream || !usesBody(index, direction) {
                    directions[d].headersPos += 1
                    continue
                }
                directions[d].wholeBodyAt = position
                directions[d].whole = ByteBuffer()
                flushHeld(direction)
                return
            }
        }
        guard !terminated else { return }
        completeHeaders(direction)
    }

    /// All header hooks of `direction` passed: push held data through, fix the
    /// length of a body that was buffered whole and changed, release the head.
    private func completeHeaders(_ direction: FlowDirection) {
        let d = direction.rawValue
        directions[d].headersComplete = true
        directions[d].collecting = true
        flushHeld(direction)
        directions[d].collecting = false
        guard !terminated else { return }
        let collected = directions[d].collected
        let collectedEnd = directions[d].collectedEnd
        directions[d].collected = nil
        if collectedEnd && directions[d].bodyModified {
            let length = String(collected?.readableBytes ?? 0)
            if direction == .request {
                materializeRequestHead()
                storedRequestHead.headers.remove(name: "transfer-encoding")
                storedRequestHead.headers.replaceOrAdd(name: "content-length", value: length)
            } else {
                materializeResponseHead()
                responseHead?.headers.remove(name: "transfer-encoding")
                responseHead?.headers.replaceOrAdd(name: "content-length", value: length)
            }
        }
        if direction == .request {
            delegate?.filterRunRequestHeadersDone(self)
        } else {
            delegate?.filterRunResponseHeadersDone(self)
        }
        if !terminated && (collected != nil || collectedEnd) {
            forward(direction, collected ?? ByteBuffer(), end: collectedEnd)
        }
    }

    private func flushHeld(_ direction: FlowDirection) {
        let d = direction.rawValue
        guard let held = directions[d].held else { return }
        let end = directions[d].heldEnd
        let from = directions[d].heldFrom
        directions[d].held = nil
        directions[d].heldEnd = false
        pushBody(direction, held, end: end, from: from)
    }

    func usesBody(_ index: Int, _ direction: FlowDirection) -> Bool {
        let filter = chain.filters[index]
        if direction == .request { return filter.usesRequestBody }
        return filter.usesResponseBody || (filter.usesSSE && directions[1].isEventStream)
    }

    // MARK: - Body

    func receiveBody(_ direction: FlowDirection, _ chunk: ByteBuffer, end: Bool) {
        guard !terminated else { return }
        let d = direction.rawValue
        // No filter reads this direction's body and every header hook passed: nothing
        // can hold or change it, so it goes straight on (what `pushBody` would do).
        if directions[d].headersComplete && !(direction == .request ? chain.anyRequestBody : chain.anyResponseBody) {
            forward(direction, chunk, end: end)
            return
        }
        if directions[d].bodyPause != nil || !directions[d].queued.isEmpty {
            directions[d].queued.append((chunk, end))
            let queuedBytes = directions[d].queued.reduce(0) { $0 + $1.0.readableBytes }
            if queuedBytes > bufferLimit { overLimit(direction) }
            return
        }
        pushBody(direction, chunk, end: end, from: 0)
    }

    func pushBody(_ direction: FlowDirection, _ chunk: ByteBuffer, end: Bool, from start: Int) {
        let d = direction.rawValue
        let count = chain.filters.count
        var position = start
        var chunk = chunk
        while !terminated {
            if position >= directions[d].headersPos && !directions[d].headersComplete {
                hold(direction, chunk, end: end, at: position)
                return
            }
            if position >= count {
                forward(direction, chunk, end: end)
                return
            }
            let index = filterIndex(direction, position)
            guard !isSkipped(index), let instance = instances[index], usesBody(index, direction) else {
                position += 1
                continue
            }
            if direction == .response && directions[d].isEventStream && chain.filters[index].usesSSE {
                chunk = runSSE(index, position: position, chunk, end: end)
                position += 1
                continue
            }
            if chunk.readableBytes == 0 && end && directions[d].headersEndOfStream {
                position += 1
                continue
            }
            var body = chunk
            if position < directions[d].stageBuffers.count, var kept = directions[d].stageBuffers[position] {
                kept.writeBuffer(&body)
                body = kept
                directions[d].stageBuffers[position] = nil
            }
            let (raw, result) = callBodyHook(index, direction, instance: instance, body: body, end: end)
            if deliverPendingReply() { return }
            guard let outcome = interpret(raw, filter: index) else {
                if terminated { return }
                chunk = result
                position += 1
                continue
            }
            switch outcome {
            case .proceed:
                chunk = result
                position += 1
            case .buffer where end:
                chunk = result
                position += 1
            case .buffer:
                if directions[d].stageBuffers.isEmpty {
                    directions[d].stageBuffers = Array(repeating: nil, count: chain.filters.count)
                }
                directions[d].stageBuffers[position] = result
                if result.readableBytes > bufferLimit { overLimit(direction) }
                return
            case .pause:
                directions[d].bodyPause = (position + 1, result, end)
                pause(direction, filter: index)
                return
            case .stop:
                return
            }
        }
    }

    /// Data reached a position whose header hook has not passed yet.
    private func hold(_ direction: FlowDirection, _ chunk: ByteBuffer, end: Bool, at position: Int) {
        let d = direction.rawValue
        if position == directions[d].wholeBodyAt {
            var chunk = chunk
            directions[d].whole?.writeBuffer(&chunk)
            if (directions[d].whole?.readableBytes ?? 0) > bufferLimit {
                overLimit(direction)
                return
            }
            if end { runWholeBody(direction) }
            return
        }
        if directions[d].held == nil {
            directions[d].held = chunk
            directions[d].heldFrom = position
        } else {
            var chunk = chunk
            directions[d].held?.writeBuffer(&chunk)
        }
        directions[d].heldEnd = end
        if (directions[d].held?.readableBytes ?? 0) > bufferLimit { overLimit(direction) }
    }

    /// The filter that asked for the whole body gets it in one body-hook call.
    private func runWholeBody(_ direction: FlowDirection) {
        let d = direction.rawValue
        guard let position = directions[d].wholeBodyAt else { return }
        let body = directions[d].whole ?? ByteBuffer()
        directions[d].wholeBodyAt = nil
        directions[d].whole = nil
        let index = filterIndex(direction, position)
        var result = body
        var outcome: Outcome? = .proceed
        if let instance = instances[index], !isSkipped(index) {
            let call = callBodyHook(index, direction, instance: instance, body: body, end: true)
            result = call.1
            if deliverPendingReply() { return }
            outcome = interpret(call.0, filter: index)
            if outcome == nil && terminated { return }
        }
        directions[d].held = result
        directions[d].heldFrom = position + 1
        directions[d].heldEnd = true
        if outcome == .pause {
            directions[d].headersPause = position
            pause(direction, filter: index)
            return
        }
        directions[d].headersPos = position + 1
        runHeaders(direction)
    }

    private func callBodyHook(
        _ index: Int, _ direction: FlowDirection, instance: UnsafeMutableRawPointer, body: ByteBuffer, end: Bool
    ) -> (UInt32, ByteBuffer) {
        let d = direction.rawValue
        let table = chain.filters[index].table
        guard let hook = direction == .request ? table.on_request_body : table.on_response_body else {
            return (GW_CONTINUE.rawValue, body)
        }
        currentBody[d] = body
        let raw = withHook(index) {
            body.withUnsafeReadableBytes { bytes in
                hook(instance, opaque, gw_bytes(ptr: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), len: bytes.count), end)
                    .rawValue
            }
        }
        let result = currentBody[d] ?? ByteBuffer()
        currentBody[d] = nil
        return (raw, result)
    }

    /// Frame SSE events for a filter with `on_response_sse_event`; returns the bytes to pass on.
    private func runSSE(_ index: Int, position: Int, _ chunk: ByteBuffer, end: Bool) -> ByteBuffer {
        let d = FlowDirection.response.rawValue
        var framer = directions[d].sseFramers[position] ?? SSEFramer()
        var events = framer.feed(chunk)
        var output = ByteBuffer()
        if end {
            var rest = framer.drain()
            if rest.readableBytes > 0 {
                events.append(SSEFramer.parse(rest.readSlice(length: rest.readableBytes) ?? ByteBuffer()))
            }
        }
        directions[d].sseFramers[position] = framer
        guard let hook = chain.filters[index].table.on_response_sse_event, let instance = instances[index] else {
            for var event in events { output.writeBuffer(&event.raw) }
            return output
        }
        var calls = events.map { ($0, false) }
        if end { calls.append((SSEFramer.Event(raw: ByteBuffer(), event: "", id: "", data: []), true)) }
        for (event, isLast) in calls {
            if terminated || isSkipped(index) {
                var raw = event.raw
                output.writeBuffer(&raw)
                continue
            }
            currentBody[d] = event.raw
            let raw: UInt32 = withHook(index) {
                let eventName = arena.store(event.event)
                let id = arena.store(event.id)
                let data = arena.store(bytes: event.data)
                let rawBytes = event.raw.withUnsafeReadableBytes { arena.store($0) }
                var ev = gw_sse_event(
                    struct_size: UInt32(MemoryLayout<gw_sse_event>.size), reserved0: 0, event: eventName, id: id,
                    data: data,
                    raw: gw_bytes(ptr: rawBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), len: rawBytes.count))
                return hook(instance, opaque, &ev, isLast).rawValue
            }
            var result = currentBody[d] ?? ByteBuffer()
            currentBody[d] = nil
            if deliverPendingReply() { return output }
            if raw != GW_CONTINUE.rawValue {
                if !handleFailure(index, reason: "on_response_sse_event returned status \(raw)") { return output }
                result = event.raw
            }
            output.writeBuffer(&result)
        }
        return output
    }

    func forward(_ direction: FlowDirection, _ chunk: ByteBuffer, end: Bool) {
        let d = direction.rawValue
        if directions[d].collecting {
            var chunk = chunk
            if directions[d].collected == nil {
                directions[d].collected = chunk
            } else {
                directions[d].collected?.writeBuffer(&chunk)
            }
            directions[d].collectedEnd = end
            return
        }
        if direction == .request {
            delegate?.filterRun(self, forwardRequestBody: chunk, end: end)
        } else {
            delegate?.filterRun(self, forwardResponseBody: chunk, end: end)
        }
    }

    private func overLimit(_ direction: FlowDirection) {
        guard !terminated else { return }
        terminated = true
        for d in 0..<2 { directions[d].pauseTimer?.cancel() }
        let status: HTTPResponseStatus = direction == .request ? .payloadTooLarge : .badGateway
        delegate?.filterRun(self, reset: "body held by a filter exceeds the buffer limit of \(bufferLimit) bytes", status: status)
    }

    // MARK: - Pause and resume

    private func pause(_ direction: FlowDirection, filter index: Int) {
        let d = direction.rawValue
        directions[d].pausedFilter = index
        let timeout = chain.filters[index].pauseTimeout
        let bound = NIOLoopBound(self, eventLoop: loop)
        directions[d].pauseTimer = loop.scheduleTask(in: timeout) {
            let run = bound.value
            guard run.directions[d].pausedFilter == index, !run.terminated else { return }
            if run.handleFailure(index, reason: "paused for longer than \(timeout.nanoseconds / 1_000_000) ms") {
                _ = run.resume(filter: index)
            }
        }
    }

    /// Resume whatever filter `index` paused. False if it paused nothing.
    @discardableResult
    func resume(filter index: Int) -> Bool {
        for direction in [FlowDirection.request, .response] {
            let d = direction.rawValue
            guard directions[d].pausedFilter == index else { continue }
            directions[d].pausedFilter = nil
            directions[d].pauseTimer?.cancel()
            directions[d].pauseTimer = nil
            guard !terminated else { return true }
            if let position = directions[d].headersPause {
                directions[d].headersPause = nil
                directions[d].headersPos = position + 1
                runHeaders(direction)
            } else if let paused = directions[d].bodyPause {
                directions[d].bodyPause = nil
                pushBody(direction, paused.chunk, end: paused.end, from: paused.position)
                while !terminated && directions[d].bodyPause == nil && !directions[d].queued.isEmpty {
                    let (chunk, end) = directions[d].queued.removeFirst()
                    pushBody(direction, chunk, end: end, from: 0)
                }
            }
            return true
        }
        return false
    }

    /// Is filter `index` the one holding a paused stream?
    func isPaused(by index: Int) -> Bool {
        directions[0].pausedFilter == index || directions[1].pausedFilter == index
    }

    // MARK: - Async delivery (on the loop)

    func deliverAsyncEvent(filter index: Int, eventID: UInt64, data: UnsafeMutableRawPointer?) {
        guard !finished, let instance = instances[index], let hook = chain.filters[index].table.on_async_event else { return }
        continueRequested = false
        withHook(index) { hook(instance, opaque, eventID, data) }
        afterAsyncHook(index)
    }

    func afterAsyncHook(_ index: Int) {
        if deliverPendingReply() { return }
        if continueRequested {
            continueRequested = false
            resume(filter: index)
        }
    }
}
