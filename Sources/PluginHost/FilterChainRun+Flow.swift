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
    var bodyModified = false
    /// While flushing held data before the head leaves, output is collected
    /// (`DirectionBodies.collected`).
    var collecting = false
    var collectedEnd = false
    var heldEnd = false
    /// Position paused in its header hook (or in its whole-body hook).
    var headersPause: Int?
    /// Position that asked (GW_BUFFER from the header hook) for the whole body.
    var wholeBodyAt: Int?
    /// Where held data (`DirectionBodies.held`) enters the body pipeline.
    var heldFrom = 0
    var pausedFilter: Int?
    /// Held, buffered, queued and framed bodies and the pause timer: made on first use
    /// (`bodies`), so a stream whose filters only look at heads has none to create
    /// and destroy.
    var extra: DirectionBodies?

    /// `extra`, made if there is none yet.
    var bodies: DirectionBodies {
        mutating get {
            if let extra { return extra }
            let made = DirectionBodies()
            extra = made
            return made
        }
    }
}

/// What a direction keeps of bodies and pauses (see `DirectionState.extra`).
final class DirectionBodies {
    var whole: ByteBuffer?
    /// Data waiting for header hooks to pass, entering the body pipeline at `heldFrom`.
    var held: ByteBuffer?
    /// Chunks each position kept with GW_BUFFER from its body hook (empty until the first).
    var stageBuffers: [ByteBuffer?] = []
    /// A body hook paused: resume at `position` with `chunk`.
    var bodyPause: (position: Int, chunk: ByteBuffer, end: Bool)?
    /// Chunks that arrived while a body hook was paused, in order.
    var queued: [(ByteBuffer, Bool)] = []
    var pauseTimer: Scheduled<Void>?
    var sseFramers: [Int: SSEFramer] = [:]
    var collected: ByteBuffer?
}

@available(*, unavailable)
extension DirectionBodies: Sendable {}

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
                directions[d].bodies.whole = ByteBuffer()
                flushHeld(direction)
                if direction == .request && !terminated { delegate?.filterRunCollectsRequestBody(self) }
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
        let collected = directions[d].extra?.collected
        let collectedEnd = directions[d].collectedEnd
        directions[d].extra?.collected = nil
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
        guard let held = directions[d].extra?.held else { return }
        let end = directions[d].heldEnd
        let from = directions[d].heldFrom
        directions[d].extra?.held = nil
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
        if let bodies = directions[d].extra, bodies.bodyPause != nil || !bodies.queued.isEmpty {
            bodies.queued.append((chunk, end))
            let queuedBytes = bodies.queued.reduce(0) { $0 + $1.0.readableBytes }
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
            if let bodies = directions[d].extra, position < bodies.stageBuffers.count, var kept = bodies.stageBuffers[position] {
                kept.writeBuffer(&body)
                body = kept
                bodies.stageBuffers[position] = nil
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
                let bodies = directions[d].bodies
                if bodies.stageBuffers.isEmpty {
                    bodies.stageBuffers = Array(repeating: nil, count: chain.filters.count)
                }
                bodies.stageBuffers[position] = result
                if result.readableBytes > bufferLimit { overLimit(direction) }
                return
            case .pause:
                directions[d].bodies.bodyPause = (position + 1, result, end)
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
            let bodies = directions[d].bodies
            bodies.whole?.writeBuffer(&chunk)
            if (bodies.whole?.readableBytes ?? 0) > bufferLimit {
                overLimit(direction)
                return
            }
            if end { runWholeBody(direction) }
            return
        }
        let bodies = directions[d].bodies
        if bodies.held == nil {
            bodies.held = chunk
            directions[d].heldFrom = position
        } else {
            var chunk = chunk
            bodies.held?.writeBuffer(&chunk)
        }
        directions[d].heldEnd = end
        if (bodies.held?.readableBytes ?? 0) > bufferLimit { overLimit(direction) }
    }

    /// The filter that asked for the whole body gets it in one body-hook call.
    private func runWholeBody(_ direction: FlowDirection) {
        let d = direction.rawValue
        guard let position = directions[d].wholeBodyAt else { return }
        let body = directions[d].extra?.whole ?? ByteBuffer()
        directions[d].wholeBodyAt = nil
        directions[d].extra?.whole = nil
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
        directions[d].bodies.held = result
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
        let bodies = directions[d].bodies
        var framer = bodies.sseFramers[position] ?? SSEFramer()
        var events = framer.feed(chunk)
        var output = ByteBuffer()
        if end {
            var rest = framer.drain()
            if rest.readableBytes > 0 {
                events.append(SSEFramer.parse(rest.readSlice(length: rest.readableBytes) ?? ByteBuffer()))
            }
        }
        bodies.sseFramers[position] = framer
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
            let bodies = directions[d].bodies
            if bodies.collected == nil {
                bodies.collected = chunk
            } else {
                bodies.collected?.writeBuffer(&chunk)
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
        for d in 0..<2 { directions[d].extra?.pauseTimer?.cancel() }
        let status: HTTPResponseStatus = direction == .request ? .payloadTooLarge : .badGateway
        delegate?.filterRun(self, reset: "body held by a filter exceeds the buffer limit of \(bufferLimit) bytes", status: status)
    }

    // MARK: - Pause and resume

    private func pause(_ direction: FlowDirection, filter index: Int) {
        let d = direction.rawValue
        directions[d].pausedFilter = index
        let timeout = chain.filters[index].pauseTimeout
        let bound = NIOLoopBound(self, eventLoop: loop)
        directions[d].bodies.pauseTimer = loop.scheduleTask(in: timeout) {
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
            directions[d].extra?.pauseTimer?.cancel()
            directions[d].extra?.pauseTimer = nil
            guard !terminated else { return true }
            if let position = directions[d].headersPause {
                directions[d].headersPause = nil
                directions[d].headersPos = position + 1
                runHeaders(direction)
            } else if let bodies = directions[d].extra, let paused = bodies.bodyPause {
                bodies.bodyPause = nil
                pushBody(direction, paused.chunk, end: paused.end, from: paused.position)
                while !terminated && bodies.bodyPause == nil && !bodies.queued.isEmpty {
                    let (chunk, end) = bodies.queued.removeFirst()
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
